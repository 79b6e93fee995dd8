"""Shared helpers for the benchmark scripts: timing, machine context, JSON output.

Every script in ``benchmarks/`` has ``main(argv)`` with ``--smoke`` (tiny sizes, one repetition, for
``tests/test_benchmarks_smoke.py``) and ``--out`` (the JSON file; default ``benchmarks/results/<name>.json``).
Timings are noisy on a shared machine, so every figure is the *best* of ``reps`` runs and each JSON
records the load average before and after, the commit and the thread count it was measured with.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parent.parent

# Peers' measured bound on this machine (../shared/notes/peers-measured-here.md): best in-place
# complex128 read-modify-write on >= 1 GiB, 2 threads.  Our own bandwidth.py re-measures it.
PEER_RMW_GBS = 54.8


def peak_rss_bytes() -> int:
    """This process's peak resident size (``VmHWM``).  Not ``getrusage``'s ``ru_maxrss``, which
    carries a forking parent's peak across exec."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def one_pass_seconds(n: int, gbs: float, itemsize: int = 16) -> float:
    """Time to read and write every amplitude of an n-qubit state once at ``gbs`` GB/s."""
    return 2 * itemsize * (1 << n) / (gbs * 1e9)


def best_of(fn, reps: int, setup=None) -> list[float]:
    """Wall times of ``reps`` calls of ``fn`` (``setup`` untimed before each); caller takes min."""
    out = []
    for _ in range(reps):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "qsim", "benchmarks"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def context() -> dict:
    import numba

    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": commit(),
        "loadavg_start": list(os.getloadavg()),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "numba_threads": numba.get_num_threads(),
        "numba": numba.__version__,
    }


def write(name: str, payload: dict, out: str | None) -> Path:
    payload = dict(payload)
    payload.setdefault("context", {})["loadavg_end"] = list(os.getloadavg())
    path = Path(out) if out else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=float) + "\n")
    tmp.replace(path)
    return path


def add_common_args(parser):
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, 1 repetition: checks the script runs")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per figure (best is kept)")
    parser.add_argument("--out", default=None, help="JSON output path")
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default: all)")
    return parser


def set_threads(threads):
    if threads:
        import numba

        numba.set_num_threads(threads)
