"""Choose and call the kernel for one unitary on an array, in bit-position space.

``apply_unitary(array, target_bits, matrix, control_bits, control_values)`` is the single entry
from the state layer (and the distributed layer, which calls it on its shard with local bit
positions) into ``qsim.kernels``.  It looks at the *matrix*, not the gate's name, so a powered or
fused gate still gets the cheapest kernel that is exact for it:

1. targets on which the matrix only acts when the bit is 1 (or 0) become controls (cnot -> x with a
   control, ccnot -> x with two, cphaseshift -> a phase on one corner);
2. a diagonal matrix with a single entry != 1 is a phase on one corner of the subspace; any other
   diagonal is a diagonal kernel; a scalar is a (controlled) phase;
3. a matrix with one non-zero per row is a permutation with phases (x and swap need no arithmetic);
4. everything else is dense: 1, 2 or k targets.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from qsim.kernels import gates as K

_EMPTY = np.zeros(0, dtype=np.int64)
_X = np.array([[0, 1], [1, 0]])
_SWAP_PERM = np.array([0, 2, 1, 3])


@lru_cache(maxsize=4096)
def _offsets_cached(target_bits: tuple) -> np.ndarray:
    k = len(target_bits)
    out = np.zeros(1 << k, dtype=np.int64)
    for j, b in enumerate(target_bits):
        bit_of_a = k - 1 - j
        out |= ((np.arange(1 << k) >> bit_of_a) & 1).astype(np.int64) << b
    return out


def _offsets(target_bits) -> np.ndarray:
    """offsets[a] for big-endian matrix index a over ``target_bits`` (cached, read-only)."""
    return _offsets_cached(tuple(int(b) for b in target_bits))


@lru_cache(maxsize=4096)
def _fixed_cached(bits: tuple) -> np.ndarray:
    out = np.array(sorted(bits), dtype=np.int64)
    return out


def _fixed(bits) -> np.ndarray:
    return _fixed_cached(tuple(int(b) for b in bits)) if bits else _EMPTY


def _extract_controls(matrix: np.ndarray, targets: list[int], controls: list[int], values: list[int]):
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


def _kernel(name: str, array: np.ndarray):
    """The kernel ``name`` from ``qsim.kernels.gates``: its plain-Python body for a tiny state (no
    compiled code to load), its serial build for a small one (no parallel region to pay for),
    else the parallel one.  Looked up at call time, so tests can substitute plain-Python kernels
    on the module."""
    if array.shape[0] <= K.PYTHON_MAX_AMPLITUDES:
        kernel = getattr(K, name)
        return getattr(kernel, "py_func", kernel)
    if array.shape[0] < K.PARALLEL_MIN_AMPLITUDES:
        name += "_serial"
    return getattr(K, name)


def apply_unitary(array: np.ndarray, target_bits, matrix: np.ndarray, control_bits=(), control_values=()) -> None:
    """Apply ``matrix`` (big-endian over ``target_bits``) to ``array`` where every control bit has
    its control value.  ``array`` is modified in place."""
    targets = [int(b) for b in target_bits]
    controls = [int(b) for b in control_bits]
    values = [int(v) for v in control_values]
    matrix = np.asarray(matrix)
    if targets and matrix.size > 2 and 2 * np.count_nonzero(matrix) > matrix.size:
        # More than half the entries non-zero: no target can act as a control (that needs two zero
        # off-diagonal blocks, half the matrix), and it is neither diagonal nor a permutation.
        # Every rotation and fused block lands here and skips the structure analysis below.
        _apply_dense(array, targets, matrix, controls, values)
        return
    if targets:
        matrix, targets, controls, values = _extract_controls(matrix, targets, controls, values)
    dtype = array.dtype
    cval = 0
    for b, v in zip(controls, values):
        cval |= v << b
    k = len(targets)
    dim = 1 << k
    off_diag = matrix - np.diag(np.diag(matrix)) if k else None
    if k == 0 or not off_diag.any():
        diag = np.diag(matrix) if k else matrix.reshape(1)
        not_one = np.nonzero(diag != 1)[0]
        if len(not_one) == 0:
            return
        if k == 0 or np.all(diag == diag[0]):
            phase = dtype.type(diag[0])
            if not controls:
                _kernel("scale", array)(array, phase)
            else:
                _kernel("apply_phase", array)(array, phase, _fixed(controls), np.int64(cval))
            return
        if len(not_one) == 1:
            a = int(not_one[0])
            corner = cval
            for j, b in enumerate(targets):
                corner |= ((a >> (k - 1 - j)) & 1) << b
            _kernel("apply_phase", array)(array, dtype.type(diag[a]), _fixed(controls + targets), np.int64(corner))
            return
        if k == 1:
            _kernel("apply_diagonal_1", array)(array, np.int64(targets[0]), dtype.type(diag[0]),
                                               dtype.type(diag[1]), _fixed(controls + targets), np.int64(cval))
            return
        _kernel("apply_diagonal", array)(array, diag.astype(dtype), np.array(targets, dtype=np.int64),
                                         _fixed(controls), np.int64(cval))
        return
    fixed = _fixed(controls + targets)
    nz_rows = np.count_nonzero(matrix, axis=1)
    nz_cols = np.count_nonzero(matrix, axis=0)
    if np.all(nz_rows == 1) and np.all(nz_cols == 1):
        perm = np.argmax(matrix != 0, axis=1)
        phases = matrix[np.arange(dim), perm]
        if np.all(phases == 1):
            if k == 1:
                _kernel("apply_x", array)(array, np.int64(targets[0]), fixed, np.int64(cval))
                return
            if k == 2 and np.array_equal(perm, _SWAP_PERM):
                _kernel("apply_swap", array)(array, np.int64(targets[0]), np.int64(targets[1]), fixed,
                                             np.int64(cval))
                return
        _kernel("apply_monomial", array)(array, perm.astype(np.int64), phases.astype(dtype), _offsets(targets),
                                         fixed, np.int64(cval))
        return
    _apply_dense(array, targets, matrix, controls, values)


def _apply_dense(array, targets, matrix, controls, values):
    cval = 0
    for b, v in zip(controls, values):
        cval |= v << b
    k = len(targets)
    m = matrix.astype(array.dtype)
    if k == 1:
        if not controls:
            _kernel("apply_dense_1", array)(array, np.int64(targets[0]), m[0, 0], m[0, 1], m[1, 0], m[1, 1])
        else:
            _kernel("apply_dense_1_ctrl", array)(array, np.int64(targets[0]), m[0, 0], m[0, 1], m[1, 0], m[1, 1],
                                                 _fixed(controls + targets), np.int64(cval))
    elif k == 2:
        _kernel("apply_dense_2", array)(array, m, _offsets(targets), _fixed(controls + targets), np.int64(cval))
    else:
        _kernel("apply_dense_k", array)(array, m, _offsets(targets), _fixed(controls + targets), np.int64(cval))
