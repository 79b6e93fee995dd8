"""Compiled circuits: a program with free parameters remapped, lowered and fusion-planned once,
then bound to new parameter values per call.

Who calls this: ``qsim.device`` (which caches one ``CompiledCircuit`` per program) and
``qsim.state.executor.execute_compiled``.  Lowering itself lives in ``qsim.state.lowering``; the
fast re-binding of rotation layers in ``qsim.state.rebind``.
"""

from __future__ import annotations

import numpy as np

from qsim.circuit.operations import Conditional, GateOp, Measure, Reset
from qsim.state import small
from qsim.state.lowering import Unitaries, gate_items, later_uses, lower
from qsim.state.rebind import VECTOR_BUILDERS, FastBinder


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
        # gates whose matrices are built many at a time (see VECTOR_BUILDERS)
        self.kind = self.spec.name if self.spec.name in VECTOR_BUILDERS and not op.exponents else None

    def matrix(self, values):
        from qsim.circuit import gates as _gates

        m = self.spec.matrix_fn(*[f(values) for f in self.fns])
        for e in reversed(self.exponents):
            m = _gates.matrix_power(m, e)
        return m


_DENSE_CONSTANTS_MAX_QUBITS = 16
_FLOATS = frozenset({float, np.float64})


def _monomial_members(items, param_index) -> set:
    """Indices of the constant items whose matrix is a permutation with phases (or diagonal): a
    product of such is one too, so a block of them needs no dense kernel."""
    from qsim.state.kinds import classify

    out = set()
    for i, (targets, m, controls, states) in enumerate(items):
        if i in param_index or m is None:
            continue
        k = classify(targets, m, controls, states)
        if k.is_permutation or k.is_diagonal:
            out.add(i)
    return out


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
        qubits_after, bits_after = later_uses(self.instructions)
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
                item = gate_items(op)
                items.append(item)
                shapes.append(shape_of(item))
        self._matrices = [it[1] for it in items]
        mode = ("blocks" if absorb_into_two_qubit and not _one_target_entanglers(n, items) else "runs") \
            if fusion else "none"
        self._plan = plan(shapes, mode=mode, precision=precision)  # block sizes from its precision's costs
        param_index = {g.index for g in self.params}
        monomial = _monomial_members(items, param_index) if n > _DENSE_CONSTANTS_MAX_QUBITS else set()
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
            elif dense and all(m in monomial for m in members):
                # a block of constant permutations and phases (a cnot ladder's stretch) is itself
                # one: on a large state the monomial kernel, not a dense pass (n=26, one thread
                # on half the state: 4 qubits 0.22 s against 0.35 s)
                dense = False
            self.dense.append(dense)
        self._groups = _vector_groups(self.params)
        self._fused = None
        self._last = None
        self._fast = FastBinder.build(self, items, shapes)
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
            mats = VECTOR_BUILDERS[kind](angles)
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
