"""Gate fusion: merge consecutive gates into fewer, larger unitaries (exact up to rounding).

Called by ``qsim.state.compile`` (lowering, and the compiled parametric circuits that rebind new
parameter values) and by ``qsim.distributed.state`` (fusion on local qubits once the global ones
are known).  Fusion is split in two so that a circuit whose gate *matrices* change from call to call
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

Items are ``(targets, matrix, controls, control_states)`` with qubits already remapped.
``fuse(items, absorb_into_two_qubit)`` and ``fuse_two_qubit_blocks(items, keep_apart)`` are
plan-then-bind in one call.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from qsim.kernels.costs import CALIBRATE_MIN_QUBITS
from qsim.state.pivot import build as build_pivot


class Shape(NamedTuple):
    targets: tuple
    controls: tuple
    states: tuple
    diagonal: bool
    relabel: bool = False  # an uncontrolled swap: the state relabels two qubits, no data moves


class Block(NamedTuple):
    qubits: tuple
    ops: list
    members: tuple


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


def _block_qubits(targets, controls):
    """The qubits of a gate's block (control first), or None if it is not a block candidate
    (no targets, or more than two qubits in all)."""
    if not targets or len(targets) + len(controls) > 2:
        return None
    return tuple(targets) if not controls else (controls[0], targets[0])


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


class _PBlock:
    """A block while planning: its qubits, whether it is dense, the item it came from while
    nothing has joined it, its recipe, and whether one-qubit factors are pending (``left``)."""

    __slots__ = ("qubits", "dense", "original", "ops", "left", "members")

    def __init__(self, qubits, dense, i):
        self.qubits, self.dense, self.original = qubits, dense, i
        self.ops = [("set", i)]
        self.left = False
        self.members = [i]


def _plan_two_qubit_blocks(shapes, keep_apart=frozenset()):
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
        if i is not None and i != exclude and isinstance(out[i], _PBlock) and len(out[i].qubits) == 1:
            b = out[i]
            out[i] = None
            return b
        return None

    for i, s in enumerate(shapes):
        targets, controls = s.targets, s.controls
        qs = None if keep_apart and not keep_apart.isdisjoint(targets + controls) else \
            _block_qubits(targets, controls)
        if qs is None:
            for q in controls + targets:
                last[q] = len(out)
            out.append(i)
            continue
        js = [last[q] for q in qs if q in last]
        j = max(js) if js else None
        target = out[j] if j is not None else None
        if isinstance(target, _PBlock) and len(set(target.qubits) | set(qs)) <= 2 and (
                target.dense or (len(target.qubits) == 1 and (len(qs) == 1 or not s.diagonal))):
            target.original = None
            new = tuple(q for q in qs if q not in target.qubits)
            if new:
                pair = target.qubits + new
                pre = take_one_qubit_block(new[0], j)
                target.ops.append(("pair", target.qubits, pair))
                if pre is not None:
                    target.ops.append(("post", pre.ops, new[0], pair))
                    target.members += pre.members
                target.qubits = pair
                target.dense = True
            target.members.append(i)
            if len(target.qubits) == 1:
                target.ops.append(("mul", i))
            elif len(qs) == 1:
                target.ops.append(("left", 0 if qs[0] == target.qubits[0] else 1, i))
                target.left = True
            else:
                if target.left:
                    target.ops.append(("settle",))
                    target.left = False
                target.ops.append(("mulon", i, qs, target.qubits))
                target.dense = True
            for q in qs:
                last[q] = j
            continue
        block = _PBlock(qs, False, i)
        if len(qs) == 2 and not s.diagonal:
            pres = [(q, take_one_qubit_block(q, None)) for q in qs]
            for q, pre in pres:
                if pre is not None:
                    block.ops.append(("post", pre.ops, q, qs))
                    block.members += pre.members
                    block.dense = True
                    block.original = None
            block.dense = block.dense or not controls
        for q in qs:
            last[q] = len(out)
        out.append(block)
    entries = []
    for it in out:
        if it is None:
            continue
        if isinstance(it, _PBlock):
            # a gate nothing joined goes out as it came (a lone cnot keeps its control form)
            if it.original is not None:
                entries.append(it.original)
                continue
            if it.left:
                it.ops.append(("settle",))
            entries.append(Block(it.qubits, it.ops, tuple(sorted(it.members))))
        else:
            entries.append(it)
    return entries


def _plan_runs(shapes):
    """Runs of uncontrolled one-qubit gates on one qubit merged; everything else as it came."""
    out: list = []
    pending: dict = {}

    def flush(q):
        run = pending.pop(q, None)
        if run is not None:
            out.append(run[0] if len(run) == 1 else
                       Block((q,), [("set", run[0])] + [("mul", k) for k in run[1:]], tuple(run)))

    for i, s in enumerate(shapes):
        if len(s.targets) == 1 and not s.controls:
            pending.setdefault(s.targets[0], []).append(i)
            continue
        for q in s.controls + s.targets:
            flush(q)
        out.append(i)
    for q in list(pending):
        flush(q)
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


# The largest dense block is chosen per circuit by the kernels' measured cost on this machine
# (``choose_block_size``, ``qsim.kernels.costs``), up to what the tiled dense kernel takes.  A
# diagonal block costs one pass whatever its size; its qubits are capped so that its diagonal stays
# in the first-level cache.
MAX_BLOCK_QUBITS = 5
MAX_DIAGONAL_QUBITS = 10
# Below this many qubits the state is cache-resident and a bind's numpy work outweighs passes saved.
K_BLOCKS_MIN_QUBITS = 14
# From here on the state is in DRAM and the block size comes from the measured cost model; below,
# blocks of SMALL_STATE_BLOCK_QUBITS (what the packed small-state kernels take, qsim.state.packed).
COST_MODEL_MIN_QUBITS = CALIBRATE_MIN_QUBITS
SMALL_STATE_BLOCK_QUBITS = 3
# Pivot blocks (qsim.state.pivot) from here on: above the packed small-state programs
# (qsim.state.packed, up to 14 qubits), which take dense and diagonal blocks only.
PIVOT_MIN_QUBITS = 15


def _width(shapes) -> int:
    return 1 + max((max(sh.targets + sh.controls) for sh in shapes if sh.targets or sh.controls), default=-1)


class _KBlock:
    __slots__ = ("qubits", "diagonal", "members")

    def __init__(self, qubits, diagonal, i):
        self.qubits, self.diagonal, self.members = list(qubits), diagonal, [i]


class _Pivot:
    """A pivot block while planning (``qsim.state.pivot``): one-qubit gates on ``pivot``, then
    diagonal gates on ``pivot`` and at most one other qubit each, or on one qubit."""

    __slots__ = ("pivot", "qubits", "members")

    def __init__(self, pivot, members):
        self.pivot, self.qubits, self.members = pivot, [pivot], list(members)


def _joins_pivot(b, s, qs) -> bool:
    return isinstance(b, _Pivot) and s.diagonal and bool(s.targets) and (
        len(qs) == 1 or (len(qs) == 2 and b.pivot in qs))


def _pivot_for(out, last, s, qs, keep_apart):
    """The index in ``out`` of the pivot block the diagonal gate ``s`` on ``qs`` joins, or None.

    Taken, in order: a pivot block on one of ``qs`` (or any, for a one-qubit gate) that is last on
    all its qubits; else the oldest dense one-qubit block on one of ``qs`` that is last on its qubit
    (it becomes a pivot block).  Either is moved to the end of ``out`` if it is not there (nothing
    after it touches its qubits, so it commutes with everything it passes), which puts the gate
    after every other item on its qubits."""
    owners = sorted({last[q] for q in qs if q in last})
    pick = None
    for o in reversed(owners):
        b = out[o]
        if _joins_pivot(b, s, qs) and all(last.get(q) == o for q in b.qubits):
            pick = o
            break
    if pick is None:
        for o in owners:
            b = out[o]
            if isinstance(b, _KBlock) and not b.diagonal and len(b.qubits) == 1 and b.qubits[0] in qs \
                    and b.qubits[0] not in keep_apart and last.get(b.qubits[0]) == o:
                out[o] = _Pivot(b.qubits[0], b.members)
                pick = o
                break
    if pick is None:
        return None
    if pick != len(out) - 1:
        b = out[pick]
        out[pick] = None
        out.append(b)
        pick = len(out) - 1
        for q in b.qubits:
            last[q] = pick
    return pick


def _plan_k_blocks(shapes, max_dense, max_diagonal, keep_apart=frozenset(), pivots=False):
    """Greedy fusion into dense blocks of up to ``max_dense`` qubits and diagonal blocks of up to
    ``max_diagonal`` qubits (a gate's qubits are its targets and controls).

    A gate may join the output ``j`` that last touched any of its qubits (nothing later touches
    them, so moving the gate there keeps the order on every qubit).  A diagonal gate joins a
    diagonal block while the union stays within ``max_diagonal`` qubits (the QFT's controlled phases
    after each h become one pass) and a dense block only if it adds no qubit; a non-diagonal gate
    joins a dense block while the union stays within ``max_dense`` qubits, and takes along the
    other dense blocks that are last on its qubits (disjoint from block ``j``, so they commute with
    it) when they fit too.  Otherwise the gate starts a block.  Gates touching ``keep_apart`` (the
    distributed state's global qubits) are never merged.

    With ``pivots``, a diagonal gate on at most two qubits whose block ``j`` is a dense one-qubit
    block on one of them (an ``h`` before the QFT's controlled phases) turns it into a pivot block
    (``_Pivot``, ``qsim.state.pivot``: one pass whatever its width), which takes every later
    diagonal gate on its pivot and one other qubit (or on one qubit) that reaches it; such a gate
    may touch ``keep_apart`` (the distributed state folds a global qubit's factor per rank)."""
    out: list = []
    last: dict = {}
    for i, s in enumerate(shapes):
        qs = tuple(s.controls) + tuple(s.targets)
        if pivots and s.diagonal and s.targets and len(qs) <= 2:
            j = _pivot_for(out, last, s, qs, keep_apart)
            if j is not None:
                b = out[j]
                b.members.append(i)
                b.qubits += [q for q in qs if q not in b.qubits]
                for q in qs:
                    last[q] = j
                continue
        if not s.targets or s.relabel or (keep_apart and not keep_apart.isdisjoint(qs)):
            for q in qs:
                last[q] = len(out)
            out.append(i)
            continue
        owners = sorted({last[q] for q in qs if q in last})
        j = owners[-1] if owners else None
        b = out[j] if j is not None else None
        joined = False
        if isinstance(b, _KBlock):
            union = set(b.qubits) | set(qs)
            if s.diagonal and b.diagonal and len(union) <= max_diagonal:
                joined = True
            elif s.diagonal and not b.diagonal and len(union) == len(b.qubits):
                joined = True
            elif not s.diagonal and not b.diagonal:
                others = [out[o] for o in owners[:-1]]
                if all(isinstance(o, _KBlock) and not o.diagonal and
                       all(last.get(q) == out.index(o) for q in o.qubits) for o in others):
                    for o in others:
                        union |= set(o.qubits)
                    if len(union) <= max_dense:
                        for o in others:
                            idx = out.index(o)
                            b.members = o.members + b.members
                            b.qubits += [q for q in o.qubits if q not in b.qubits]
                            out[idx] = None
                            for q in o.qubits:
                                last[q] = j
                        joined = True
        if not joined and not s.diagonal:
            # A dense block that is last on all its qubits may move to the end of the list (nothing
            # after it touches its qubits), which puts it after every other item on the gate's
            # qubits: the gate joins it there.  The fullest such block that still fits is taken.
            pick, size = None, 0
            for o in owners:
                ob = out[o]
                if isinstance(ob, _KBlock) and not ob.diagonal and all(last.get(q) == o for q in ob.qubits):
                    u = len(set(ob.qubits) | set(qs))
                    if u <= max_dense and u > size:
                        pick, size = o, u
            if pick is not None:
                b = out[pick]
                out[pick] = None
                j = len(out)
                out.append(b)
                for q in b.qubits:
                    last[q] = j
                joined = True
        if joined:
            b.qubits += [q for q in qs if q not in b.qubits]
            b.members.append(i)
            for q in qs:
                last[q] = j
            continue
        for q in qs:
            last[q] = len(out)
        out.append(_KBlock(qs, s.diagonal, i))
    entries = []
    for it in out:
        if it is None:
            continue
        if isinstance(it, _Pivot):
            entries.append(Block(tuple(it.qubits), [("pivot", it.pivot, tuple(it.members))], tuple(sorted(it.members))))
            continue
        if isinstance(it, _KBlock):
            if len(it.members) == 1:
                entries.append(it.members[0])  # a gate nothing joined goes out as it came
                continue
            bq = tuple(it.qubits)
            members = sorted(it.members)
            if it.diagonal:
                ops = [("ones", len(bq))] + [("dmul", m, shapes[m].controls + shapes[m].targets, bq)
                                            for m in members]
            else:
                ops = [("eye", len(bq))]
                ops += [("emb", m, shapes[m].controls + shapes[m].targets, bq) for m in members]
            entries.append(Block(bq, ops, tuple(members)))
        else:
            entries.append(it)
    return entries


def plan(shapes, *, mode: str = "blocks", keep_apart=frozenset(), max_qubits: int | None = None,
         precision: str = "double") -> Plan:
    """``mode="blocks"``: without ``max_qubits``, a circuit narrower than ``K_BLOCKS_MIN_QUBITS``
    gets two-qubit blocks, one narrower than ``COST_MODEL_MIN_QUBITS`` (a state in cache, where the
    DRAM-measured costs do not apply) blocks of ``SMALL_STATE_BLOCK_QUBITS``, a wider one the
    cheapest of the plans with blocks of at most 2..5 qubits by the measured cost of the kernels on
    this machine (``choose_block_size``)."""
    shapes = list(shapes)
    if mode == "blocks" and max_qubits is None:
        width = _width(shapes)
        if width < K_BLOCKS_MIN_QUBITS:
            return Plan(shapes, _plan_two_qubit_blocks(shapes, keep_apart))
        if width < COST_MODEL_MIN_QUBITS:
            return Plan(shapes, _plan_k_blocks(shapes, SMALL_STATE_BLOCK_QUBITS, MAX_DIAGONAL_QUBITS, keep_apart,
                                               pivots=width >= PIVOT_MIN_QUBITS))
        return Plan(shapes, choose_block_size(shapes, width, keep_apart, precision)[1])
    if mode == "blocks" and max_qubits > 2:
        return Plan(shapes, _plan_k_blocks(shapes, max_qubits, MAX_DIAGONAL_QUBITS, keep_apart,
                                           pivots=_width(shapes) >= PIVOT_MIN_QUBITS))
    if mode == "blocks":
        return Plan(shapes, _plan_two_qubit_blocks(shapes, keep_apart))
    if mode == "runs":
        return Plan(shapes, _plan_runs(shapes))
    if mode == "none":
        return Plan(shapes, list(range(len(shapes))))
    raise ValueError(f"unknown fusion mode {mode!r}")


# Passes of the items that are not dense blocks: a diagonal block or gate, a permutation, a
# controlled gate (their kernels touch the state once at most; a controlled one less).
_OTHER_PASSES = 1.0
_CONTROLLED_PASSES = 0.5


def plan_cost(shapes, entries, costs) -> float:
    """Estimated passes over the state of a plan's ``entries``, with ``costs[k]`` the passes of a
    dense k-qubit block (``qsim.kernels.costs.dense_costs``)."""
    top = max(costs)
    total = 0.0
    for e in entries:
        if isinstance(e, Block):
            if e.ops[0][0] == "pivot":
                total += _OTHER_PASSES
                continue
            diagonal = e.ops[0][0] == "ones"
            k = len(e.qubits)
            total += _OTHER_PASSES if diagonal else costs[min(k, top)] * (1 << max(0, k - top))
            continue
        s = shapes[e]
        if s.relabel:
            continue
        if s.controls:
            total += _CONTROLLED_PASSES
        elif s.diagonal or len(s.targets) == 0:
            total += _OTHER_PASSES
        else:
            k = len(s.targets)
            total += costs[min(k, top)] * (1 << max(0, k - top))
    return total


def choose_block_size(shapes, width, keep_apart=frozenset(), precision="double", costs=None):
    """(k, entries): the plan with blocks of at most k = 2..``MAX_BLOCK_QUBITS`` qubits that the cost
    model says is cheapest (``costs``: ``{k: passes}``, default measured on this machine)."""
    if costs is None:
        from qsim.kernels.costs import dense_costs

        costs = dense_costs(precision, width)
    best = None
    for k in range(2, MAX_BLOCK_QUBITS + 1):
        plans = [_plan_k_blocks(shapes, k, MAX_DIAGONAL_QUBITS, keep_apart, pivots=width >= PIVOT_MIN_QUBITS)]
        if k == 2:
            plans.append(_plan_two_qubit_blocks(shapes, keep_apart))
        for entries in plans:
            c = plan_cost(shapes, entries, costs)
            if best is None or c < best[0] - 1e-9:
                best = (c, k, entries)
    return best[1], best[2]


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
