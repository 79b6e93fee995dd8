"""The variational loop: HEA (4 layers of ry, rz on every qubit + a CNOT chain), <sum_i Z_i>.

Each evaluation is ``qsim.device().run(circuit_with_FreeParameters, inputs={...}).result()`` with new
random angles, so it pays the whole per-call cost: binding 8n parameters, lowering and fusion,
building matrices, kernel dispatch, the simulation and the expectation values.  Evaluations per second
= calls / total time of a loop of at least ``--seconds``; also 1 / best call.  ``--profile`` prints
where the per-call time goes (cProfile, top functions by own time).

    python benchmarks/variational.py                  # n = 12 16 20, c128
    python benchmarks/variational.py --n 12 --profile
    python benchmarks/variational.py --smoke
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

try:
    from benchmarks import _common as C
    from benchmarks import workloads as W
except ImportError:  # run as a script
    import _common as C
    import workloads as W

# Peers on this machine, evaluations per second (mean over >= 3 s; 2 threads).
PEERS = {12: {"qulacs c128": 798, "lightning c128": 163, "qsimcirq c64": 145, "aer c128": 77.6, "braket": 11.2},
         16: {"qsimcirq c64": 80, "lightning c64": 80.1, "lightning c128": 71.5, "qulacs c128": 44.5,
              "aer c128": 26.8, "braket": 5.43},
         20: {"qsimcirq c64": 22.6, "lightning c64": 13.9, "lightning c128": 4.86, "qulacs c128": 2.56,
              "aer c128": 1.98, "braket": 1.31}}


def evaluate(dev, circuit, names, rng) -> float:
    inputs = dict(zip(names, rng.uniform(-np.pi, np.pi, len(names))))
    values = dev.run(circuit, inputs=inputs).result().values
    return float(np.sum(values[0]))


def loop(dev, circuit, names, seconds: float, min_calls: int):
    rng = np.random.default_rng(11)
    calls = []
    t_start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        evaluate(dev, circuit, names, rng)
        calls.append(time.perf_counter() - t0)
        total = time.perf_counter() - t_start
        if total >= seconds and len(calls) >= min_calls:
            return calls, total


def profile(dev, circuit, names, calls: int = 20, top: int = 18):
    import cProfile
    import io
    import pstats

    rng = np.random.default_rng(5)
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(calls):
        evaluate(dev, circuit, names, rng)
    pr.disable()
    out = io.StringIO()
    pstats.Stats(pr, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv=None) -> dict:
    import qsim

    p = C.add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    p.add_argument("--n", type=int, nargs="*", default=[12, 16, 20])
    p.add_argument("--seconds", type=float, default=3.0, help="minimum loop time per n")
    p.add_argument("--precision", default="double", choices=["double", "single"])
    p.add_argument("--profile", action="store_true")
    args = p.parse_args(argv)
    C.set_threads(args.threads)
    ns = [6] if args.smoke else args.n
    seconds = 0.0 if args.smoke else args.seconds
    dev = qsim.device(precision=args.precision)
    ctx = C.context()
    rows = []
    for n in ns:
        circuit, names = W.hea(n)
        first_t0 = time.perf_counter()
        value = evaluate(dev, circuit, names, np.random.default_rng(0))
        first = time.perf_counter() - first_t0
        calls, total = loop(dev, circuit, names, seconds, 1 if args.smoke else 5)
        row = {"n": n, "gates": W.gate_count(circuit), "parameters": len(names), "first_call_s": first,
               "calls": len(calls), "evals_per_s": len(calls) / total, "best_call_ms": 1e3 * min(calls),
               "median_call_ms": 1e3 * float(np.median(calls)), "one_over_best": 1.0 / min(calls),
               "check_value": value, "peers_evals_per_s": PEERS.get(n)}
        rows.append(row)
        peers = ", ".join(f"{k} {v}" for k, v in (PEERS.get(n) or {}).items())
        print(f"n={n:2d}: {row['evals_per_s']:8.1f} evals/s (1/best {row['one_over_best']:.1f}; median call "
              f"{row['median_call_ms']:.2f} ms; {row['calls']} calls)   peers: {peers}", flush=True)
        if args.profile:
            text = profile(dev, circuit, names)
            row["profile"] = text
            print(text)
    payload = {"benchmark": "variational", "context": ctx, "precision": args.precision, "rows": rows}
    path = C.write("variational" + ("_smoke" if args.smoke else ""), payload, args.out)
    print(f"-> {path}")
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
