"""What the dense kernels cost on this machine, in passes over the state: the fusion planner's cost model.

``dense_costs(precision, width)`` gives ``{k: passes}`` for a dense k-qubit block (k = 1..5): the
time of ``qsim.state.apply.apply_dense`` on k middle bits divided by one in-place read-modify-write
pass over the same state (``gates.scale``).  The figures come from, in order:

1. this process's earlier answer;
2. the cache file ``costs-<machine key>.json`` in ``$QSIM_CACHE_DIR`` (default
   ``$XDG_CACHE_HOME/qsim``, else ``~/.cache/qsim``).  The key hashes what the compiled kernels
   depend on, as Numba's own cache does: the CPU name and features LLVM reports, the Numba version
   and ``KERNELS_VERSION`` (bumped when a kernel changes its speed), so a cache directory shared
   between machines never hands one machine another's figures;
3. a calibration (``calibrate``: about a second on a 64 MiB state per precision), run only for a
   circuit of at least ``CALIBRATE_MIN_QUBITS`` qubits, whose simulation takes seconds anyway, and
   written to the cache file; one made while other processes shared the cores is marked
   *provisional*: later processes use it while the machine is still busy and measure again once
   it is quiet (so a busy machine pays for one calibration per process at most, and a quiet
   one's figures replace it for good); ``QSIM_CALIBRATE=0`` turns calibration off;
4. otherwise ``FALLBACK``, measured on the 2-core Zen 3 VM the project is developed on: a small
   program's first call never pays for a calibration (cold start stays well under a second).

Under MPI (``qsim.launch.launched_under_mpi``) the answer is always ``FALLBACK``: every rank must
choose the same blocks (SPMD), and ranks on different nodes may see different cache files.

Used by ``qsim.state.fusion.plan`` to choose the largest block size per circuit.  Pure Python and
NumPy; the kernels it times are the ones in this package.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from qsim.launch import launched_under_mpi

KERNELS_VERSION = 9
CALIBRATE_MIN_QUBITS = 20
CALIBRATION_BYTES = 1 << 26  # a 64 MiB state: twice the last-level cache here, so DRAM-bound
MAX_K = 5

# The mean of three quiet calibrations on the 2-core Zen 3 VM (AVX2; 2x2 register blocks, 256 lanes),
# 2026-12-02 (KERNELS_VERSION 7): passes over the state per block, k = 1..5.  Kept at version 8
# (the dense kernel's prefetch: it left contiguous 3-5-qubit blocks within 3% and 2-qubit ones
# 8-15% faster, and three calibrations on 2026-12-03 spread 30-50% per k, a noisy host) and at 9
# (2x4 register blocks where there are 32 vector registers; AVX2 code unchanged).
FALLBACK = {
    "double": {1: 1.0, 2: 1.7, 3: 2.4, 4: 3.5, 5: 5.6},
    "single": {1: 1.0, 2: 2.1, 3: 3.0, 4: 4.2, 5: 6.4},
}

_memo: dict = {}


@lru_cache(maxsize=1)
def machine_key() -> str:
    """A short hash of what the compiled kernels' speed depends on (CPU, features, Numba, kernels)."""
    import numba
    from llvmlite import binding as ll

    try:
        cpu, features = ll.get_host_cpu_name(), ll.get_host_cpu_features().flatten()
    except Exception:  # noqa: BLE001  (an LLVM without the query: key on the platform only)
        import platform

        cpu, features = platform.machine(), platform.processor()
    text = f"{cpu}|{features}|numba {numba.__version__}|kernels {KERNELS_VERSION}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_dir() -> Path:
    env = os.environ.get("QSIM_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "qsim"


def cache_file() -> Path:
    return cache_dir() / f"costs-{machine_key()}.json"


def _read(path: Path) -> tuple:
    """(tables, provisional precisions) from the cache file."""
    try:
        raw = json.loads(path.read_text())
        tables = {p: {int(k): float(v) for k, v in table.items()} for p, table in raw.get("dense", {}).items()
                  if p in FALLBACK and set(map(int, table)) == set(FALLBACK[p])
                  and all(np.isfinite(float(v)) and float(v) > 0 for v in table.values())}
        return tables, {p for p in raw.get("provisional", []) if p in tables}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}, set()  # missing or unreadable: measure again or fall back


def _write(path: Path, tables: dict, provisional: set) -> None:
    """Atomically (write a temporary file, then rename); a read-only cache just is not written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"machine": machine_key(), "dense": tables, "provisional": sorted(provisional)},
                                  indent=1))
        os.replace(tmp, path)
    except OSError:
        pass


class Calibration(dict):
    """``{k: passes}`` from ``calibrate``, with ``busy``: whether other processes shared the cores
    with it: a one-minute load average above the number of cores less ``IDLE_MARGIN`` when it
    started, or the timed runs' threads getting less than ``BUSY_UTILISATION`` of the wall time
    (a parallel kernel whose second thread waits for a core another process holds)."""

    busy = False


IDLE_MARGIN = 0.5
BUSY_UTILISATION = 0.8


def calibrate(precision: str, n: int | None = None, reps: int = 3) -> dict:
    """Measure ``{k: passes}`` for k = 1..MAX_K on a 2^n state of ``precision`` (default: a state
    of ``CALIBRATION_BYTES``): each block size's best of ``reps`` over the best of the passes
    timed between them (every rep times the pass and every k in turn, so a slow phase of the
    machine hits them alike)."""
    import numba

    from qsim.kernels import gates as KG
    from qsim.state.apply import apply_dense

    busy = _busy_now()
    dtype = np.complex64 if precision == "single" else np.complex128
    if n is None:
        n = (CALIBRATION_BYTES // np.dtype(dtype).itemsize).bit_length() - 1
    state = np.full(1 << n, 1 / np.sqrt(1 << n), dtype=dtype)
    one = dtype(1)
    rng = np.random.default_rng(5)
    runs = {0: lambda: KG.scale(state, one)}  # 0: the pass
    for k in range(1, MAX_K + 1):
        z = rng.normal(size=(1 << k, 1 << k)) + 1j * rng.normal(size=(1 << k, 1 << k))
        u, _ = np.linalg.qr(z)
        bits = list(range(n // 2, n // 2 + k))
        runs[k] = (lambda bits, u: lambda: apply_dense(state, bits, u))(bits, u)
    for f in runs.values():
        f()  # compile or load, and touch the pages
    best = dict.fromkeys(runs, np.inf)
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(reps):
        for k, f in runs.items():
            t1 = time.perf_counter()
            f()
            best[k] = min(best[k], time.perf_counter() - t1)
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    out = Calibration({k: max(best[k] / best[0], 1.0) for k in range(1, MAX_K + 1)})
    threads = numba.get_num_threads() if state.shape[0] >= KG.PARALLEL_MIN_AMPLITUDES else 1
    out.busy = busy or cpu < BUSY_UTILISATION * threads * wall
    return out


def dense_costs(precision: str = "double", width: int = 0) -> dict:
    """``{k: passes}`` for a dense k-qubit block on a state of ``precision`` (see the module docstring)."""
    precision = "single" if precision == "single" else "double"
    if launched_under_mpi():
        return FALLBACK[precision]
    if precision in _memo:
        return _memo[precision]
    path = cache_file()
    tables, provisional = _read(path)
    if precision not in tables or precision in provisional:
        if width < CALIBRATE_MIN_QUBITS or os.environ.get("QSIM_CALIBRATE", "1") == "0":
            return tables.get(precision, FALLBACK[precision])  # a wider circuit may still calibrate
        if precision in provisional and _busy_now():
            _memo[precision] = tables[precision]  # still busy: measuring again would not do better
            return tables[precision]
        table = calibrate(precision)
        tables[precision] = dict(table)
        if getattr(table, "busy", False):
            provisional.add(precision)  # used until a calibration on a quiet machine replaces it
        else:
            provisional.discard(precision)
        _write(path, tables, provisional)
    _memo[precision] = tables[precision]
    return tables[precision]


def _busy_now() -> bool:
    return os.getloadavg()[0] > (os.cpu_count() or 1) - IDLE_MARGIN
