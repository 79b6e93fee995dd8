"""How much memory a state needs and how much the machine (or this rank's share of it) has."""

from __future__ import annotations

import os

import numpy as np

from qsim.errors import ResourceError, ValidationError

DTYPES = {"double": np.complex128, "single": np.complex64}


PRECISION_VARIABLE = "QSIM_PRECISION"


def dtype_for(precision: str):
    try:
        return np.dtype(DTYPES[precision])
    except (KeyError, TypeError):
        raise ValidationError(
            f"precision {precision!r} is not one of {sorted(DTYPES)}") from None


def resolve_precision(precision: str | None) -> str:
    """``precision``, or when it is None the default: ``$QSIM_PRECISION`` if set, else "double".
    The variable lets code that cannot pass options (``LocalSimulator("qsim")``, a job's script
    written for Braket) run in complex64."""
    if precision is None:
        precision = os.environ.get(PRECISION_VARIABLE) or "double"
        if precision not in DTYPES:
            raise ValidationError(f"environment variable {PRECISION_VARIABLE}={precision!r} is not one of "
                                  f"{sorted(DTYPES)}")
    dtype_for(precision)
    return precision


def available_bytes() -> int:
    """Memory this process may still allocate: MemAvailable, capped by a cgroup limit if any."""
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if avail is None:
        avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                raw = f.read().strip()
            if raw != "max":
                limit = int(raw)
                used_path = path.replace("memory.max", "memory.current").replace("limit_in_bytes", "usage_in_bytes")
                with open(used_path) as f:
                    used = int(f.read().strip())
                avail = min(avail, max(limit - used, 0))
        except (OSError, ValueError):
            continue
    return avail


def total_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def state_bytes(n_qubits: int, dtype) -> int:
    return (1 << n_qubits) * np.dtype(dtype).itemsize


# Allocations up to this size are not checked against the memory available: reading /proc/meminfo
# and the cgroup files costs more than allocating them, and the headroom kept below (256 MiB) covers
# them.  (Shot results, branches and exact results are checked whatever their size.)
PROBE_MIN_BYTES = 32 << 20


def check_fits(n_qubits: int, dtype, *, share: int = 1, what: str = "state vector", amplitudes: int | None = None):
    """Raise ``ResourceError`` naming the qubit count and the bytes needed and available if a
    ``what`` of ``n_qubits`` does not fit; ``share`` processes on this host each allocate their part."""
    count = (1 << n_qubits) if amplitudes is None else amplitudes
    need = count * np.dtype(dtype).itemsize
    if need * max(share, 1) <= PROBE_MIN_BYTES:
        return  # too small to matter: no /proc read per small allocation (a variational loop makes many)
    have = available_bytes()
    # keep 5% and 256 MiB headroom for the interpreter, buffers and the OS
    usable = int(have * 0.95) - (256 << 20)
    if need * max(share, 1) > usable:
        per = f" ({share} processes on this host, {need} bytes each)" if share > 1 else ""
        raise ResourceError(
            f"a {n_qubits}-qubit {what} in {np.dtype(dtype).name} needs {need * max(share, 1)} bytes{per}, "
            f"but only {max(usable, 0)} bytes are available on this machine")


def max_qubits(dtype, share: int = 1) -> int:
    """Largest qubit count whose state fits the currently available memory (split ``share`` ways)."""
    usable = int(available_bytes() * 0.95) - (256 << 20)
    n = 0
    while ((1 << (n + 1)) * np.dtype(dtype).itemsize) // max(share, 1) <= usable:
        n += 1
    return n


def _usable() -> int:
    return int(available_bytes() * 0.95) - (256 << 20)


def shot_result_bytes(shots: int, n_qubits: int, n_bits: int = 0, n_columns: int | None = None) -> int:
    """Peak bytes the sampled results of ``shots`` shots take, from the draws to the Braket-shaped
    result: per shot, the sorted uniforms and the drawn index (float64/int64, with their copies),
    the shuffle, the per-qubit bit columns (built through int64), the measured classical bits, the
    ``measurements`` table and its list-of-lists form in the Braket result (~64 bytes + 8 per cell)."""
    cols = n_qubits if n_columns is None else n_columns
    per_shot = 48 + 17 * n_qubits + 2 * n_bits + cols + (64 + 8 * cols)
    return int(shots) * per_shot


def check_shots_fit(shots: int, n_qubits: int, n_bits: int = 0, n_columns: int | None = None, *,
                    share: int = 1) -> None:
    """Raise ``ResourceError`` naming the shot count, the qubits and the bytes if the results of
    ``shots`` shots would not fit the memory available (``share`` processes on this host)."""
    need = shot_result_bytes(shots, n_qubits, n_bits, n_columns) * max(share, 1)
    usable = _usable()
    if need > usable:
        per = f" ({share} processes on this host)" if share > 1 else ""
        raise ResourceError(
            f"{shots} shots on {n_qubits} qubit(s) need about {need} bytes for their results{per}, but only "
            f"{max(usable, 0)} bytes are available on this machine; use fewer shots (at most "
            f"{max(usable // max(need // max(int(shots), 1), 1), 0)} here)")


def check_branch_fits(live_states: int, n_qubits: int, dtype, measurements: int, budget: int | None = None) -> int:
    """Before a mid-circuit measurement splits a path in two: raise ``ResourceError`` naming the
    qubits, the measurements so far and the bytes if ``live_states + 1`` states of ``n_qubits`` do
    not fit in ``budget`` (or one more does not fit in what is available now).  Returns the budget:
    pass it back at the next split.  Without one, it is what is available now plus what the live
    states already hold (so all branches of a run together must fit in what the run found)."""
    one = state_bytes(n_qubits, dtype)
    usable = max(_usable(), 0)
    if budget is None:
        budget = usable + live_states * one
    need = (live_states + 1) * one
    if need > budget or one > usable:
        raise ResourceError(
            f"mid-circuit measurement {measurements} splits the run into more branches: {live_states + 1} "
            f"{n_qubits}-qubit states need {need} bytes ({one} each, {np.dtype(dtype).name}), but only "
            f"{min(budget, usable + live_states * one)} bytes are available for them; use fewer qubits or "
            f"measurements, or shots > 0")
    return budget


# Bytes per entry of an exact result: the array, and (``listed``) its Braket-shaped JSON-ready list
# form too: a complex entry becomes [re, im] (a list and two floats), a real one a float in a list.
_RESULT_ENTRY_BYTES = {"densitymatrix": (16, 136), "statevector": (16, 136), "probability": (8, 32)}


def check_results_fit(result_types, n_qubits: int, *, share: int = 1, listed: bool = False) -> None:
    """Raise ``ResourceError`` naming the result type, its qubits and the bytes if an exact result
    (a density matrix: 4^k entries, a probability vector: 2^k, the state vector: 2^n) would not fit
    the memory available; checked before the run, not when the result is allocated.  ``listed``:
    the result is also turned into lists (the CLI's JSON, Braket's result objects)."""
    usable = _usable()
    for r in result_types:
        sizes = _RESULT_ENTRY_BYTES.get(getattr(r, "kind", None))
        if sizes is None:
            continue
        targets = getattr(r, "targets", None)
        k = n_qubits if targets is None else len(targets)
        entries = 1 << (2 * k if r.kind == "densitymatrix" else k)
        need = entries * (sizes[0] + (sizes[1] if listed else 0)) * max(share, 1)
        if need > usable:
            form = " (with its list form in the result)" if listed else ""
            raise ResourceError(
                f"result type '{r.kind}' on {k} qubit(s) has {entries} entries and needs about {need} bytes"
                f"{form}, but only {max(usable, 0)} bytes are available; ask for it on fewer qubits")
