"""Lower a Circuit to the steps the executor runs: fused unitaries, measurements, resets, branches.

Who calls this: ``qsim.state.executor.execute`` (every run of a circuit with bound parameters) and
``qsim.state.compile.CompiledCircuit`` (once per program, and per call for programs that are not a
straight line).  The steps are run by ``qsim.state.paths``.

Qubits are remapped to 0..n-1 (sorted labels) first, as Braket does: only used qubits are simulated.
A ``Measure`` is *terminal* when no later instruction touches its qubit and no later condition reads
its bit; terminal measurements only say which qubits are read out.  Any other measurement collapses
the state (a *mid-circuit* measurement).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qsim.circuit.operations import Conditional, GateOp, Measure, Reset
from qsim.errors import InternalError
from qsim.state.fusion import fuse


@dataclass
class Unitaries:
    items: list  # (targets, matrix, controls, control_states), qubits already remapped
    # per item, True where the matrix is dense for every parameter value (a compiled circuit's
    # fused blocks and rotations): the single-process state skips the structure analysis
    dense: list | None = None
    # a compiled circuit's items packed for one kernel call on a small state (qsim.state.packed)
    program: object = None


@dataclass
class MeasureStep:
    qubit: int
    bit: int


@dataclass
class ResetStep:
    qubit: int


@dataclass
class Branch:
    condition: object
    then_steps: list = field(default_factory=list)
    else_steps: list = field(default_factory=list)


def later_uses(instructions):
    """For each position, the qubits touched and bits read by any *later* instruction."""
    qubits_after = [set() for _ in instructions]
    bits_after = [set() for _ in instructions]
    q_acc: set = set()
    b_acc: set = set()
    for i in range(len(instructions) - 1, -1, -1):
        qubits_after[i] = set(q_acc)
        bits_after[i] = set(b_acc)
        op = instructions[i]
        q_acc.update(op.qubits)
        if isinstance(op, Conditional):
            b_acc.update(op.condition.bits_used())
            # everything inside the branch also counts as later use for earlier ops
    return qubits_after, bits_after


_CONSTANT_MATRICES: dict = {}


def gate_items(op: GateOp):
    """The (targets, matrix, controls, control_states) of a remapped gate.  Matrices of gates
    without parameters (h, cnot, swap, powers of them...) are built once per process: a
    variational loop lowers the same circuit many times."""
    if op.params or op.unitary is not None:
        return (op.targets, op.matrix(), op.controls, op.control_states)
    key = (op.name, op.exponents)
    m = _CONSTANT_MATRICES.get(key)
    if m is None:
        m = op.matrix()
        m.flags.writeable = False
        if len(_CONSTANT_MATRICES) < 4096:
            _CONSTANT_MATRICES[key] = m
    return (op.targets, m, op.controls, op.control_states)


def lower(instructions, *, fusion: bool = True, absorb_into_two_qubit: bool = True, precision: str = "double"):
    """Steps for ``instructions`` (already remapped), plus the terminal measurements
    ``[(qubit, bit)]``.  Mid-circuit measurements become ``MeasureStep``s."""
    qubits_after, bits_after = later_uses(instructions)
    steps: list = []
    terminal: list = []
    batch: list = []

    def close_batch():
        if batch:
            items = fuse(batch, absorb_into_two_qubit, precision) if fusion else list(batch)
            steps.append(Unitaries(items))
            batch.clear()

    for i, op in enumerate(instructions):
        if isinstance(op, GateOp):
            batch.append(gate_items(op))
        elif isinstance(op, Measure):
            if op.qubit not in qubits_after[i] and op.bit not in bits_after[i]:
                terminal.append((op.qubit, op.bit))
            else:
                close_batch()
                steps.append(MeasureStep(op.qubit, op.bit))
        elif isinstance(op, Reset):
            close_batch()
            steps.append(ResetStep(op.qubit))
        elif isinstance(op, Conditional):
            close_batch()
            then_steps, t_term = lower(list(op.then_ops), fusion=fusion,
                                       absorb_into_two_qubit=absorb_into_two_qubit, precision=precision)
            else_steps, e_term = lower(list(op.else_ops), fusion=fusion,
                                       absorb_into_two_qubit=absorb_into_two_qubit, precision=precision)
            # measurements inside a branch are always physical: their bits differ per path
            then_steps += [MeasureStep(q, b) for q, b in t_term]
            else_steps += [MeasureStep(q, b) for q, b in e_term]
            steps.append(Branch(op.condition, then_steps, else_steps))
        else:
            raise InternalError(f"cannot lower instruction {op!r}")
    close_batch()
    return steps, terminal
