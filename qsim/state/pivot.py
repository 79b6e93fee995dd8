"""Pivot blocks: a one-qubit gate on a *pivot* qubit followed by a diagonal on any number of qubits,
in one pass over the state.

The diagonal is a product of factors on ``{pivot, k}`` and on ``{k}`` (k any other qubit): the
controlled phases of a QFT stage (``h`` on qubit j, then ``cp(j, k)`` for every k > j), rz and cz
runs around one qubit.  For each value ``v`` of the pivot it is a product of one-qubit factors,
so it is stored as ``factors[v, i] = (phase if qubit others[i] is 0, phase if 1)`` plus
``scalars[v]``: O(width) numbers, never a vector of 2^width entries.  Fusion
(``qsim.state.fusion``) plans these blocks from the gates' shapes and ``build`` binds one from the
members' matrices; ``apply`` runs it on an array (``qsim.kernels.diagonal.apply_pivot_phases``,
with per-8-bit-chunk tables of the factors at the qubits' bit positions).

The distributed state folds the factors of its global qubits (fixed per rank) into ``scalars``
(``fold``), so a controlled phase with a global control costs nothing extra on any rank.
"""

from __future__ import annotations

import numpy as np

_I2 = np.eye(2, dtype=np.complex128)


class PivotPhases:
    """``diag @ u`` with ``u`` a 2x2 matrix on ``pivot`` (None: identity) and ``diag`` the product of
    ``scalars[v]`` and ``factors[v, i, b]`` over ``others`` (v the pivot's value, b qubit
    ``others[i]``'s).  The fused item's matrix; its targets are ``(pivot,) + others``."""

    __slots__ = ("pivot", "u", "others", "factors", "scalars")

    def __init__(self, pivot, u, others, factors, scalars):
        self.pivot = pivot
        self.u = u
        self.others = tuple(others)
        self.factors = factors
        self.scalars = scalars

    @property
    def qubits(self) -> tuple:
        return (self.pivot,) + self.others

    def diagonal(self) -> np.ndarray:
        """The diagonal over ``qubits`` (big-endian, pivot first): 2^(1 + len(others)) entries, for
        tests and small fallbacks only."""
        k = len(self.others)
        out = np.empty((2, 1 << k), dtype=np.complex128)
        for v in range(2):
            d = np.array([self.scalars[v]], dtype=np.complex128)
            for i in range(k):
                d = np.kron(d, self.factors[v, i])
            out[v] = d
        return out.reshape(-1)

    def matrix(self) -> np.ndarray:
        """The dense matrix over ``qubits`` (tests and small fallbacks only)."""
        k = len(self.others)
        u = _I2 if self.u is None else self.u
        return self.diagonal()[:, None] * np.kron(u, np.eye(1 << k))

    def fold(self, fixed: dict) -> "PivotPhases":
        """This block with the qubits in ``fixed`` (qubit -> its bit value, the same for the whole
        array: a rank's global qubits) taken out, their factors multiplied into ``scalars``."""
        keep = [i for i, q in enumerate(self.others) if q not in fixed]
        if len(keep) == len(self.others):
            return self
        scalars = self.scalars.copy()
        for i, q in enumerate(self.others):
            if q in fixed:
                scalars = scalars * self.factors[:, i, fixed[q]]
        return PivotPhases(self.pivot, self.u, [self.others[i] for i in keep], self.factors[:, keep], scalars)


def build(pivot, members) -> PivotPhases:
    """The block of ``members``, in circuit order: ``(qubits, matrix, diagonal)`` with ``qubits`` the
    member's controls then targets and ``matrix`` written over them (controls in, big-endian; a
    diagonal member may give its diagonal as a vector).  The non-diagonal members (one-qubit, on
    ``pivot``) come first; every diagonal member acts on ``pivot`` and at most one other qubit."""
    u = None
    others: list = []
    cols: dict = {}
    facs: list = []
    scalars = np.ones(2, dtype=np.complex128)
    for qubits, m, diagonal in members:
        m = np.asarray(m)
        if not diagonal:
            u = m if u is None else m @ u
            continue
        d = m if m.ndim == 1 else np.diagonal(m)
        if len(qubits) == 1 and qubits[0] == pivot:
            scalars = scalars * d
            continue
        k = [q for q in qubits if q != pivot][0]
        if k not in cols:
            cols[k] = len(others)
            others.append(k)
            facs.append(np.ones((2, 2), dtype=np.complex128))
        f = facs[cols[k]]
        if len(qubits) == 1:
            f *= d[None, :]
        elif qubits[0] == pivot:
            f *= d.reshape(2, 2)
        else:
            f *= d.reshape(2, 2).T
    factors = np.stack(facs, axis=1) if facs else np.ones((2, 0, 2), dtype=np.complex128)
    return PivotPhases(pivot, u, others, factors, scalars)


def tables(block: PivotPhases, pivot_bit: int, other_bits, n_bits: int, real_dtype):
    """(u as 10 reals, tre, tim) for ``qsim.kernels.diagonal.apply_pivot_phases`` on a 2^n_bits array
    with the block's qubits at ``pivot_bit`` and ``other_bits``."""
    from qsim.kernels.diagonal import CHUNK, CHUNK_BITS

    nchunks = max(1, -(-n_bits // CHUNK_BITS))
    t = np.ones((2, nchunks, CHUNK), dtype=np.complex128)
    v = np.arange(CHUNK)
    for i, b in enumerate(other_bits):
        sel = (v >> (b % CHUNK_BITS)) & 1
        t[:, b // CHUNK_BITS, :] *= block.factors[:, i, :][:, sel]
    t[:, 0, :] *= block.scalars[:, None]
    u = _I2 if block.u is None else block.u
    ur = np.empty(10, dtype=real_dtype)
    ur[0:8:2] = u.reshape(-1).real
    ur[1:8:2] = u.reshape(-1).imag
    ur[8], ur[9] = 1, 0
    return ur, np.ascontiguousarray(t.real, dtype=real_dtype), np.ascontiguousarray(t.imag, dtype=real_dtype)


def apply(array: np.ndarray, block: PivotPhases, pivot_bit: int, other_bits) -> None:
    """Apply ``block`` to ``array`` in place, its qubits at the given bit positions."""
    from qsim.kernels.diagonal import apply_pivot_phases

    n = array.shape[0].bit_length() - 1
    real = np.float32 if array.dtype == np.complex64 else np.float64
    u, tre, tim = tables(block, pivot_bit, other_bits, n, real)
    apply_pivot_phases(array.view(real), np.int64(pivot_bit), u, tre, tim)
