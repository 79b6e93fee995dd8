"""Strong scaling of qsim's distributed state on one machine: the same circuits at n qubits over
N = 1, 2, 4 ranks.

    python benchmarks/scaling/strong_scaling.py [--qubits 24 28] [--ranks 1 2 4] [--out DIR]

N = 1 is the plain single-process device with every core as a Numba thread; N > 1 runs under
``mpirun -n N`` with the default threads per rank (cores / ranks on the host, at least 1), so on a
2-core machine N = 2 is 2 x 1 thread and N = 4 is oversubscribed.  Writes ``results.json`` and
``strong_scaling.png`` into ``--out`` (default: this directory).  Runs whose state would exceed
``--max-gib`` (default 15) in total are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def run(circuit, n, ranks, layers):
    cmd = [sys.executable, os.path.join(HERE, "run_one.py"), circuit, str(n), "--layers", str(layers)]
    if ranks > 1:
        cmd = [shutil.which("mpirun"), "-n", str(ranks)] + cmd
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    circuits = sorted({r["circuit"] for r in results})
    fig, axes = plt.subplots(2, len(circuits), figsize=(5.5 * len(circuits), 8), squeeze=False)
    for col, name in enumerate(circuits):
        rows = [r for r in results if r["circuit"] == name]
        for ranks in sorted({r["ranks"] for r in rows}):
            pts = sorted((r["qubits"], r) for r in rows if r["ranks"] == ranks)
            xs = [q for q, _ in pts]
            label = f"{ranks} rank{'s' if ranks > 1 else ''} x {pts[0][1]['threadsPerRank']} thr"
            axes[0][col].semilogy(xs, [r["seconds"] for _, r in pts], "o-", label=label)
            if ranks > 1:
                axes[1][col].semilogy(xs, [r["bytesSentPerRank"] / 2**20 for _, r in pts], "o-",
                                      label=f"qsim, {ranks} ranks")
                axes[1][col].semilogy(xs, [r["pairwiseBytesPerRank"] / 2**20 for _, r in pts], "x--",
                                      label=f"pairwise (QuEST-style), {ranks} ranks")
        axes[0][col].set_title(f"{name}: wall time")
        axes[0][col].set_xlabel("qubits")
        axes[0][col].set_ylabel("seconds")
        axes[0][col].legend()
        axes[1][col].set_title(f"{name}: MiB sent per rank")
        axes[1][col].set_xlabel("qubits")
        axes[1][col].set_ylabel("MiB")
        axes[1][col].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--qubits", type=int, nargs=2, default=[24, 28], metavar=("MIN", "MAX"))
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--circuits", nargs="+", default=["qft", "brick"])
    p.add_argument("--layers", type=int, default=2, help="layers of the brick circuit")
    p.add_argument("--max-gib", type=float, default=15.0)
    p.add_argument("--out", default=HERE)
    args = p.parse_args()
    results = []
    path = os.path.join(args.out, "results.json")
    for n in range(args.qubits[0], args.qubits[1] + 1):
        for circuit in args.circuits:
            for ranks in args.ranks:
                if (1 << n) * 16 * 1.3 / 2**30 > args.max_gib:
                    print(f"skip {circuit} n={n} N={ranks}: over {args.max_gib} GiB", flush=True)
                    continue
                r = run(circuit, n, ranks, args.layers)
                results.append(r)
                print(json.dumps(r), flush=True)
                with open(path, "w") as f:
                    json.dump(results, f, indent=1)
    plot(results, os.path.join(args.out, "strong_scaling.png"))


if __name__ == "__main__":
    main()
