"""The one circuit representation, and the Python circuit API that builds it.

    >>> from qsim import Circuit, FreeParameter, observables as obs
    >>> theta = FreeParameter("theta")
    >>> c = Circuit().h(0).cnot(0, 1).rx(1, theta).expectation(obs.Z() @ obs.Z(), [0, 1])

Every built-in gate is a method taking its qubits first, then its angles, as in Braket's SDK:
``rx(target, angle)``, ``cnot(control, target)``, ``xx(q0, q1, angle)``.  One-qubit gates broadcast over
an iterable of targets.  Keyword modifiers: ``control=``/``control_state=`` (``ctrl@``/``negctrl@``) and
``power=`` (``pow(k)@``; ``-1`` is ``inv@``).  Qubit 0 is the most significant bit of every bitstring.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Mapping

import numpy as np

from qsim.circuit import gates as _gates
from qsim.circuit import result_types as rt
from qsim.circuit.observables import Observable
from qsim.circuit.operations import Conditional, GateOp, Measure, Reset
from qsim.circuit.parameters import ParameterExpression
from qsim.errors import ValidationError


def _qubit(q, where: str) -> int:
    if isinstance(q, (bool, np.bool_)) or not isinstance(q, (int, np.integer)):
        raise ValidationError(f"{where}: qubit {q!r} is not an integer")
    if q < 0:
        raise ValidationError(f"{where}: qubit index {q} is negative")
    return int(q)


def _angle(p, where: str):
    if isinstance(p, ParameterExpression):
        return p
    try:
        value = float(p)
    except (TypeError, ValueError):
        raise ValidationError(f"{where}: angle {p!r} is not a number or FreeParameter") from None
    if not np.isfinite(value):
        raise ValidationError(f"{where}: angle {p!r} is not finite")
    return value


class Circuit:
    """An ordered list of instructions plus the result types requested of it."""

    def __init__(self, instructions: Iterable = (), result_types: Iterable = (), qubit_count: int | None = None):
        self.instructions: list = list(instructions)
        self.result_types: list = list(result_types)
        self._declared_qubits = qubit_count
        self.bit_count = 0
        for op in self.instructions:
            self._note_bits(op)

    # ----------------------------------------------------------------- structure
    @property
    def qubits(self) -> tuple[int, ...]:
        """Sorted labels of every qubit an instruction or result type touches."""
        seen = set()
        for op in self.instructions:
            seen.update(op.qubits)
        for r in self.result_types:
            seen.update(r.qubits)
        return tuple(sorted(seen))

    @property
    def qubit_count(self) -> int:
        qs = self.qubits
        return max(len(qs), 0)

    def free_parameters(self) -> frozenset[str]:
        out = frozenset()
        for op in self.instructions:
            if hasattr(op, "free_parameters"):
                out |= op.free_parameters()
        return out

    def bind(self, values: Mapping[str, float] | None) -> "Circuit":
        """A copy with every free parameter replaced by its value from ``values``."""
        values = dict(values or {})
        missing = self.free_parameters() - set(values)
        if missing:
            raise ValidationError(f"no value given for free parameter(s) {sorted(missing)}; "
                                  f"pass inputs={{name: value}}")
        out = Circuit(qubit_count=self._declared_qubits)
        out.instructions = [op.bind(values) if hasattr(op, "bind") else op for op in self.instructions]
        out.result_types = list(self.result_types)
        out.bit_count = self.bit_count
        # what adjoint_gradient differentiates: the expressions, at these values
        out.unbound = getattr(self, "unbound", None) or (self, values)
        return out

    def add(self, op) -> "Circuit":
        if not isinstance(op, (GateOp, Measure, Reset, Conditional)):
            raise ValidationError(f"cannot add {op!r} to a circuit")
        self.instructions.append(op)
        self._note_bits(op)
        return self

    def _note_bits(self, op):
        if isinstance(op, Measure):
            self.bit_count = max(self.bit_count, op.bit + 1)
        elif isinstance(op, Conditional):
            for o in op.then_ops + op.else_ops:
                self._note_bits(o)
            used = op.condition.bits_used()
            if used:
                self.bit_count = max(self.bit_count, max(used) + 1)

    def add_result_type(self, result: rt.ResultType) -> "Circuit":
        self.result_types.append(result)
        return self

    def __len__(self):
        return len(self.instructions)

    def __repr__(self):
        return f"Circuit({len(self.instructions)} instructions on qubits {list(self.qubits)}, " \
               f"results {[r.kind for r in self.result_types]})"

    # ----------------------------------------------------------------- gates
    def gate(self, name: str, qubits, params=(), *, control=None, control_state=None, power=None):
        """Append built-in gate ``name`` on ``qubits`` with angles ``params``."""
        spec = _gates.lookup(name)
        where = f"Circuit.{name}"
        if spec is None:
            raise ValidationError(f"unknown gate '{name}'; known gates: {', '.join(sorted(_gates.GATES))}")
        qubits = tuple(_qubit(q, where) for q in qubits)
        params = tuple(_angle(p, where) for p in params)
        spec.check_arity(len(params), len(qubits), where + ": ")
        self._append_gate(spec.name, qubits, params, control, control_state, power, None, where)
        return self

    def unitary(self, matrix, targets, *, control=None, control_state=None, power=None):
        """Append an arbitrary unitary (big-endian: ``targets[0]`` is the matrix's high bit)."""
        where = "Circuit.unitary"
        if isinstance(targets, (int, np.integer)):
            targets = [targets]
        targets = tuple(_qubit(q, where) for q in targets)
        m = np.array(matrix, dtype=np.complex128)
        if m.shape != (1 << len(targets),) * 2:
            raise ValidationError(f"{where}: a matrix on {len(targets)} qubit(s) must be "
                                  f"{1 << len(targets)}x{1 << len(targets)}, got shape {m.shape}")
        if not _gates.is_unitary(m):
            raise ValidationError(f"{where}: matrix is not unitary: {m.tolist()}")
        self._append_gate("unitary", targets, (), control, control_state, power, m, where)
        return self

    def _append_gate(self, name, targets, params, control, control_state, power, matrix, where):
        controls = () if control is None else (
            (control,) if isinstance(control, (int, np.integer)) else tuple(control))
        controls = tuple(_qubit(q, where) for q in controls)
        if control_state is None:
            states = (1,) * len(controls)
        elif isinstance(control_state, str):
            states = tuple(int(c) for c in control_state)
        elif isinstance(control_state, (int, np.integer)):
            states = tuple(int(b) for b in format(int(control_state), f"0{len(controls)}b"))
        else:
            states = tuple(int(c) for c in control_state)
        if len(states) != len(controls) or set(states) - {0, 1}:
            raise ValidationError(f"{where}: control_state {control_state!r} does not give one 0/1 per control "
                                  f"qubit {list(controls)}")
        all_q = controls + targets
        if len(set(all_q)) != len(all_q):
            raise ValidationError(f"{where}: a qubit appears twice among controls {list(controls)} "
                                  f"and targets {list(targets)}")
        if power is not None and power != 1:
            from qsim.circuit.gates import exact_exponent

            exact_exponent(power)  # a finite real number, or ValidationError
        # ints stay exact: float(10**30 + 1) would be even
        exponents = () if power is None or power == 1 else \
            (int(power) if isinstance(power, (int, np.integer)) else float(power),)
        self.instructions.append(GateOp(name, targets, params, controls, states, exponents, matrix))

    def measure(self, targets=None):
        """Measure ``targets`` (default: all qubits so far) into the next classical bits."""
        if targets is None:
            targets = self.qubits
        elif isinstance(targets, (int, np.integer)):
            targets = [targets]
        for q in targets:
            self.add(Measure(_qubit(q, "Circuit.measure"), self.bit_count))
        return self

    def reset(self, target):
        return self.add(Reset(_qubit(target, "Circuit.reset")))

    # ----------------------------------------------------------------- result types
    def _targets(self, target, where):
        if target is None:
            return None
        if isinstance(target, (int, np.integer)):
            target = [target]
        return tuple(_qubit(q, where) for q in target)

    def expectation(self, observable: Observable, target=None):
        return self.add_result_type(rt.Expectation(observable, self._targets(target, "expectation")))

    def variance(self, observable: Observable, target=None):
        return self.add_result_type(rt.Variance(observable, self._targets(target, "variance")))

    def sample(self, observable: Observable, target=None):
        return self.add_result_type(rt.Sample(observable, self._targets(target, "sample")))

    def probability(self, target=None):
        return self.add_result_type(rt.Probability(self._targets(target, "probability")))

    def density_matrix(self, target=None):
        return self.add_result_type(rt.DensityMatrix(self._targets(target, "density_matrix")))

    def state_vector(self):
        return self.add_result_type(rt.StateVector())

    def adjoint_gradient(self, observable, target=None, parameters=None):
        """<observable> and its gradient by the adjoint method (shots=0 only).

        ``observable`` is an ``Observable`` on the qubits ``target``, or a weighted sum given as a list
        of ``(coefficient, Observable, targets)``.  ``parameters``: names (or ``FreeParameter``s) to
        differentiate by; default every free parameter.  The result value is
        ``{"expectation": float, "gradient": {name: float}}`` (Braket's shape)."""
        where = "adjoint_gradient"
        if isinstance(observable, Observable):
            if target is None:
                raise ValidationError(f"{where}: give the observable's target qubit(s)")
            terms = ((1.0, observable, self._targets(target, where)),)
        else:
            if target is not None:
                raise ValidationError(f"{where}: a sum of terms carries its targets per term; do not pass target=")
            terms = []
            for term in observable:
                try:
                    coeff, obs, tgt = term
                except (TypeError, ValueError):
                    raise ValidationError(f"{where}: a term must be (coefficient, Observable, targets), "
                                          f"got {term!r}") from None
                if not isinstance(obs, Observable):
                    raise ValidationError(f"{where}: {obs!r} is not an Observable")
                try:
                    coeff = float(coeff)
                except (TypeError, ValueError):
                    raise ValidationError(f"{where}: coefficient {coeff!r} is not a real number") from None
                terms.append((coeff, obs, self._targets(tgt, where)))
            terms = tuple(terms)
        if parameters is not None:
            if isinstance(parameters, (str, ParameterExpression)):
                parameters = [parameters]
            names = []
            for p in parameters:
                name = getattr(p, "name", p)
                if not isinstance(name, str):
                    raise ValidationError(f"{where}: parameter {p!r} is not a name or FreeParameter")
                names.append(name)
            parameters = tuple(names)
        return self.add_result_type(rt.AdjointGradient(terms, parameters))

    def amplitude(self, state):
        if isinstance(state, str):
            state = [state]
        return self.add_result_type(rt.Amplitude(tuple(state)))


def _make_gate_method(spec: _gates.GateSpec):
    nq = spec.qubits

    def method(self, *args, control=None, control_state=None, power=None):
        if nq == 1 and args and isinstance(args[0], Iterable) and not isinstance(args[0], str):
            for q in args[0]:
                self.gate(spec.name, (q,), args[1:], control=control, control_state=control_state, power=power)
            return self
        return self.gate(spec.name, args[:nq], args[nq:], control=control, control_state=control_state,
                         power=power)

    method.__name__ = spec.name
    method.__doc__ = (f"Append '{spec.name}': {nq} qubit(s) then {spec.params} angle(s)."
                      + (" Broadcasts over an iterable of targets." if nq == 1 else ""))
    return method


for _spec in _gates.GATES.values():
    setattr(Circuit, _spec.name, _make_gate_method(_spec))
