"""Which fusion plan a circuit gets: the planner by mode and the circuit's width, and the largest
dense block by the kernels' cost measured on this machine.

Who calls this: ``qsim.state.fusion.plan`` (``entries_for``; ``plan_cost`` and
``choose_block_size`` are re-exported there too).  The planners themselves, which see shapes only,
are in ``qsim.state.fusion_plan``; the measured costs (``{k: passes}`` of a dense k-qubit block,
cached per machine) in ``qsim.kernels.costs``.  ``plan_cost`` counts a plan's passes over the state
with those costs, and ``choose_block_size`` keeps the cheapest of the plans with blocks of at most
2..``MAX_BLOCK_QUBITS`` qubits.
"""

from __future__ import annotations

from qsim.kernels.costs import CALIBRATE_MIN_QUBITS
from qsim.state.fusion_plan import Block, _plan_k_blocks, _plan_runs, _plan_two_qubit_blocks

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


def entries_for(shapes, *, mode: str = "blocks", keep_apart=frozenset(), max_qubits: int | None = None,
                precision: str = "double") -> list:
    """``Plan.entries`` for ``shapes`` (see ``qsim.state.fusion.plan``).  ``mode="blocks"``: without
    ``max_qubits``, a circuit narrower than ``K_BLOCKS_MIN_QUBITS`` gets two-qubit blocks, one
    narrower than ``COST_MODEL_MIN_QUBITS`` (a state in cache, where the DRAM-measured costs do not
    apply) blocks of ``SMALL_STATE_BLOCK_QUBITS``, a wider one the cheapest of the plans with blocks
    of at most 2..5 qubits by the measured cost of the kernels on this machine
    (``choose_block_size``)."""
    if mode == "blocks" and max_qubits is None:
        width = _width(shapes)
        if width < K_BLOCKS_MIN_QUBITS:
            return _plan_two_qubit_blocks(shapes, keep_apart)
        if width < COST_MODEL_MIN_QUBITS:
            return _plan_k_blocks(shapes, SMALL_STATE_BLOCK_QUBITS, MAX_DIAGONAL_QUBITS, keep_apart,
                                  pivots=width >= PIVOT_MIN_QUBITS)
        return choose_block_size(shapes, width, keep_apart, precision)[1]
    if mode == "blocks" and max_qubits > 2:
        return _plan_k_blocks(shapes, max_qubits, MAX_DIAGONAL_QUBITS, keep_apart,
                              pivots=_width(shapes) >= PIVOT_MIN_QUBITS)
    if mode == "blocks":
        return _plan_two_qubit_blocks(shapes, keep_apart)
    if mode == "runs":
        return _plan_runs(shapes)
    if mode == "none":
        return list(range(len(shapes)))
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
