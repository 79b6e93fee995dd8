"""The peers' circuit workloads through qsim: QFT and random brick circuits, final state vector.

Each cell times ``qsim.device(precision=...).run(circuit).result()`` end to end (lowering, fusion,
allocating the state, every gate, handing the state back), as the peers' table does, after one
untimed warm-up run of the same kind at a small n.  Compared with the peers' best per cell and with
the one-pass-per-gate bound (gates x 2 x itemsize x 2^n / B).

    python benchmarks/circuits.py                            # n = 16 20 24 26, c128
    python benchmarks/circuits.py --n 24 --kind brick --reps 3
    python benchmarks/circuits.py --no-fusion                # every gate a separate pass
    python benchmarks/circuits.py --smoke
"""

from __future__ import annotations

import argparse
import sys
import time

try:
    from benchmarks import _common as C
    from benchmarks import workloads as W
except ImportError:  # run as a script
    import _common as C
    import workloads as W

# Best peer per cell on this machine (seconds, ../shared/notes/peers-measured-here.md), c128 and c64.
PEERS = {
    ("qft", "double"): {16: (0.0049, "lightning"), 20: (0.109, "aer nofusion"), 24: (3.16, "braket"),
                        26: (13.4, "braket"), 28: (103, "aer")},
    ("qft", "single"): {16: (0.0026, "qsimcirq f2"), 20: (0.041, "qsimcirq f2"), 24: (1.07, "qsimcirq f3"),
                        26: (5.37, "qsimcirq f3"), 28: (25.8, "qsimcirq f3")},
    ("brick", "double"): {16: (0.010, "lightning"), 20: (0.214, "qulacs opt2"), 24: (7.47, "aer"),
                          26: (26.6, "qulacs opt2"), 28: (172, "aer")},
    ("brick", "single"): {16: (0.0038, "qsimcirq f2 1t"), 20: (0.021, "qsimcirq f3"), 24: (0.49, "qsimcirq f3"),
                          26: (2.14, "qsimcirq f3"), 28: (8.81, "qsimcirq f3")},
}
BUILD = {"qft": W.qft, "brick": W.brick}


def run_once(dev, circuit) -> float:
    t0 = time.perf_counter()
    result = dev.run(circuit).result()
    elapsed = time.perf_counter() - t0
    del result
    return elapsed


def main(argv=None) -> dict:
    import qsim

    p = C.add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    p.add_argument("--n", type=int, nargs="*", default=[16, 20, 24, 26])
    p.add_argument("--kind", nargs="*", default=["qft", "brick"], choices=sorted(BUILD))
    p.add_argument("--precision", default="double", choices=["double", "single"])
    p.add_argument("--no-fusion", action="store_true")
    p.add_argument("--gbs", type=float, default=C.PEER_RMW_GBS, help="bandwidth for the bound (GB/s)")
    args = p.parse_args(argv)
    C.set_threads(args.threads)
    ns = [8] if args.smoke else args.n
    itemsize = 16 if args.precision == "double" else 8
    dev = qsim.device(precision=args.precision, fusion=not args.no_fusion)
    ctx = C.context()
    rows = []
    for kind in args.kind:
        run_once(dev, BUILD[kind](8))  # compile / load the kernels used
        run_once(dev, BUILD[kind](16))
        for n in ns:
            circuit = BUILD[kind](n)
            reps = args.reps or (1 if args.smoke else (5 if n <= 20 else (3 if n <= 24 else 2)))
            times = [run_once(dev, circuit) for _ in range(reps)]
            gates = W.gate_count(circuit)
            bound = gates * C.one_pass_seconds(n, args.gbs, itemsize)
            peer = PEERS.get((kind, args.precision), {}).get(n)
            row = {"kind": kind, "n": n, "gates": gates, "best_s": min(times), "median_s": sorted(times)[len(times) // 2],
                   "times_s": times, "bound_s": bound, "ratio_to_bound": min(times) / bound,
                   "ms_per_gate": 1e3 * min(times) / gates,
                   "peer_best_s": peer[0] if peer else None, "peer_best": peer[1] if peer else None,
                   "speedup_vs_peer": (peer[0] / min(times)) if peer else None}
            rows.append(row)
            vs = f"  best peer {peer[0]:.4g} s ({peer[1]}) -> x{row['speedup_vs_peer']:.2f}" if peer else ""
            print(f"{kind:5s} n={n:2d} {gates:4d} gates  best {row['best_s']:.4g} s  median {row['median_s']:.4g} s  "
                  f"ratio {row['ratio_to_bound']:.2f}{vs}", flush=True)
    payload = {"benchmark": "circuits", "context": ctx, "precision": args.precision, "fusion": not args.no_fusion,
               "bound_GBs": args.gbs, "rows": rows}
    suffix = "_smoke" if args.smoke else ("_nofusion" if args.no_fusion else "") + (
        "_single" if args.precision == "single" else "")
    path = C.write("circuits" + suffix, payload, args.out)
    print(f"-> {path}")
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
