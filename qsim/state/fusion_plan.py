"""Fusion planning: which gates go into which block, decided from their shapes only.

The half of ``qsim.state.fusion`` that never sees a matrix (that module binds the plans made here
and is the one entry point; callers import from it).  A planner gives a plan's entries: an ``int``
(an item going out as it came) or a ``Block(qubits, ops, members)``, whose ``ops`` are the recipe
``qsim.state.fusion.Plan.bind`` runs.  Three planners:

* ``_plan_two_qubit_blocks``: blocks on at most two qubits (narrow circuits);
* ``_plan_k_blocks``: dense blocks of up to k qubits, diagonal blocks, and pivot blocks (a
  one-qubit gate and the diagonals on its qubit after it, ``qsim.state.pivot``);
* ``_plan_runs``: runs of uncontrolled one-qubit gates (the distributed state fuses further itself).

Which planner a circuit gets, and k, is chosen in ``qsim.state.fusion_choice`` (``entries_for``:
by the circuit's width and the kernels' cost measured on this machine).
"""

from __future__ import annotations

from typing import NamedTuple


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


def _block_qubits(targets, controls):
    """The qubits of a gate's block (control first), or None if it is not a block candidate
    (no targets, or more than two qubits in all)."""
    if not targets or len(targets) + len(controls) > 2:
        return None
    return tuple(targets) if not controls else (controls[0], targets[0])


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
    all its qubits; else, for a two-qubit gate (a controlled phase), the oldest dense one-qubit
    block on one of ``qs`` that is last on its qubit (it becomes a pivot block; a one-qubit
    diagonal never starts one: it joins a dense block without widening it, and a pivot started
    by an rz would keep the next entangling gate from fusing with it).  Either is moved to the end
    of ``out`` if it is not there (nothing after it touches its qubits, so it commutes with
    everything it passes), which puts the gate after every other item on its qubits."""
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
            if len(qs) == 2 and isinstance(b, _KBlock) and not b.diagonal and len(b.qubits) == 1 \
                    and b.qubits[0] in qs and b.qubits[0] not in keep_apart and last.get(b.qubits[0]) == o:
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
