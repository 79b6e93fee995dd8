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


# Which result types are allowed with shots=0 and with shots>0 (Braket's rules).
EXACT_ONLY = (StateVector, Amplitude, DensityMatrix)
SAMPLED_ONLY = (Sample,)
