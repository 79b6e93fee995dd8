"""NumPy bodies of the state's updates and reads on tiny states (at most ``SMALL_MAX_QUBITS``).

A program of a few qubits runs in microseconds either way, but the Numba kernels cost their
import (numba itself: about a third of a second) and loading from the cache in every fresh
process: most of the cold start of ``python -m qsim run`` on a 5-qubit program.  So a
single-process ``StateVector`` of at most ``SMALL_MAX_QUBITS`` qubits applies gates, samples and
measures with these instead and imports ``qsim.kernels`` only for the reads it does not cover
(observables, marginals, density matrices).  As in ``qsim.kernels.tiers``, MPI ranks always use
the compiled kernels (they share them through the cache, and a small test state would otherwise
never exercise them).

``sample`` makes exactly the arithmetic of ``qsim.kernels.measure.chunk_weights`` and
``sample_sorted`` on one chunk (float32 squares for complex64, float64 sums, left to right), so a
seed draws the same shots on either path.  Bit conventions as in ``qsim.kernels.gates``: bit ``b``
of the index is axis ``n - 1 - b`` of the array viewed as ``(2,) * n``.
"""

from __future__ import annotations

import numpy as np

from qsim.launch import launched_under_mpi

SMALL_MAX_QUBITS = -1 if launched_under_mpi() else 5


def handles(n_qubits: int) -> bool:
    return n_qubits <= SMALL_MAX_QUBITS


def apply(a: np.ndarray, target_bits, matrix, control_bits=(), control_values=()) -> None:
    """``matrix`` (big-endian over ``target_bits``; a 1-D diagonal as its vector) where every
    control bit holds its value, in place."""
    n = a.shape[0].bit_length() - 1
    m = np.asarray(matrix)
    if m.ndim == 1:
        m = np.diag(m)
    view = a.reshape((2,) * n) if n else a.reshape(())
    index = [slice(None)] * n
    for b, v in zip(control_bits, control_values):
        index[n - 1 - b] = int(v)
    sub = view[tuple(index) + (Ellipsis,)]  # (a 0-d view, not a scalar, when every axis is fixed)
    free = [ax for ax in range(n) if isinstance(index[ax], slice)]
    axes = [free.index(n - 1 - b) for b in target_bits]
    k = len(axes)
    moved = np.moveaxis(sub, axes, list(range(k)))
    block = moved.reshape(1 << k, -1)
    moved[...] = (m.astype(a.dtype, copy=False) @ block).reshape(moved.shape)


def _squares(a: np.ndarray) -> np.ndarray:
    return (a.real * a.real + a.imag * a.imag).astype(np.float64)


def norm_squared(a: np.ndarray) -> float:
    return float(np.sum(_squares(a)))


def prob_bit_one(a: np.ndarray, bit: int) -> float:
    idx = np.arange(a.shape[0])
    return float(np.sum(_squares(a)[((idx >> bit) & 1) == 1]))


def project(a: np.ndarray, bit: int, outcome: int, factor) -> None:
    keep = ((np.arange(a.shape[0]) >> bit) & 1) == outcome
    a[~keep] = 0
    a[keep] *= factor


def sample(a: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Basis indices for sorted uniform ``draws`` in [0, 1): the inverse cumulative distribution."""
    p = _squares(a)
    cum = np.cumsum(p)
    out = np.searchsorted(cum, draws * cum[-1], side="right")
    nonzero = np.flatnonzero(p > 0.0)
    if nonzero.size:  # draws past the end by rounding go to the last non-zero amplitude
        np.minimum(out, nonzero[-1], out=out)
    return out.astype(np.int64)
