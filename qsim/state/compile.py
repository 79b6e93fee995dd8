"""Lower a Circuit to the steps the executor runs: fused unitaries, measurements, resets, branches.

Qubits are remapped to 0..n-1 (sorted labels) first, as Braket does: only used qubits are simulated.
A ``Measure`` is *terminal* when no later instruction touches its qubit and no later condition reads
its bit; terminal measurements only say which qubits are read out.  Any other measurement collapses
the state (a *mid-circuit* measurement).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qsim.circuit.operations import Conditional, GateOp, Measure, Reset
from qsim.errors import InternalError
from qsim.state import small
from qsim.state.fusion import fuse, fuse_two_qubit_blocks  # noqa: F401  (fuse_two_qubit_blocks re-exported)


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


def _later_uses(instructions):
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


def _gate_items(op: GateOp):
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
    qubits_after, bits_after = _later_uses(instructions)
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
            batch.append(_gate_items(op))
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


# ------------------------------------------------------------------------------ compiled circuits
def _generic_diagonal(op) -> bool:
    """Whether a parametrised gate's matrix is diagonal for *every* parameter value: tested at two
    random points (a trigonometric matrix entry that vanishes at both is identically zero)."""
    rng = np.random.default_rng(7)
    for _ in range(2):
        values = {p: float(rng.uniform(-7, 7)) for p in op.free_parameters()}
        m = op.bind(values).matrix()
        if np.count_nonzero(np.abs(m - np.diag(np.diagonal(m))) > 1e-14):
            return False
    return True


def _angle_fn(p):
    """A function values -> float for one gate argument."""
    from qsim.circuit.parameters import FreeParameter, ParameterExpression

    if isinstance(p, FreeParameter):
        name = p.name
        return lambda values: float(values[name])
    if isinstance(p, ParameterExpression):
        return p.bind
    value = float(p)
    return lambda values: value


def _vec_rx(t):
    c, s = np.cos(t / 2), np.sin(t / 2)
    out = np.empty((len(t), 2, 2), dtype=np.complex128)
    out[:, 0, 0] = c
    out[:, 1, 1] = c
    out[:, 0, 1] = -1j * s
    out[:, 1, 0] = -1j * s
    return out


def _vec_ry(t):
    c, s = np.cos(t / 2), np.sin(t / 2)
    out = np.empty((len(t), 2, 2), dtype=np.complex128)
    out[:, 0, 0] = c
    out[:, 1, 1] = c
    out[:, 0, 1] = -s
    out[:, 1, 0] = s
    return out


def _vec_rz(t):
    out = np.zeros((len(t), 2, 2), dtype=np.complex128)
    out[:, 0, 0] = np.exp(-0.5j * t)
    out[:, 1, 1] = np.exp(0.5j * t)
    return out


def _vec_phaseshift(t):
    out = np.zeros((len(t), 2, 2), dtype=np.complex128)
    out[:, 0, 0] = 1
    out[:, 1, 1] = np.exp(1j * t)
    return out


# Built-in gates whose matrices a compiled circuit builds for all their occurrences in one numpy
# pass (tests/test_compiled.py checks them against qsim.circuit.gates).
_VECTOR_BUILDERS = {"rx": _vec_rx, "ry": _vec_ry, "rz": _vec_rz, "phaseshift": _vec_phaseshift}
# The same four as codes of qsim.kernels.reductions.rotation_matrices (one Numba call for all).
_ROTATION_CODES = {"rx": 0, "ry": 1, "rz": 2, "phaseshift": 3}


def _vector_groups(params):
    groups: dict = {}
    for g in params:
        if g.kind is not None:
            groups.setdefault(g.kind, []).append(g)
    return groups


class _ParamGate:
    """One parametrised gate of a compiled circuit: its item index and how to build its matrix."""

    __slots__ = ("index", "names", "fns", "spec", "exponents", "kind", "direct")

    def __init__(self, index, op):
        from qsim.circuit import gates as _gates
        from qsim.circuit.parameters import FreeParameter

        self.index = index
        self.names = tuple(sorted(op.free_parameters()))
        self.fns = [_angle_fn(p) for p in op.params]
        # the parameter's name when the gate's only argument is a bare parameter (the usual case)
        self.direct = op.params[0].name if len(op.params) == 1 and isinstance(op.params[0], FreeParameter) else None
        self.spec = _gates.lookup(op.name)
        self.exponents = op.exponents
        # gates whose matrices are built many at a time (see _VECTOR_BUILDERS)
        self.kind = self.spec.name if self.spec.name in _VECTOR_BUILDERS and not op.exponents else None

    def matrix(self, values):
        from qsim.circuit import gates as _gates

        m = self.spec.matrix_fn(*[f(values) for f in self.fns])
        for e in reversed(self.exponents):
            m = _gates.matrix_power(m, e)
        return m


_DENSE_CONSTANTS_MAX_QUBITS = 16
_FLOATS = frozenset({float, np.float64})


def _one_target_entanglers(n, items) -> bool:
    """Whether a circuit that will run as a packed program (``qsim.state.packed``) has only gates
    that act on one target once their controls are folded out (rotations, cnot/cz ladders): its
    two-qubit blocks would turn each free permutation or phase into a dense 4x4 product (four
    complex products per amplitude, scalar), where the one-qubit kernels take two and vectorise.
    Such a circuit fuses runs of one-qubit gates only."""
    if n == 0 or small.handles(n):  # (a tiny state runs on NumPy: nothing packed, no Numba import)
        return False
    from qsim.state.kinds import classify
    from qsim.state.packed import PACKED_MAX_QUBITS

    if n > PACKED_MAX_QUBITS:
        return False
    for targets, m, controls, states in items:
        if len(targets) + len(controls) < 2:
            continue
        if m is None or len(classify(targets, m, controls, states).targets) > 1:
            return False  # a parametrised multi-qubit gate, or a dense one
    return True


class CompiledCircuit:
    """A circuit with free parameters, remapped, lowered and fusion-planned once.

    ``unitaries(values)`` gives the fused items for new parameter values, recomputing only the
    matrices of gates whose parameters changed since the last call and only the fused blocks that
    contain them (``qsim.state.fusion.Plan.rebind``).  Circuits with mid-circuit measurement, reset
    or feed-forward are lowered per call (``steps``); so are programs without a straight line.
    On a small single-process state the fused items run as one packed program (``qsim.state.packed``,
    built on the first run).
    Called by ``qsim.state.executor.execute_compiled`` (the device caches one per program).
    """

    def __init__(self, circuit, *, fusion: bool = True, absorb_into_two_qubit: bool = True, precision: str = "double"):
        from qsim.state.fusion import plan, shape_of

        self.circuit = circuit
        self.labels = circuit.qubits
        n = len(self.labels)
        self.n = n
        if self.labels == tuple(range(n)):
            self.mapping = None
            self.instructions = list(circuit.instructions)
            self.result_types = list(circuit.result_types)
        else:
            self.mapping = {q: i for i, q in enumerate(self.labels)}
            self.instructions = [op.remap(self.mapping) for op in circuit.instructions]
            self.result_types = [r.remap(self.mapping) for r in circuit.result_types]
        self.free = circuit.free_parameters()
        self.fusion, self.absorb, self.precision = fusion, absorb_into_two_qubit, precision
        qubits_after, bits_after = _later_uses(self.instructions)
        straight = True
        for i, op in enumerate(self.instructions):
            if isinstance(op, (Reset, Conditional)) or (
                    isinstance(op, Measure) and (op.qubit in qubits_after[i] or op.bit in bits_after[i])):
                straight = False
        self.straight = straight
        self.gate_ops = [op for op in self.instructions if isinstance(op, GateOp)]
        self.terminal = [(op.qubit, op.bit) for op in self.instructions if isinstance(op, Measure)] if straight else None
        self._plan = None
        if not straight:
            return
        items, shapes, self.params = [], [], []
        for op in self.gate_ops:
            if op.free_parameters():
                self.params.append(_ParamGate(len(items), op))
                items.append((op.targets, None, op.controls, op.control_states))
                shapes.append(shape_of((op.targets, np.eye(1), op.controls, op.control_states),
                                       diagonal=_generic_diagonal(op)))
            else:
                item = _gate_items(op)
                items.append(item)
                shapes.append(shape_of(item))
        self._matrices = [it[1] for it in items]
        mode = ("blocks" if absorb_into_two_qubit and not _one_target_entanglers(n, items) else "runs") \
            if fusion else "none"
        self._plan = plan(shapes, mode=mode, precision=precision)  # block sizes from its precision's costs
        param_index = {g.index for g in self.params}
        self.dense = []
        self.constant = []  # per fused item: its matrix never changes
        for j, e in enumerate(self._plan.entries):
            members = self._plan.members(j)
            self.constant.append(not any(m in param_index for m in members))
            dense = any(not shapes[m].diagonal for m in members) and len(shapes[members[0]].targets) > 0
            if isinstance(e, int) and e not in param_index:
                # a constant gate left alone (a cnot of a chain): on a small state the structure
                # analysis costs more than a dense pass; on a large one its cheaper kernel wins
                s = shapes[e]
                dense = dense and n <= _DENSE_CONSTANTS_MAX_QUBITS and len(s.targets) + len(s.controls) <= 2
            self.dense.append(dense)
        self._groups = _vector_groups(self.params)
        self._fused = None
        self._last = None
        self._fast = _FastBinder.build(self, items, shapes)
        self._program = False  # not built yet (qsim.state.packed; built on the first run)
        self.run_cache: dict = {}  # what the executor derives from the program alone (qsim.state.executor._run)

    def check_values(self, values) -> dict:
        """``values`` with every free parameter present as a finite float (a clear error if not)."""
        from qsim.circuit.parameters import FreeParameter

        missing = self.free - values.keys()
        if missing:
            from qsim.errors import ValidationError

            raise ValidationError(f"no value given for free parameter(s) {sorted(missing)}; "
                                  f"pass inputs={{name: value}}")
        if len(values) == len(self.free):  # exactly the parameters: check them all at C speed
            kinds = set(map(type, values.values()))
            if kinds <= _FLOATS:
                total = sum(values.values())
                if total - total == 0.0:  # all finite (an overflow to inf takes the slow path)
                    return dict(values) if kinds == {float} else {k: float(v) for k, v in values.items()}
        out = dict(values)
        for p in self.free:
            v = out[p]
            if type(v) is float and v - v == 0.0:
                continue
            if type(v) is np.float64 and v - v == 0.0:  # a numpy float (what optimisers hand over)
                out[p] = float(v)
                continue
            out[p] = FreeParameter(p).bind(out)  # not a finite float: convert or refuse
        return out

    def unitaries(self, values) -> list:
        """The fused ``(targets, matrix, controls, states)`` items of a straight-line circuit."""
        if self._fast is not None:
            self._fused = self._fast.unitaries(values)
            return self._fused
        last = self._last
        if self._fused is None:
            for g in self.params:
                if g.kind is None:
                    self._matrices[g.index] = g.matrix(values)
            self._vector_matrices(self._groups, values)
            self._fused = self._plan.bind(self._matrices)
        else:
            changed, groups = [], {}
            for g in self.params:
                if any(values[p] != last[p] for p in g.names):
                    if g.kind is None:
                        self._matrices[g.index] = g.matrix(values)
                    else:
                        groups.setdefault(g.kind, []).append(g)
                    changed.append(g.index)
            if groups:
                self._vector_matrices(groups, values)
            if changed:
                self._fused = self._plan.rebind(self._fused, self._matrices, changed)
        self._last = {p: values[p] for p in self.free}
        return self._fused

    def _vector_matrices(self, groups, values):
        """The matrices of many rx/ry/rz/phaseshift gates at once (numpy over their angles)."""
        for kind, gates in groups.items():
            angles = np.array([g.fns[0](values) for g in gates])
            mats = _VECTOR_BUILDERS[kind](angles)
            for g, m in zip(gates, mats):
                self._matrices[g.index] = m

    def steps(self, values):
        """(steps, terminal measurements) for ``values``, as ``lower`` gives them."""
        if self.straight:
            items = self.unitaries(values)
            if self._program is False and small.handles(self.n):
                self._program = None  # a tiny state applies gates with NumPy (qsim.state.small): no Numba
            if self._program is False:
                from qsim.state.packed import PackedProgram

                fast = self._fast
                self._program = PackedProgram.build(self.n, items, self.constant,
                                                    None if fast is None else {"out": fast.out, "raw": fast.raw},
                                                    None if fast is None else fast.sources)
            return ([Unitaries(items, self.dense, self._program)] if items else []), self.terminal
        bound = [op.bind(values) if hasattr(op, "bind") else op for op in self.instructions]
        return lower(bound, fusion=self.fusion, absorb_into_two_qubit=self.absorb, precision=self.precision)


class _FastBinder:
    """Re-binding for compiled circuits whose parametrised gates are uncontrolled and act on at most
    two qubits (rotation layers, entanglers): the gates' matrices live in one array, rotations are
    written into it many at a time, and the fused blocks holding changed gates are recomputed by one
    Numba call (``qsim.kernels.reductions.block_products``).  The fused items are views of those
    arrays, updated in place."""

    @classmethod
    def build(cls, compiled, items, shapes):
        from qsim.state.fusion import Block, _as_block, _block_qubits

        plan = compiled._plan
        if not compiled.params or any(items[g.index][2] or len(items[g.index][0]) > 2 for g in compiled.params):
            return None
        self = cls()
        G = len(items)
        self.raw = np.zeros((G, 4, 4), dtype=np.complex128)
        for i, (targets, m, controls, states) in enumerate(items):
            if m is None or len(targets) + len(controls) > 2:
                continue
            if controls:
                m = _as_block(targets, m, controls, states)[1]
            d = m.shape[0]
            self.raw[i, :d, :d] = m
        codes, members, starts, block_of_entry = [], [], [0], {}
        for j, e in enumerate(plan.entries):
            if not isinstance(e, Block):
                continue
            if len(e.qubits) > 2:  # a planner's larger blocks: re-bound by Plan.rebind instead
                return None
            for g in sorted(e.members):
                s = shapes[g]
                bq = _block_qubits(s.targets, s.controls)
                if bq is None or not set(bq) <= set(e.qubits):
                    return None
                if len(e.qubits) == 1:
                    codes.append(4)
                elif len(bq) == 1:
                    codes.append(0 if bq[0] == e.qubits[0] else 1)
                else:
                    codes.append(2 if bq == e.qubits else 3)
                members.append(g)
            starts.append(len(members))
            block_of_entry[j] = len(starts) - 2
        self.codes = np.array(codes, dtype=np.int64)
        self.members = np.array(members, dtype=np.int64)
        self.starts = np.array(starts, dtype=np.int64)
        self.out = np.zeros((max(len(starts) - 1, 1), 4, 4), dtype=np.complex128)
        self.fused = []
        self.sources = []  # per fused item: ("out", block) or ("raw", gate) for its 4x4 array, or None
        for j, e in enumerate(plan.entries):
            if isinstance(e, Block):
                b = block_of_entry[j]
                self.fused.append((e.qubits, self.out[b] if len(e.qubits) == 2 else self.out[b, :2, :2], (), ()))
                self.sources.append(("out", b))
            elif items[e][1] is None:  # a parametrised gate on its own
                d = 1 << len(items[e][0])
                self.fused.append((items[e][0], self.raw[e, :d, :d], (), ()))
                self.sources.append(("raw", e))
            else:
                self.fused.append(items[e])
                self.sources.append(None)
        self.block_of_gate = {}
        for g in compiled.params:
            for j in plan.outputs_of(g.index):
                if j in block_of_entry:
                    self.block_of_gate[g.index] = block_of_entry[j]
        self.params = compiled.params
        self.groups = {k: (gs, np.array([g.index for g in gs], dtype=np.int64)) for k, gs in compiled._groups.items()}
        # per kind, the parameter names when every gate of the kind takes a bare parameter
        self.direct = {k: ([g.direct for g in gs] if all(g.direct for g in gs) else None)
                       for k, gs in compiled._groups.items()}
        self.all_blocks = np.arange(len(starts) - 1, dtype=np.int64)
        # every parameter's value in one array (in ``order``); the rotations that take a bare
        # parameter get their matrices from it in one Numba call (rotation_matrices)
        self.order = sorted(compiled.free)
        position = {p: i for i, p in enumerate(self.order)}
        direct = [g for g in compiled.params if g.kind in _ROTATION_CODES and g.direct is not None]
        self.rot_gates = np.array([g.index for g in direct], dtype=np.int64)
        self.rot_codes = np.array([_ROTATION_CODES[g.kind] for g in direct], dtype=np.int64)
        self.rot_params = np.array([position[g.direct] for g in direct], dtype=np.int64)
        self.rot_rest = [g for g in compiled.params if not (g.kind in _ROTATION_CODES and g.direct is not None)]
        self.last = None  # the parameter values of the last call, as an array in ``order``
        return self

    def unitaries(self, values):
        from qsim.kernels.reductions import block_products, rotation_matrices

        angles = np.fromiter(map(values.__getitem__, self.order), dtype=np.float64, count=len(self.order))
        previous, self.last = self.last, angles
        if previous is None or bool(np.all(angles != previous)):
            # every parameter changed (a variational loop): rebuild all, many at a time
            rotation_matrices(self.raw, self.rot_gates, self.rot_codes, angles[self.rot_params])
            for g in self.rot_rest:
                m = g.matrix(values) if g.kind is None else _VECTOR_BUILDERS[g.kind](np.array([g.fns[0](values)]))[0]
                self.raw[g.index, :m.shape[0], :m.shape[0]] = m
            block_products(self.raw, self.codes, self.members, self.starts, self.all_blocks, self.out)
            return self.fused
        moved = {self.order[i] for i in np.flatnonzero(angles != previous)}
        gates_by_kind, others = {}, []
        for g in self.params:
            if any(p in moved for p in g.names):
                if g.kind is None:
                    others.append(g)
                else:
                    gates_by_kind.setdefault(g.kind, []).append(g)
        changed = []
        for kind, gates in gates_by_kind.items():
            index = np.array([g.index for g in gates], dtype=np.int64)
            self.raw[index, :2, :2] = _VECTOR_BUILDERS[kind](np.array([g.fns[0](values) for g in gates],
                                                                      dtype=np.float64))
            changed += [g.index for g in gates]
        for g in others:
            m = g.matrix(values)
            self.raw[g.index, :m.shape[0], :m.shape[0]] = m
            changed.append(g.index)
        blocks = np.array(sorted({self.block_of_gate[i] for i in changed if i in self.block_of_gate}), dtype=np.int64)
        if blocks.shape[0]:
            block_products(self.raw, self.codes, self.members, self.starts, blocks, self.out)
        return self.fused
