"""Gate fusion: merge consecutive gates into fewer, larger unitaries (exact up to rounding).

Items are ``(targets, matrix, controls, control_states)`` with qubits already remapped.
"""

from __future__ import annotations

import numpy as np


def _kron2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.kron for two 2x2 matrices, without its generic-shape overhead."""
    return (a[:, None, :, None] * b[None, :, None, :]).reshape(4, 4)


_I2 = np.eye(2, dtype=np.complex128)
_SWAP_AXES = np.eye(4, dtype=np.complex128)[[0, 2, 1, 3]]


def _on_pair(matrix: np.ndarray, qubits: tuple, pair: tuple) -> np.ndarray:
    """``matrix`` (big-endian over ``qubits``, one or two of ``pair``) as a 4x4 matrix on ``pair``."""
    if len(qubits) == 1:
        return _kron2(matrix, _I2) if qubits[0] == pair[0] else _kron2(_I2, matrix)
    if qubits == pair:
        return matrix
    return _SWAP_AXES @ matrix @ _SWAP_AXES


def _as_block(targets, matrix, controls, states):
    """(qubits, matrix on them) for a gate on at most two qubits in all, controls written into the
    matrix (control first, big-endian); None for anything larger or without targets."""
    if not targets or len(targets) + len(controls) > 2:
        return None
    if not controls:
        return tuple(targets), matrix
    full = np.eye(4, dtype=np.complex128)
    if states[0] == 1:
        full[2:, 2:] = matrix
    else:
        full[:2, :2] = matrix
    return (controls[0], targets[0]), full


def _is_diagonal(matrix: np.ndarray) -> bool:
    return np.count_nonzero(matrix) == np.count_nonzero(np.diagonal(matrix))


class _Block:
    __slots__ = ("qubits", "matrix", "dense", "original", "left")

    def __init__(self, qubits, matrix, dense, original=None):
        self.qubits, self.matrix, self.dense = qubits, matrix, dense
        self.original = original  # the gate's own item while nothing has joined it
        # one-qubit gates that joined a two-qubit block since the last 4x4 product, per qubit of
        # the pair (they commute with each other): multiplied in as one kron when needed
        self.left = None

    def add_one_qubit(self, q, m):
        if self.left is None:
            self.left = [None, None]
        k = 0 if q == self.qubits[0] else 1
        self.left[k] = m if self.left[k] is None else m @ self.left[k]

    def settle(self):
        if self.left is not None:
            a, b = self.left
            self.matrix = _kron2(_I2 if a is None else a, _I2 if b is None else b) @ self.matrix
            self.left = None


def fuse_two_qubit_blocks(items, keep_apart=frozenset()):
    """Greedy fusion into blocks on at most two qubits.

    A gate joins the block ``j`` that last touched any of its qubits (nothing later touches them,
    so moving the gate there keeps the order on every qubit) when the union stays within two
    qubits and ``j`` is a one-qubit block or an already *dense* two-qubit block.  A non-diagonal
    two-qubit gate (cnot, swap, xx, ...) starts a block that swallows the one-qubit blocks last on
    its qubits; with any swallowed it is dense (one 4x4 pass instead of two or three passes).
    Diagonal two-qubit gates (cz, cphaseshift) and lone controlled gates stay as they are, because
    their kernels touch a quarter or half of the state; so the QFT is fused no further than by
    one-qubit runs, while a brick circuit's rotations and CNOTs collapse into 4x4 blocks.  Gates on
    more qubits are left alone and end the blocks on their qubits.  So is every gate touching a qubit
    in ``keep_apart``: the distributed state passes its global qubits, whose diagonal, control-only
    and permutation gates move no data unless they are made dense."""
    out: list = []
    last: dict = {}

    def take_one_qubit_block(q, exclude):
        i = last.get(q)
        if i is not None and i != exclude and isinstance(out[i], _Block) and len(out[i].qubits) == 1:
            m = out[i].matrix
            out[i] = None
            return m
        return None

    for targets, matrix, controls, states in items:
        blk = None if keep_apart and not keep_apart.isdisjoint(tuple(targets) + tuple(controls)) else \
            _as_block(targets, matrix, controls, states)
        if blk is None:
            for q in tuple(controls) + tuple(targets):
                last[q] = len(out)
            out.append((targets, matrix, controls, states))
            continue
        qs, m = blk
        js = [last[q] for q in qs if q in last]
        j = max(js) if js else None
        target = out[j] if j is not None else None
        if isinstance(target, _Block) and len(set(target.qubits) | set(qs)) <= 2 and (
                target.dense or (len(target.qubits) == 1 and (len(qs) == 1 or not _is_diagonal(m)))):
            target.original = None
            new = tuple(q for q in qs if q not in target.qubits)
            if new:
                pair = target.qubits + new
                pre = take_one_qubit_block(new[0], j)
                target.matrix = _on_pair(target.matrix, target.qubits, pair)
                if pre is not None:
                    target.matrix = target.matrix @ _on_pair(pre, (new[0],), pair)
                target.qubits = pair
                target.dense = True
            if len(target.qubits) == 1:
                target.matrix = m @ target.matrix
            elif len(qs) == 1:
                target.add_one_qubit(qs[0], m)
            else:
                target.settle()
                target.matrix = _on_pair(m, qs, target.qubits) @ target.matrix
                target.dense = True
            for q in qs:
                last[q] = j
            continue
        block = _Block(qs, m, False, (targets, matrix, controls, states))
        if len(qs) == 2 and not _is_diagonal(m):
            pres = [(q, take_one_qubit_block(q, None)) for q in qs]
            for q, pre in pres:
                if pre is not None:
                    block.matrix = block.matrix @ _on_pair(pre, (q,), qs)
                    block.dense = True
                    block.original = None
            block.dense = block.dense or not controls
        for q in qs:
            last[q] = len(out)
        out.append(block)
    result = []
    for it in out:
        if it is None:
            continue
        if isinstance(it, _Block):
            it.settle()
            # a gate nothing joined goes out as it came (a lone cnot keeps its control form)
            result.append(it.original if it.original is not None else (it.qubits, it.matrix, (), ()))
        else:
            result.append(it)
    return result


def fuse(items, absorb_into_two_qubit: bool = True):
    """Merge gates into fewer, larger unitaries; exact up to rounding, gate order on every qubit kept.

    With ``absorb_into_two_qubit`` (the single-process state): ``fuse_two_qubit_blocks``.  Without
    (the distributed state, which fuses further itself once it knows which qubits are global): only
    runs of uncontrolled one-qubit gates on the same qubit are merged."""
    if absorb_into_two_qubit:
        return fuse_two_qubit_blocks(items)
    out = []
    pending: dict[int, np.ndarray] = {}

    def flush(q):
        m = pending.pop(q, None)
        if m is not None:
            out.append(((q,), m, (), ()))

    for targets, matrix, controls, states in items:
        if len(targets) == 1 and not controls:
            q = targets[0]
            pending[q] = matrix @ pending[q] if q in pending else matrix
            continue
        for q in tuple(controls) + tuple(targets):
            flush(q)
        out.append((targets, matrix, controls, states))
    for q in list(pending):
        flush(q)
    return out
