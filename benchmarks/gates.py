"""Per-gate time of qsim's kernels against one pass over the state and against Braket's kernel.

For each n (default 24 and 26) and precision (``--dtype``, default both) it measures, in the same process and interleaved so that
noise from other tenants hits every variant alike:

* ``rmw``: in-place ``z *= w`` over the state: this run's own one-pass reference;
* a dense one-qubit gate (``ry``-like, through ``qsim.state.apply.apply_unitary``) on every bit
  position in ``--bits`` (default: low 0,1,2,3, middle, high n-2, n-1);
* Braket's ``linalg_utils.multiply_matrix`` on the same gate, target and state size (its Numba
  kernel with a ping-pong output buffer, which is how ``StateVectorSimulation.evolve`` uses it);
* controlled and other gate kinds: cnot, cry (dense controlled), a dense two-qubit gate, cz (phase),
  a diagonal rz, x, swap; the <Z> expectation and 1000-shot sampling reductions.

Every figure is the best of ``--reps`` calls; ``ratio`` = best time / one pass at this run's rmw speed
(``ratio_peer_B`` uses the peers' 54.8 GB/s).  Qubit q of Braket is bit position n-1-q here.

    python benchmarks/gates.py                  # n = 24, 26
    python benchmarks/gates.py --n 24 --reps 15
    python benchmarks/gates.py --n 26 --bits all --dtype complex64 --no-braket
    python benchmarks/gates.py --smoke
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

try:
    from benchmarks import _common as C
except ImportError:  # run as a script
    import _common as C


def _ry(theta):
    c, s = np.cos(theta / 2), np.sin(theta / 2)
    return np.array([[c, -s], [s, c]], dtype=np.complex128)


def cases(n: int, bits):
    """(name, callable(state)) for every qsim variant measured at size n."""
    from qsim.state.apply import apply_unitary

    ry = _ry(0.3)
    rz = np.diag([np.exp(-0.15j), np.exp(0.15j)])
    x = np.array([[0, 1], [1, 0]], dtype=np.complex128)
    rng = np.random.default_rng(7)
    u2, _ = np.linalg.qr(rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4)))
    swap = np.eye(4)[[0, 2, 1, 3]].astype(np.complex128)
    cz = np.diag([1, 1, 1, -1]).astype(np.complex128)
    mid = n // 2
    out = []
    for b in bits:
        out.append((f"dense1 bit {bit_label(b, n)}", lambda s, b=b: apply_unitary(s, [b], ry)))
    out += [
        ("cnot ctrl n-1, target mid", lambda s: apply_unitary(s, [mid], x, [n - 1], [1])),
        ("cry ctrl 0, target mid", lambda s: apply_unitary(s, [mid], ry, [0], [1])),
        ("dense2 bits mid,1", lambda s: apply_unitary(s, [mid, 1], u2)),
        ("dense2 bits n-1,0", lambda s: apply_unitary(s, [n - 1, 0], u2)),
        ("cz bits mid,2", lambda s: apply_unitary(s, [mid, 2], cz)),
        ("rz bit mid", lambda s: apply_unitary(s, [mid], rz)),
        ("x bit mid", lambda s: apply_unitary(s, [mid], x)),
        ("swap bits n-1,3", lambda s: apply_unitary(s, [n - 1, 3], swap)),
    ]
    return out


def bit_label(b: int, n: int) -> str:
    """A bit position by role, so that rows line up across n: 0..3, mid, n-2, n-1."""
    return {n // 2: "mid", n - 2: "n-2", n - 1: "n-1"}.get(b, str(b))


def reduction_cases(n: int):
    from qsim.kernels import measure as KM
    from qsim.state.statevector import StateVector

    sv = StateVector(n)
    rng = np.random.default_rng(3)

    def expect(s):
        sv.array = s
        KM.expectation_sum(s, np.int64(0), np.int64(1 << (n // 2)), 1.0 + 0j, np.ones((1, 1), np.complex128),
                           np.zeros(1, np.int64), np.zeros(0, np.int64))

    def sample(s):
        sv.array = s
        sv.sample(1000, rng)

    def norm(s):
        KM.norm_squared(s)

    # reductions read the state once and write nothing: half the traffic of a pass
    return [("<Z> bit mid", expect, 0.5), ("sample 1000 shots", sample, 1.0), ("norm", norm, 0.5)]


def braket_case(n: int, bit: int):
    """A callable applying the same ry on Braket's tensor state, or None if Braket is missing."""
    try:
        from braket.default_simulator.linalg_utils import QuantumGateDispatcher, multiply_matrix
    except ImportError:
        return None
    ry = _ry(0.3)
    q = n - 1 - bit
    box = {"state": None, "out": None}
    disp = QuantumGateDispatcher(n)

    def run(_):
        st, out = box["state"], box["out"]
        _, swapped = multiply_matrix(st, ry, (q,), out=out, dispatcher=disp, return_swap_info=True)
        if swapped:
            box["state"], box["out"] = out, st

    def setup(state):
        box["state"] = state.reshape((2,) * n)
        box["out"] = np.zeros_like(box["state"])

    return run, setup


def measure_n(n: int, bits, reps: int, with_braket: bool, rmw, dtype=np.complex128) -> dict:
    state = np.full(1 << n, 1 / np.sqrt(1 << n), dtype=dtype)
    w = state.dtype.type(np.exp(1e-9j))
    with_braket = with_braket and state.dtype == np.complex128  # Braket's simulator is complex128 only
    variants = [("rmw", lambda s: rmw(s, w), 1.0)]
    variants += [(name, fn, 1.0) for name, fn in cases(n, bits)]
    variants += reduction_cases(n)
    braket = {}
    if with_braket:
        for b in bits:
            bc = braket_case(n, b)
            if bc is not None:
                run, setup = bc
                setup(state)
                braket[f"braket dense1 bit {bit_label(b, n)}"] = run
    for name, fn, _ in variants:  # compile and warm
        fn(state)
    for fn in braket.values():
        fn(state)
    times = {name: [] for name, _, _ in variants}
    times.update({name: [] for name in braket})
    for _ in range(reps):
        for name, fn, _ in variants:
            times[name].append(C.best_of(lambda: fn(state), 1)[0])
        for name, fn in braket.items():
            times[name].append(C.best_of(lambda: fn(state), 1)[0])
    best = {k: min(v) for k, v in times.items()}
    gbs_run = 2 * state.nbytes / best["rmw"] / 1e9
    one_pass = C.one_pass_seconds(n, gbs_run, state.itemsize)
    one_pass_peer = C.one_pass_seconds(n, C.PEER_RMW_GBS, state.itemsize)
    traffic = {name: t for name, _, t in variants}
    rows = []
    for name, t in best.items():
        frac = traffic.get(name, 1.0)
        rows.append({"case": name, "ms": 1e3 * t, "median_ms": 1e3 * float(np.median(times[name])),
                     "ratio": t / (frac * one_pass), "ratio_peer_B": t / (frac * one_pass_peer)})
    dtype_name = str(state.dtype)
    del state
    return {"n": n, "dtype": dtype_name, "rmw_GBs_this_run": gbs_run, "one_pass_ms": 1e3 * one_pass,
            "rows": rows}


def main(argv=None) -> dict:
    p = C.add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    p.add_argument("--n", type=int, nargs="*", default=[24, 26])
    p.add_argument("--bits", default=None,
                   help="comma-separated bit positions for the dense 1-qubit gate, or 'all'")
    p.add_argument("--dtype", choices=["both", "complex128", "complex64"], default="both")
    p.add_argument("--no-braket", action="store_true")
    args = p.parse_args(argv)
    C.set_threads(args.threads)
    try:
        from benchmarks.bandwidth import rmw_c128
    except ImportError:  # run as a script: import it under its package name all the same, since Numba's
        # cache entry records the module it was compiled in (``bandwidth`` here would not load one
        # written by ``benchmarks.bandwidth``: ModuleNotFoundError 'benchmarks')
        import os

        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        from benchmarks.bandwidth import rmw_c128
    ns = [10] if args.smoke else args.n
    reps = args.reps or (1 if args.smoke else 11)
    ctx = C.context()
    dtypes = [np.complex128, np.complex64] if args.dtype == "both" else [np.dtype(args.dtype).type]
    results = []
    for n in ns:
        if args.bits == "all":
            bits = list(range(n))
        elif args.bits:
            bits = [int(b) for b in args.bits.split(",")]
        else:
            bits = sorted({0, 1, 2, 3, n // 2, n - 2, n - 1})
        for dtype in dtypes:
            r = measure_n(n, bits, reps, not args.no_braket, rmw_c128, dtype)
            results.append(r)
            print(f"n={n} {r['dtype']}: rmw {r['rmw_GBs_this_run']:.1f} GB/s, one pass {r['one_pass_ms']:.2f} ms")
            for row in r["rows"]:
                print(f"  {row['case']:24s} {row['ms']:8.2f} ms  (median {row['median_ms']:8.2f})  "
                      f"ratio {row['ratio']:.2f}  vs peer B {row['ratio_peer_B']:.2f}")
    payload = {"benchmark": "gates", "context": ctx, "reps": reps, "results": results}
    path = C.write("gates" + ("_smoke" if args.smoke else ""), payload, args.out)
    print(f"-> {path}")
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
