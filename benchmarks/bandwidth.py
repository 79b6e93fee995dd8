"""Memory bandwidth of this machine: STREAM-style triad and an in-place complex128 read-modify-write.

The rmw kernel (``z[i] *= w``) reads and writes every line of the array once: exactly the traffic of
an unfused one-qubit gate, so its GB/s gives the bound for one pass over an n-qubit state,
``2 x 16 x 2^n / B`` seconds for complex128.  triad (``a = b + s*c``) counts 24 bytes per element
(STREAM convention, no write-allocate), so it understates DRAM traffic by 4/3.

    python benchmarks/bandwidth.py                # 1 GiB arrays, 1 and 2 threads
    python benchmarks/bandwidth.py --smoke        # tiny, checks it runs
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from numba import njit, prange

try:
    from benchmarks import _common as C
except ImportError:  # run as a script
    import _common as C


@njit(parallel=True, cache=True, nogil=True)
def rmw_c128(z, w):
    for i in prange(z.shape[0]):
        z[i] *= w


@njit(parallel=True, cache=True, nogil=True)
def triad(a, b, c, s):
    for i in prange(a.shape[0]):
        a[i] = b[i] + s * c[i]


def measure(log2_bytes: int, threads_list, reps: int) -> list[dict]:
    import numba

    rows = []
    n_c = 1 << (log2_bytes - 4)          # complex128 elements in the rmw array
    n_f = 1 << (log2_bytes - 3)          # float64 elements in each triad array
    z = np.ones(n_c, dtype=np.complex128)
    w = np.exp(1e-9j)                    # |w| = 1: values stay bounded over many passes
    a = np.zeros(n_f)
    b = np.ones(n_f)
    c = np.ones(n_f)
    for threads in threads_list:
        numba.set_num_threads(threads)
        rmw_c128(z, w)
        triad(a, b, c, 0.5)
        t_rmw = min(C.best_of(lambda: rmw_c128(z, w), reps))
        t_triad = min(C.best_of(lambda: triad(a, b, c, 0.5), reps))
        rows.append({"kernel": "rmw_c128", "bytes_array": z.nbytes, "threads": threads, "seconds": t_rmw,
                     "GBs": 2 * z.nbytes / t_rmw / 1e9})
        rows.append({"kernel": "triad", "bytes_array": a.nbytes, "threads": threads, "seconds": t_triad,
                     "GBs": 3 * a.nbytes / t_triad / 1e9})
    numba.set_num_threads(max(threads_list))
    return rows


def main(argv=None) -> dict:
    import numba

    p = C.add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    p.add_argument("--log2-bytes", type=int, default=30, help="array size: 2^this bytes (default 1 GiB)")
    args = p.parse_args(argv)
    C.set_threads(args.threads)
    log2_bytes = 16 if args.smoke else args.log2_bytes
    reps = args.reps or (1 if args.smoke else 7)
    top = numba.get_num_threads()
    threads_list = sorted({1, top})
    ctx = C.context()
    rows = measure(log2_bytes, threads_list, reps)
    best_rmw = max(r["GBs"] for r in rows if r["kernel"] == "rmw_c128")
    bound = {str(n): {"one_pass_ms_c128": 1e3 * C.one_pass_seconds(n, best_rmw),
                      "one_pass_ms_c64": 1e3 * C.one_pass_seconds(n, best_rmw, 8)} for n in (20, 24, 26, 28)}
    payload = {"benchmark": "bandwidth", "context": ctx, "reps": reps, "rows": rows, "B_rmw_GBs": best_rmw,
               "peer_B_rmw_GBs": C.PEER_RMW_GBS, "one_pass": bound}
    path = C.write("bandwidth" + ("_smoke" if args.smoke else ""), payload, args.out)
    for r in rows:
        print(f"{r['kernel']:9s} {r['bytes_array'] / 2**20:8.0f} MiB  {r['threads']} thr  {r['GBs']:6.1f} GB/s")
    print(f"B (best rmw) = {best_rmw:.1f} GB/s; one pass c128: n=24 {bound['24']['one_pass_ms_c128']:.2f} ms, "
          f"n=26 {bound['26']['one_pass_ms_c128']:.2f} ms  -> {path}")
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
