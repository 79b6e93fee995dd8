"""Peak memory of a run through the normal device path, relative to the state it simulates.

Each cell (workload, n, precision, result) runs in its own fresh interpreter, which warms up on the
same workload at n=14 (imports, Numba's cache, fusion), reads its peak resident size (``VmHWM`` of
``/proc/self/status``: the interpreter, NumPy, Numba and the kernels: the *baseline*), then runs the
workload at n once and reads ``VmHWM`` again.  ``(peak - baseline) / state bytes`` is what the run
itself cost: 1.0 is the state alone.  ``VmHWM``, not ``getrusage``'s ``ru_maxrss``: the latter
carries a forking parent's peak across exec.

Results (``--result``):

* ``statevector``: the circuit's ``state_vector`` result type, handed back as ``Result.values[0]``;
* ``json``: the same, then ``Result.write_json`` to /dev/null (the CLI's output path);
* ``shots``: 1000 shots sampled from the state instead (no result type);
* ``probability``: the full probability vector (an array of 2^n float64: 0.5 state in complex128,
  1.0 in complex64, which is the result itself, not a temporary).

    python benchmarks/memory.py                                   # n = 24 26, both precisions
    python benchmarks/memory.py --n 24 --kind qft --result statevector json
    python benchmarks/memory.py --smoke
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

try:
    from benchmarks import _common as C
except ImportError:  # run as a script
    import _common as C

CELL = r"""
import json, sys
kind, n, precision, result = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
sys.path.insert(0, sys.argv[5])

import qsim
from benchmarks import workloads as W
from benchmarks._common import peak_rss_bytes as hwm

def build(m):
    c = {"qft": W.qft, "brick": W.brick}[kind](m)
    c.result_types.clear()
    if result in ("statevector", "json"):
        c.state_vector()
    elif result == "probability":
        c.probability()
    return c

dev = qsim.device(precision=precision)
shots = 1000 if result == "shots" else 0
warm = dev.run(build(14), shots=shots, seed=1).result()
if result == "json":
    with open("/dev/null", "w") as f:
        warm.write_json(f)
del warm
base = hwm()
c = build(n)
res = dev.run(c, shots=shots, seed=1).result()
if result == "json":
    with open("/dev/null", "w") as f:
        res.write_json(f)
peak = hwm()
print(json.dumps({"baseline": base, "peak": peak}))
"""

ITEMSIZE = {"double": 16, "single": 8}


def cell(kind, n, precision, result) -> dict:
    out = subprocess.run([sys.executable, "-c", CELL, kind, str(n), precision, result, str(C.REPO)], check=True,
                         capture_output=True, text=True, cwd=C.REPO)
    row = json.loads(out.stdout.strip().splitlines()[-1])
    state = ITEMSIZE[precision] << n
    row.update(kind=kind, n=n, precision=precision, result=result, state_bytes=state,
               over_state=(row["peak"] - row["baseline"]) / state)
    return row


def main(argv=None) -> dict:
    p = C.add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    p.add_argument("--n", type=int, nargs="*", default=[24, 26])
    p.add_argument("--kind", nargs="*", default=["brick", "qft"], choices=["brick", "qft"])
    p.add_argument("--precision", nargs="*", default=["double", "single"], choices=["double", "single"])
    p.add_argument("--result", nargs="*", default=["statevector", "shots"],
                   choices=["statevector", "json", "shots", "probability"])
    args = p.parse_args(argv)
    ns = [16] if args.smoke else args.n
    kinds = args.kind[:1] if args.smoke else args.kind
    ctx = C.context()
    rows = []
    print(f"{'workload':8s} {'n':>3s} {'precision':9s} {'result':12s} {'baseline MiB':>12s} {'peak MiB':>9s} "
          f"{'(peak-base)/state':>17s}")
    for n in ns:
        for kind in kinds:
            for precision in args.precision:
                for result in args.result:
                    r = cell(kind, n, precision, result)
                    rows.append(r)
                    print(f"{kind:8s} {n:3d} {precision:9s} {result:12s} {r['baseline'] / 2**20:12.0f} "
                          f"{r['peak'] / 2**20:9.0f} {r['over_state']:17.3f}", flush=True)
    payload = {"benchmark": "memory", "context": ctx, "rows": rows}
    path = C.write("memory" + ("_smoke" if args.smoke else ""), payload, args.out)
    print(f"-> {path}")
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
