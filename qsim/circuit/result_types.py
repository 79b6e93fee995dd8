"""Result types a circuit asks for, spelled as Braket spells them in JSON.

``targets=None`` means every qubit of the circuit.  For expectation/variance/sample with a one-qubit
observable and no targets, the value is a list with one entry per qubit (Braket's broadcast rule).
"""

from __future__ import annotations

from dataclasses import dataclass

from qsim.circuit.observables import Observable
from qsim.errors import ValidationError


@dataclass(frozen=True)
class ResultType:
    def remap(self, mapping):
        return self

    @property
    def qubits(self) -> tuple[int, ...]:
        return tuple(getattr(self, "targets", None) or ())


def _targets_json(targets):
    return {} if targets is None else {"targets": list(targets)}


@dataclass(frozen=True)
class _ObservableResult(ResultType):
    observable: Observable
    targets: tuple[int, ...] | None = None

    def __post_init__(self):
        if self.targets is not None:
            if len(self.targets) != self.observable.qubit_count:
                raise ValidationError(
                    f"{self.kind} of {self.observable!r} acts on {self.observable.qubit_count} qubit(s) "
                    f"but {len(self.targets)} target(s) were given: {list(self.targets)}")
            if len(set(self.targets)) != len(self.targets):
                raise ValidationError(f"{self.kind} targets repeat a qubit: {list(self.targets)}")
        elif self.observable.qubit_count != 1:
            raise ValidationError(f"{self.kind} of the {self.observable.qubit_count}-qubit observable "
                                  f"{self.observable!r} needs explicit targets")

    def remap(self, mapping):
        if self.targets is None:
            return self
        return type(self)(self.observable, tuple(mapping[q] for q in self.targets))

    def to_json(self):
        return {"type": self.kind, "observable": self.observable.to_json(), **_targets_json(self.targets)}


@dataclass(frozen=True)
class Expectation(_ObservableResult):
    kind = "expectation"


@dataclass(frozen=True)
class Variance(_ObservableResult):
    kind = "variance"


@dataclass(frozen=True)
class Sample(_ObservableResult):
    kind = "sample"


@dataclass(frozen=True)
class Probability(ResultType):
    targets: tuple[int, ...] | None = None
    kind = "probability"

    def __post_init__(self):
        if self.targets is not None and len(set(self.targets)) != len(self.targets):
            raise ValidationError(f"probability targets repeat a qubit: {list(self.targets)}")

    def remap(self, mapping):
        return self if self.targets is None else Probability(tuple(mapping[q] for q in self.targets))

    def to_json(self):
        return {"type": "probability", **_targets_json(self.targets)}


@dataclass(frozen=True)
class DensityMatrix(ResultType):
    targets: tuple[int, ...] | None = None
    kind = "densitymatrix"

    def remap(self, mapping):
        return self if self.targets is None else DensityMatrix(tuple(mapping[q] for q in self.targets))

    def to_json(self):
        return {"type": "densitymatrix", **_targets_json(self.targets)}


@dataclass(frozen=True)
class StateVector(ResultType):
    kind = "statevector"

    def to_json(self):
        return {"type": "statevector"}


@dataclass(frozen=True)
class Amplitude(ResultType):
    states: tuple[str, ...] = ()
    kind = "amplitude"

    def __post_init__(self):
        if not self.states:
            raise ValidationError("amplitude needs at least one basis state, e.g. \"00\"")
        for s in self.states:
            if not isinstance(s, str) or not s or set(s) - {"0", "1"}:
                raise ValidationError(f"amplitude state {s!r} is not a bitstring of 0s and 1s")

    def to_json(self):
        return {"type": "amplitude", "states": list(self.states)}


def _term_string(coeff, observable) -> str:
    prod = " @ ".join(f.name for f in observable.factors)
    return prod if coeff == 1 else f"{coeff!r} * {prod}"


@dataclass(frozen=True, eq=False)
class AdjointGradient(ResultType):
    """<H> and its gradient by the adjoint method, for ``H = sum_k c_k P_k``: ``terms`` =
    ((c_k, Observable P_k, targets of P_k), ...); ``parameters`` the names to differentiate by, or
    None for every parameter of the program (Braket's ``all``).  Value (Braket's shape):
    ``{"expectation": float, "gradient": {name: float}}``.  shots=0 only."""

    terms: tuple
    parameters: tuple | None = None
    kind = "adjoint_gradient"

    def __post_init__(self):
        if not self.terms:
            raise ValidationError("adjoint_gradient needs an observable")
        for coeff, observable, targets in self.terms:
            if isinstance(coeff, bool) or not isinstance(coeff, (int, float)) or coeff != coeff:
                raise ValidationError(f"adjoint_gradient: coefficient {coeff!r} is not a real number")
            if len(targets) != observable.qubit_count:
                raise ValidationError(f"adjoint_gradient: {observable!r} acts on {observable.qubit_count} "
                                      f"qubit(s) but {len(targets)} target(s) were given: {list(targets)}")
            if len(set(targets)) != len(targets):
                raise ValidationError(f"adjoint_gradient targets repeat a qubit: {list(targets)}")
        if self.parameters is not None:
            for p in self.parameters:
                if not isinstance(p, str) or not p:
                    raise ValidationError(f"adjoint_gradient: parameter {p!r} is not a name")

    @property
    def qubits(self):
        return tuple(dict.fromkeys(q for _, _, t in self.terms for q in t))

    def remap(self, mapping):
        return AdjointGradient(tuple((c, o, tuple(mapping[q] for q in t)) for c, o, t in self.terms),
                               self.parameters)

    def to_json(self):
        if len(self.terms) == 1 and self.terms[0][0] == 1:
            observable = self.terms[0][1].to_json()
        else:
            observable = " + ".join(_term_string(c, o) for c, o, _ in self.terms)  # Braket's form of a Sum
        out = {"type": "adjoint_gradient", "observable": observable,
               "targets": [list(t) for _, _, t in self.terms]}
        if self.parameters is not None:
            out["parameters"] = list(self.parameters)
        return out


# Which result types are allowed with shots=0 and with shots>0 (Braket's rules).
EXACT_ONLY = (StateVector, Amplitude, DensityMatrix, AdjointGradient)
SAMPLED_ONLY = (Sample,)
