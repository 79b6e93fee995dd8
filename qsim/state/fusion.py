"""Gate fusion: merge consecutive gates into fewer, larger unitaries (exact up to rounding).

Called by ``qsim.state.lowering`` (``fuse``, per run of gates), ``qsim.state.compile`` (the
compiled parametric circuits, planned once and bound to new parameter values per call; their blocks
re-bound by ``qsim.state.rebind``) and ``qsim.distributed.state`` (fusion on local qubits once the
global ones are known).  Fusion is split in two so that a circuit whose gate *matrices* change from call to call
(new parameter values) is planned once:

* ``plan(shapes, *, mode="blocks"|"runs", keep_apart=frozenset()) -> Plan`` decides which gates go
  into which block from their **shapes** only: ``Shape(targets, controls, states, diagonal)``, the
  qubits of an item and whether its matrix is diagonal.  For a parametrised gate ``diagonal`` must
  hold for *every* parameter value (rz, phaseshift, cphaseshift, zz: yes; rx, xy, U: no), because
  the plan is reused for all of them.  ``shape_of(item)`` reads it from a constant item's matrix.
  ``mode="blocks"``: blocks on at most two qubits below ``K_BLOCKS_MIN_QUBITS`` (see
  ``_plan_two_qubit_blocks`` for the rule), above it dense blocks of at most k qubits and diagonal
  blocks (``_plan_k_blocks``), k chosen per circuit by the kernels' cost measured on this machine
  (``choose_block_size``, ``qsim.kernels.costs``); ``mode="runs"``: only runs of uncontrolled one-qubit
  gates on one qubit are merged.  Gates touching a qubit in ``keep_apart`` are never merged.
* ``Plan.bind(matrices) -> list of items``: the fused items for the items' matrices (``matrices[i]``
  is item ``i``'s matrix, in the order of ``shapes``).  ``Plan.rebind(fused, matrices, changed)``
  recomputes only the outputs that contain an index in ``changed`` and reuses the others.
* ``Plan.entries``: one per output item, either an ``int`` (item ``i`` goes out as it came, with its
  own controls) or a ``Block(qubits, ops, members)``; ``Plan.members(j)`` the item indices of output
  ``j``.  A block's ``ops`` are a small recipe run on a register ``M`` (the block's matrix,
  big-endian over ``qubits``) and two pending one-qubit factors ``left``; ``bm(i)`` is item ``i``'s
  matrix with its control written in (``_as_block``):

  ``("set", i)`` M = bm(i); ``("mul", i)`` M = bm(i) @ M; ``("pair", qs, pair)`` M = M as a matrix on
  ``pair``; ``("post", sub, q, pair)`` M = M @ (the one-qubit recipe ``sub`` on qubit q of pair);
  ``("left", k, i)`` left[k] = bm(i) @ left[k]; ``("settle",)`` M = kron(left) @ M;
  ``("mulon", i, qs, pair)`` M = bm(i) on ``pair`` @ M.

  A planner for larger blocks may emit its own ops; ``bind`` is the only consumer.

The planners (shapes only: ``Shape``, ``Block``) live in ``qsim.state.fusion_plan``, the choice of
planner and block size by width and measured cost in ``qsim.state.fusion_choice``; this module binds
their plans to matrices and re-exports them.

Items are ``(targets, matrix, controls, control_states)`` with qubits already remapped.
``fuse(items, absorb_into_two_qubit)`` and ``fuse_two_qubit_blocks(items, keep_apart)`` are
plan-then-bind in one call.
"""

from __future__ import annotations

import numpy as np

from qsim.state.fusion_choice import (  # noqa: F401  (the choice of plan; re-exported: callers import from here)
    COST_MODEL_MIN_QUBITS,
    K_BLOCKS_MIN_QUBITS,
    MAX_BLOCK_QUBITS,
    MAX_DIAGONAL_QUBITS,
    PIVOT_MIN_QUBITS,
    SMALL_STATE_BLOCK_QUBITS,
    choose_block_size,
    entries_for,
    plan_cost,
)
from qsim.state.fusion_plan import Block, Shape, _block_qubits  # noqa: F401  (the planning half; re-exported)
from qsim.state.pivot import build as build_pivot


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
    qs = _block_qubits(targets, controls)
    if qs is None:
        return None
    if not controls:
        return qs, matrix
    full = np.eye(4, dtype=np.complex128)
    if states[0] == 1:
        full[2:, 2:] = matrix
    else:
        full[:2, :2] = matrix
    return qs, full


def _is_diagonal(matrix: np.ndarray) -> bool:
    return np.count_nonzero(matrix) == np.count_nonzero(np.diagonal(matrix))


_SWAP = np.eye(4)[[0, 2, 1, 3]]


def shape_of(item, diagonal: bool | None = None) -> Shape:
    targets, matrix, controls, states = item
    relabel = not controls and len(targets) == 2 and np.shape(matrix) == (4, 4) and np.array_equal(matrix, _SWAP)
    return Shape(tuple(targets), tuple(controls), tuple(states),
                 _is_diagonal(matrix) if diagonal is None else bool(diagonal), bool(relabel))


class Plan:
    """Which items go into which output, decided once; ``bind`` applies it to matrices."""

    __slots__ = ("shapes", "entries", "_outputs_of")

    def __init__(self, shapes, entries):
        self.shapes = shapes
        self.entries = entries
        self._outputs_of = None

    def members(self, j) -> tuple:
        e = self.entries[j]
        return (e,) if isinstance(e, int) else e.members

    def outputs_of(self, i) -> tuple:
        """The output indices containing item ``i`` (one, or none for an item a block dropped)."""
        if self._outputs_of is None:
            out: dict = {}
            for j in range(len(self.entries)):
                for m in self.members(j):
                    out.setdefault(m, []).append(j)
            self._outputs_of = {k: tuple(v) for k, v in out.items()}
        return self._outputs_of.get(i, ())

    def _bm(self, matrices, i):
        s = self.shapes[i]
        if not s.controls:
            return matrices[i]
        return _as_block(s.targets, matrices[i], s.controls, s.states)[1]

    def _full(self, matrices, i):
        """Item ``i``'s matrix over its controls then targets (big-endian), controls written in."""
        s = self.shapes[i]
        return _with_controls(np.asarray(matrices[i]), s.controls, s.states)

    def _full_diagonal(self, matrices, i):
        s = self.shapes[i]
        m = np.asarray(matrices[i])
        d = m if m.ndim == 1 else np.diagonal(m)
        if not s.controls:
            return d
        out = np.ones(1 << (len(s.controls) + len(s.targets)), dtype=np.complex128)
        c = 0
        for v in s.states:
            c = (c << 1) | int(v)
        k = len(s.targets)
        out[c << k:(c + 1) << k] = d
        return out

    def _run(self, ops, matrices):
        m = None
        left = None
        for op in ops:
            kind = op[0]
            if kind == "mul":
                m = self._bm(matrices, op[1]) @ m
            elif kind == "left":
                if left is None:
                    left = [None, None]
                k, x = op[1], self._bm(matrices, op[2])
                left[k] = x if left[k] is None else x @ left[k]
            elif kind == "set":
                m = self._bm(matrices, op[1])
            elif kind == "settle":
                if left is not None:
                    a, b = left
                    m = _kron2(_I2 if a is None else a, _I2 if b is None else b) @ m
                    left = None
            elif kind == "mulon":
                m = _on_pair(self._bm(matrices, op[1]), op[2], op[3]) @ m
            elif kind == "pair":
                m = _on_pair(m, op[1], op[2])
            elif kind == "post":
                m = m @ _on_pair(self._run(op[1], matrices), (op[2],), op[3])
            elif kind == "eye":
                m = np.eye(1 << op[1], dtype=np.complex128)
            elif kind == "emb":
                m = _embed_left(self._full(matrices, op[1]), op[2], op[3], m)
            elif kind == "ones":
                m = np.ones(1 << op[1], dtype=np.complex128)
            elif kind == "pivot":
                m = build_pivot(op[1], [(self.shapes[i].controls + self.shapes[i].targets,
                                         self._full_diagonal(matrices, i) if self.shapes[i].diagonal
                                         else self._full(matrices, i), self.shapes[i].diagonal) for i in op[2]])
            elif kind == "dmul":
                m = m * _spread_diagonal(self._full_diagonal(matrices, op[1]), op[2], op[3])
            else:
                raise ValueError(f"unknown fusion op {op!r}")
        return m

    def _output(self, j, matrices):
        e = self.entries[j]
        if isinstance(e, int):
            s = self.shapes[e]
            return (s.targets, matrices[e], s.controls, s.states)
        return (e.qubits, self._run(e.ops, matrices), (), ())

    def bind(self, matrices) -> list:
        """The fused items for ``matrices`` (one per shape, in order)."""
        return [self._output(j, matrices) for j in range(len(self.entries))]

    def rebind(self, fused, matrices, changed) -> list:
        """``bind(matrices)`` where ``fused = bind(old)`` and only the items in ``changed`` differ
        from ``old``: the other outputs are reused as they are."""
        out = list(fused)
        done = set()
        for i in changed:
            for j in self.outputs_of(i):
                if j not in done:
                    done.add(j)
                    out[j] = self._output(j, matrices)
        return out


def _with_controls(matrix, controls, states):
    """``matrix`` (on targets) as a matrix over controls + targets, acting where the controls have
    their states (identity elsewhere)."""
    if not controls:
        return matrix
    k = matrix.shape[0].bit_length() - 1
    c = 0
    for v in states:
        c = (c << 1) | int(v)
    full = np.eye(1 << (len(controls) + k), dtype=np.complex128)
    full[c << k:(c + 1) << k, c << k:(c + 1) << k] = matrix
    return full


def _embed_left(g, gq, bq, m):
    """``G @ m`` where ``G`` is ``g`` (big-endian over qubits ``gq``) on the block's qubits ``bq``
    and ``m`` a matrix on ``bq``: the rows of ``m`` as a tensor, ``g`` contracted on ``gq``'s axes."""
    k = len(bq)
    axes = [bq.index(q) for q in gq]
    t = m.reshape((2,) * k + (m.shape[1],))
    t = np.moveaxis(t, axes, list(range(len(gq))))
    shape = t.shape
    t = (g @ t.reshape(1 << len(gq), -1)).reshape(shape)
    return np.moveaxis(t, list(range(len(gq))), axes).reshape(1 << k, -1)


def _spread_diagonal(d, gq, bq):
    """The diagonal ``d`` (over qubits ``gq``) as a diagonal over the block's qubits ``bq``."""
    k = len(bq)
    a = np.arange(1 << k)
    idx = np.zeros(1 << k, dtype=np.int64)
    for j, q in enumerate(gq):
        idx = (idx << 1) | ((a >> (k - 1 - bq.index(q))) & 1)
    return d[idx]


def plan(shapes, *, mode: str = "blocks", keep_apart=frozenset(), max_qubits: int | None = None,
         precision: str = "double") -> Plan:
    """The ``Plan`` for ``shapes``: its entries from ``qsim.state.fusion_choice.entries_for`` (by
    ``mode``, the circuit's width and the kernels' measured cost for ``precision``)."""
    shapes = list(shapes)
    return Plan(shapes, entries_for(shapes, mode=mode, keep_apart=keep_apart, max_qubits=max_qubits,
                                    precision=precision))


def fuse_two_qubit_blocks(items, keep_apart=frozenset()):
    """``plan(mode="blocks", keep_apart=...)`` then ``bind`` (see ``_plan_two_qubit_blocks``)."""
    items = list(items)
    return plan([shape_of(it) for it in items], keep_apart=keep_apart).bind([it[1] for it in items])


def fuse_blocks(items, keep_apart=frozenset(), max_qubits: int | None = None, precision: str = "double"):
    """Dense blocks of up to ``max_qubits`` qubits (default: chosen by ``plan`` from the items'
    width and the kernels' measured cost) and diagonal blocks (``_plan_k_blocks``), gates touching
    ``keep_apart`` left alone."""
    items = list(items)
    return plan([shape_of(it) for it in items], keep_apart=keep_apart, max_qubits=max_qubits,
                precision=precision).bind([it[1] for it in items])


def fuse(items, absorb_into_two_qubit: bool = True, precision: str = "double"):
    """Merge gates into fewer, larger unitaries; exact up to rounding, gate order on every qubit kept.

    With ``absorb_into_two_qubit`` (the single-process state): ``fuse_blocks`` (k-qubit dense and
    diagonal blocks on a wide circuit, two-qubit blocks on a narrow one).  Without
    (the distributed state, which fuses further itself once it knows which qubits are global): only
    runs of uncontrolled one-qubit gates on the same qubit are merged."""
    items = list(items)
    if absorb_into_two_qubit:
        return fuse_blocks(items, precision=precision)
    return plan([shape_of(it) for it in items], mode="runs").bind([it[1] for it in items])
