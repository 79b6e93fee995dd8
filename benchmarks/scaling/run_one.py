"""One benchmark run: ``[mpirun -n N] python benchmarks/scaling/run_one.py CIRCUIT QUBITS``.

Prints one JSON line on rank 0: wall time of the run (JIT already warm), the run's qsimMetadata
(exchanges, bytes sent per rank), peak RSS per rank, and the bytes QuEST's pairwise scheme would
send for the same gate list (one full shard per rank for each non-diagonal gate on a global target
with QuEST's fixed layout, qubits 0..g-1 global; half a shard for a swap across the boundary).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import qsim  # noqa: E402
from circuits import CIRCUITS  # noqa: E402
from qsim.device import world_comm  # noqa: E402


def pairwise_bytes(circuit, n, ranks, itemsize=16):
    """Bytes per rank of QuEST-style pairwise exchange for the lowered gate list."""
    from qsim.distributed.plan import classify
    from qsim.state.lowering import Unitaries, lower

    g = ranks.bit_length() - 1
    if g == 0:
        return 0
    shard = (1 << (n - g)) * itemsize
    steps, _ = lower(list(circuit.instructions), fusion=True, absorb_into_two_qubit=False)
    total = 0
    for step in steps:
        if not isinstance(step, Unitaries):
            continue
        for item in step.items:
            op = classify(item)
            glob = [q for q in op.targets if q < g]
            if op.kind == "diag" or not glob:
                continue
            if op.kind == "swap":
                total += shard if len(glob) == 2 else shard // 2
            else:
                total += shard * len(glob)
    return total


def main():
    p = argparse.ArgumentParser()
    p.add_argument("circuit", choices=sorted(CIRCUITS))
    p.add_argument("qubits", type=int)
    p.add_argument("--layers", type=int, default=2)
    args = p.parse_args()
    comm = world_comm()
    ranks = 1 if comm is None else comm.Get_size()
    rank = 0 if comm is None else comm.Get_rank()
    build = CIRCUITS[args.circuit]
    make = (lambda n: build(n, args.layers)) if args.circuit == "brick" else build
    dev = qsim.device("local:qsim/statevector", comm=comm)
    warm = make(12).expectation(qsim.observables.Z(), [0])
    dev.run(warm)  # compile (or load) every kernel the big run uses
    circuit = make(args.qubits).expectation(qsim.observables.Z(), [0])
    if comm is not None:
        comm.Barrier()
    t0 = time.perf_counter()
    result = dev.run(circuit).result()
    if comm is not None:
        comm.Barrier()
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    rss_all = [rss] if comm is None else comm.gather(rss, root=0)
    if rank == 0:
        meta = result.additional_metadata["qsimMetadata"]
        print(json.dumps({
            "circuit": args.circuit, "qubits": args.qubits, "ranks": ranks,
            "threadsPerRank": meta.get("threadsPerRank", __import__("numba").get_num_threads()),
            "seconds": seconds, "exchanges": meta.get("exchanges", 0), "exchangeSeconds": meta.get("exchangeSeconds", 0.0),
            "bytesSentPerRank": meta.get("bytesSentPerRank", 0),
            "pairwiseBytesPerRank": pairwise_bytes(circuit, args.qubits, ranks),
            "peakRssBytesPerRank": rss_all, "distributed": meta.get("distributed", False),
            "expectationZ0": float(np.real(result.values[0])),
        }), flush=True)


if __name__ == "__main__":
    main()
