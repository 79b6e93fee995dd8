"""What each gate needs from the distribution: nothing, a relabel, or some qubits made local first.

Called by ``qsim.distributed.state`` only; no MPI, no amplitudes.  ``classify`` reduces an item
``(targets, matrix, controls, control_states)`` with ``qsim.state.kinds.classify`` (the same
classification the single-process state uses: targets on which the matrix only acts as a control
become controls) and sorts it into

* ``diag``  - diagonal (or scalar) on its targets: never moves data; a global target contributes a
  rank-dependent factor, a global control a rank predicate;
* ``swap``  - an uncontrolled swap of two qubits: only ``Layout.pos`` changes;
* ``mono``  - one non-zero per row (x, y, cnot, ccnot, cswap, iswap...): a relabel of blocks when
  every target and control is global, otherwise like ``dense``;
* ``dense`` - anything else: every global target must first be swapped with a local qubit;
* ``pivot`` - a fused pivot block (``qsim.state.pivot``): its target is the pivot, which must be
  local (a ``dense`` one-qubit gate on it comes first); its diagonal factors on global qubits are
  folded into the block on each rank, so they move no data.

``choose_swaps`` is the look-ahead: which local qubits to evict for the global targets of item
``i``, and which global targets of later items to bring in by the same (batched) exchange.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qsim.state.kinds import classify as classify_kind
from qsim.state.pivot import PivotPhases

LOOKAHEAD = 256  # items scanned for a batch; the next-use scan below is unbounded
_NEVER = 1 << 62


@dataclass
class Op:
    kind: str
    targets: list
    matrix: np.ndarray
    controls: list
    values: list
    perm: np.ndarray | None = None
    phases: np.ndarray | None = None

    @property
    def needs_local(self) -> bool:
        return self.kind in ("dense", "mono", "pivot")


def classify(item) -> Op:
    """The distribution's view of ``qsim.state.kinds.classify`` (the one gate classification)."""
    targets, matrix, controls, values = item
    if type(matrix) is PivotPhases:
        return Op("pivot", [matrix.pivot], matrix, [], [])
    g = classify_kind(targets, np.asarray(matrix, dtype=np.complex128), controls, values)
    if g.is_diagonal:
        return Op("diag", g.targets, g.diag, g.controls, g.values)
    if g.kind == "swap" and not g.controls:
        return Op("swap", g.targets, g.matrix, g.controls, g.values, g.perm, g.phases)
    if g.is_permutation:
        return Op("mono", g.targets, g.matrix, g.controls, g.values, g.perm, g.phases)
    return Op("dense", g.targets, g.matrix, g.controls, g.values)


def is_relabel(op: Op, layout) -> bool:
    """A permutation acting only on global qubits: blocks are renumbered, no data moves."""
    return op.kind == "mono" and all(layout.is_global(q) for q in op.targets + op.controls)


def global_targets(op: Op, layout) -> list:
    if not op.needs_local or is_relabel(op, layout):
        return []
    return [q for q in op.targets if layout.is_global(q)]


def next_need(ops, start: int, qubits) -> dict:
    """Index of the first op at or after ``start`` that needs each of ``qubits`` local."""
    out = {q: _NEVER for q in qubits}
    waiting = set(qubits)
    for j in range(start, len(ops)):
        if not waiting:
            break
        op = ops[j]
        if op.needs_local:
            for q in op.targets:
                if q in waiting:
                    out[q] = j
                    waiting.discard(q)
    return out


def choose_swaps(ops, i: int, layout):
    """(global qubits to bring in, local qubits to evict), aligned, for op ``i`` and the ops after it
    that the same exchange can serve.  Evicted: local qubits whose next need is farthest (never
    first), ties to the highest local bit (whose groups are the longest contiguous runs)."""
    op = ops[i]
    need = global_targets(op, layout)
    keep = set(op.targets)
    local = [layout.qubit_at[p] for p in range(layout.L)]
    nxt = next_need(ops, i + 1, [q for q in local if q not in keep])

    def evictees(count, horizon):
        cands = [q for q in nxt if nxt[q] > horizon]
        if len(cands) < count:
            return None
        cands.sort(key=lambda q: (-nxt[q], -layout.pos[q]))
        return cands[:count]

    if evictees(len(need), i) is None:
        return need, None
    horizon = i
    for j in range(i + 1, min(len(ops), i + LOOKAHEAD)):
        later = ops[j]
        if later.kind == "swap":
            break  # positions change there; plan again when we get to it
        extra = [q for q in global_targets(later, layout) if q not in need]
        if not extra:
            continue
        if len(need) + len(extra) > layout.g or evictees(len(need) + len(extra), j) is None:
            break
        need = need + extra
        horizon = j
    return need, evictees(len(need), horizon)
