"""What a gate *is*, from its matrix: the one home of the gate-kind classification.

``classify(targets, matrix, controls, values)`` looks at the (powered, fused) matrix, not the
gate's name, so a powered or fused gate still gets the cheapest kernel that is exact for it:

1. targets on which the matrix only acts when the bit is 1 (or 0) become controls (cnot -> x with
   a control, ccnot -> x with two, cphaseshift -> a phase on one corner);
2. a diagonal matrix is ``identity`` (nothing to do), ``scalar`` (a (controlled) global phase),
   ``phase`` (a single entry != 1: a phase on one corner of the subspace) or ``diagonal``;
3. a matrix with one non-zero per row is a permutation with phases: ``x`` and ``swap`` (no
   arithmetic) or ``monomial``;
4. everything else is ``dense``.

A 1-D ``matrix`` is a diagonal given as its vector (fusion's diagonal blocks, up to 2^10 entries).

Labels are opaque: the single-process state classifies in bit positions, the distributed plan in
program qubits.  Used by ``qsim.state.apply`` (which kernel) and ``qsim.distributed.plan`` (what a
gate needs from the distribution); fusion (``qsim.state.fusion``) asks ``is_diagonal``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_SWAP_PERM = np.array([0, 2, 1, 3])
DIAGONAL_KINDS = frozenset({"identity", "scalar", "phase", "diagonal"})
PERMUTATION_KINDS = frozenset({"x", "swap", "monomial"})


@dataclass(slots=True)
class Kind:
    kind: str
    targets: list
    matrix: np.ndarray      # on ``targets`` (controls folded out); 1x1 when there are none; a
    #                         diagonal given as a vector (fusion's diagonal blocks) stays a vector
    controls: list
    values: list
    diag: np.ndarray | None = None      # diagonal kinds: the diagonal of ``matrix``
    perm: np.ndarray | None = None      # permutation kinds: new[a] = phases[a] * old[perm[a]]
    phases: np.ndarray | None = None

    @property
    def is_diagonal(self) -> bool:
        return self.kind in DIAGONAL_KINDS

    @property
    def is_permutation(self) -> bool:
        return self.kind in PERMUTATION_KINDS


def extract_controls(matrix: np.ndarray, targets: list, controls: list, values: list):
    """Move targets on which ``matrix`` acts as a control into the control list.

    Target ``j`` acts as a control with value ``val`` when the matrix, split on that bit's row and
    column value, has zero off-diagonal blocks and the identity in the ``1 - val`` block; the
    ``val`` block is then the matrix on the other targets.  Blocks are strided views (no copies),
    and the cheap zero-block tests run first so a dense matrix is rejected quickly."""
    changed = True
    while changed and len(targets) > 0:
        changed = False
        k = len(targets)
        half = 1 << (k - 1)
        for j in range(k):
            hi, lo = 1 << j, 1 << (k - 1 - j)
            m = matrix.reshape(hi, 2, lo, hi, 2, lo)  # (row high, row bit j, row low, col ...)
            for val in (1, 0):
                other = 1 - val
                if m[:, other, :, :, val, :].any() or m[:, val, :, :, other, :].any():
                    continue
                if not np.array_equal(m[:, other, :, :, other, :].reshape(half, half), np.eye(half)):
                    continue
                matrix = m[:, val, :, :, val, :].reshape(half, half)
                controls = controls + [targets[j]]
                values = values + [val]
                targets = targets[:j] + targets[j + 1:]
                changed = True
                break
            if changed:
                break
    return matrix, targets, controls, values


def is_diagonal(matrix: np.ndarray) -> bool:
    return np.count_nonzero(matrix) == np.count_nonzero(np.diagonal(matrix))


def _diagonal_kind(d: np.ndarray) -> str:
    not_one = np.count_nonzero(d != 1)
    if not_one == 0:
        return "identity"
    if np.all(d == d[0]):
        return "scalar"
    return "phase" if not_one == 1 else "diagonal"


def classify(targets, matrix, controls=(), values=()) -> Kind:
    """The kind of ``matrix`` (big-endian over ``targets``) under ``controls`` with ``values``."""
    t = [int(q) for q in targets]
    c = [int(q) for q in controls]
    v = [int(x) for x in values]
    m = np.asarray(matrix)
    if m.ndim == 1:
        # a diagonal given as its vector (fusion's diagonal blocks: 2^k entries, not 4^k)
        return Kind(_diagonal_kind(m), t, m, c, v, diag=m)
    if t and m.size > 2 and 2 * np.count_nonzero(m) > m.size:
        # More than half the entries non-zero: no target can act as a control (that needs two zero
        # off-diagonal blocks, half the matrix), and it is neither diagonal nor a permutation.
        # Every rotation and fused block lands here and skips the structure analysis below.
        return Kind("dense", t, m, c, v)
    if t:
        m, t, c, v = extract_controls(m, t, c, v)
    k = len(t)
    if k == 0:
        d = m.reshape(1)
        return Kind("identity" if d[0] == 1 else "scalar", t, m.reshape(1, 1), c, v, diag=d)
    if not (m - np.diag(np.diag(m))).any():
        d = np.diag(m).copy()
        return Kind(_diagonal_kind(d), t, m, c, v, diag=d)
    nz_rows = np.count_nonzero(m, axis=1)
    nz_cols = np.count_nonzero(m, axis=0)
    if np.all(nz_rows == 1) and np.all(nz_cols == 1):
        perm = np.argmax(m != 0, axis=1)
        phases = m[np.arange(1 << k), perm]
        kind = "monomial"
        if np.all(phases == 1):
            if k == 1:
                kind = "x"
            elif k == 2 and np.array_equal(perm, _SWAP_PERM):
                kind = "swap"
        return Kind(kind, t, m, c, v, perm=perm, phases=phases)
    return Kind("dense", t, m, c, v)
