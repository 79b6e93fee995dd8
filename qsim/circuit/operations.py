"""Instructions of a circuit: gates (with modifiers), measurement, reset and feed-forward.

Qubit indices here are the program's own labels (any non-negative ints); the simulator maps the
qubits a circuit uses onto 0..k-1 in sorted order, as Braket does.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping

import numpy as np

from qsim.circuit import gates as _gates
from qsim.circuit.classical import ClassicalExpr
from qsim.circuit.parameters import ParameterExpression, bind_value
from qsim.errors import ValidationError


@dataclass(frozen=True, eq=False)
class GateOp:
    """A unitary applied to ``targets``, optionally controlled and powered.

    ``exponents`` are the ``pow(k) @`` / ``inv @`` modifiers as written, outermost first (``inv`` is
    ``-1``); each is applied in turn as a principal matrix power, innermost first, because
    ``pow(a) @ pow(b) @ U`` is ``(U**b)**a``, which is not always ``U**(a*b)``.
    ``controls`` carry ``control_states`` (1 for ``ctrl@``, 0 for ``negctrl@``).  ``unitary`` holds the
    matrix of a ``unitary`` gate (``#pragma braket unitary``).
    """

    name: str
    targets: tuple[int, ...]
    params: tuple = ()
    controls: tuple[int, ...] = ()
    control_states: tuple[int, ...] = ()
    exponents: tuple[float, ...] = ()
    unitary: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        # Computed once: a variational loop binds and validates every op on every call.
        free = frozenset()
        for p in self.params:
            if isinstance(p, ParameterExpression):
                free |= p.free_parameters()
        object.__setattr__(self, "_free", free)

    @property
    def qubits(self) -> tuple[int, ...]:
        return self.controls + self.targets

    def free_parameters(self) -> frozenset[str]:
        return self._free

    def bind(self, values: Mapping[str, float]) -> "GateOp":
        if not self._free:
            return self
        return GateOp(self.name, self.targets, tuple(bind_value(p, values) for p in self.params), self.controls,
                      self.control_states, self.exponents, self.unitary)

    def base_matrix(self) -> np.ndarray:
        if self.unitary is not None:
            return self.unitary
        spec = _gates.lookup(self.name)
        if spec is None:
            raise ValidationError(f"unknown gate '{self.name}'")
        for p in self.params:
            if isinstance(p, ParameterExpression):
                raise ValidationError(f"gate '{self.name}' has an unbound parameter {p!r}: "
                                      f"pass inputs={{...}} for {sorted(p.free_parameters())}")
        return spec.matrix(*[float(p) for p in self.params])

    def matrix(self) -> np.ndarray:
        """The target matrix (controls excluded) with every pow/inv modifier applied."""
        m = self.base_matrix()
        for e in reversed(self.exponents):
            m = _gates.matrix_power(m, e)
        return m

    def remap(self, mapping: Mapping[int, int]) -> "GateOp":
        return GateOp(self.name, tuple(mapping[q] for q in self.targets), self.params,
                      tuple(mapping[q] for q in self.controls), self.control_states, self.exponents, self.unitary)


@dataclass(frozen=True)
class Measure:
    """Measure ``qubit`` into classical bit ``bit`` (an index into the program's bit array)."""

    qubit: int
    bit: int

    @property
    def qubits(self):
        return (self.qubit,)

    def remap(self, mapping):
        return replace(self, qubit=mapping[self.qubit])


@dataclass(frozen=True)
class Reset:
    """Reset ``qubit`` to |0>: a measurement whose outcome is discarded, then X if it was 1."""

    qubit: int

    @property
    def qubits(self):
        return (self.qubit,)

    def remap(self, mapping):
        return replace(self, qubit=mapping[self.qubit])


@dataclass(frozen=True, eq=False)
class Conditional:
    """Run ``then_ops`` if ``condition`` (over measured bits) is true, else ``else_ops``."""

    condition: ClassicalExpr
    then_ops: tuple = ()
    else_ops: tuple = ()

    @property
    def qubits(self):
        qs = []
        for op in self.then_ops + self.else_ops:
            qs.extend(op.qubits)
        return tuple(dict.fromkeys(qs))

    def remap(self, mapping):
        return Conditional(self.condition, tuple(o.remap(mapping) for o in self.then_ops),
                           tuple(o.remap(mapping) for o in self.else_ops))

    def bind(self, values):
        return Conditional(self.condition, tuple(_bind(o, values) for o in self.then_ops),
                           tuple(_bind(o, values) for o in self.else_ops))

    def free_parameters(self):
        out = frozenset()
        for o in self.then_ops + self.else_ops:
            if hasattr(o, "free_parameters"):
                out |= o.free_parameters()
        return out


def _bind(op, values):
    return op.bind(values) if hasattr(op, "bind") else op


Instruction = GateOp | Measure | Reset | Conditional
