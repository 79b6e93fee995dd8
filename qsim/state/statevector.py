"""The single-process state vector: one array, allocated once, updated in place.

Qubit ``q`` of an ``n``-qubit state lives at bit position ``n - 1 - q`` of the array index, so the
array index *is* the big-endian basis index (qubit 0 most significant), as in Braket.  The
distributed state (``qsim.distributed``) wraps one of these per rank and provides the same methods.

Every method that reads the state returns *global* values (for this class, trivially).
"""

from __future__ import annotations

import numpy as np

from qsim.errors import InternalError, ValidationError
from qsim.kernels import gates as KG
from qsim.kernels import measure as KM
from qsim.kernels.compare import distance_squared
from qsim.state import sampling
from qsim.state.apply import _fixed, _offsets, apply_unitary
from qsim.state.memory import check_fits, dtype_for
from qsim.state.observable_terms import observable_terms


class StateVector:
    """|0...0> on ``n_qubits`` qubits in ``precision`` ('double' = complex128, 'single' = complex64)."""

    distributed = False

    def __init__(self, n_qubits: int, precision: str = "double", *, _array: np.ndarray | None = None):
        if n_qubits < 0:
            raise ValidationError(f"qubit count {n_qubits} is negative")
        self.n_qubits = n_qubits
        self.precision = precision
        self.dtype = dtype_for(precision)
        if _array is None:
            check_fits(n_qubits, self.dtype)
            self.array = np.zeros(1 << n_qubits, dtype=self.dtype)
            self.array[0] = 1
        else:
            self.array = _array
        self.global_phase = 1.0 + 0.0j

    # ----------------------------------------------------------------- evolution
    def _bit(self, q: int) -> int:
        return self.n_qubits - 1 - q

    def apply(self, targets, matrix, controls=(), control_states=()):
        """Apply ``matrix`` (big-endian over ``targets``) under the given controls."""
        if not targets and not controls:
            self.global_phase *= complex(np.asarray(matrix).reshape(-1)[0])
            return
        apply_unitary(self.array, [self._bit(q) for q in targets], matrix, [self._bit(q) for q in controls],
                      control_states)

    def apply_all(self, unitaries):
        """Apply a list of ``(targets, matrix, controls, control_states)`` in order."""
        for targets, matrix, controls, states in unitaries:
            self.apply(targets, matrix, controls, states)

    def prob_one(self, qubit: int) -> float:
        return float(KM.prob_bit_one(self.array, np.int64(self._bit(qubit))))

    def collapse(self, qubit: int, outcome: int, probability: float) -> None:
        """Project ``qubit`` onto ``outcome`` (which had ``probability``) and renormalise."""
        if probability <= 0:
            raise InternalError(f"collapse of qubit {qubit} onto outcome {outcome} of probability {probability}")
        KG.project(self.array, np.int64(self._bit(qubit)), np.int64(outcome),
                   self.dtype.type(1.0 / np.sqrt(probability)))

    def copy(self) -> "StateVector":
        check_fits(self.n_qubits, self.dtype, what="copy of the state vector (for a measurement branch)")
        out = StateVector(self.n_qubits, self.precision, _array=self.array.copy())
        out.global_phase = self.global_phase
        return out

    def same_as(self, other: "StateVector", atol: float = 1e-12) -> bool:
        if self.array.shape != other.array.shape:
            return False
        return bool(distance_squared(self.array, other.array, complex(self.global_phase),
                                     complex(other.global_phase)) <= atol * atol)

    # ----------------------------------------------------------------- reading
    def norm_squared(self) -> float:
        return float(KM.norm_squared(self.array))

    def probabilities(self, qubits=None) -> np.ndarray:
        """Marginal distribution over ``qubits`` (in that order, first = most significant)."""
        if qubits is None:
            qubits = range(self.n_qubits)
        qubits = list(qubits)
        bits = np.array([self._bit(q) for q in qubits], dtype=np.int64)
        out = np.zeros(1 << len(qubits))
        if len(qubits) == self.n_qubits and np.all(np.diff(bits) < 0):
            np.square(np.abs(self.array), out=out) if self.dtype == np.complex128 else \
                out.__setitem__(slice(None), np.abs(self.array) ** 2)
        elif len(qubits) <= 12:
            KM.marginal_small(self.array, bits, out)
        else:
            KM.marginal_large(self.array, _offsets(bits), _fixed(list(bits)), out)
        return out

    def expectation(self, observable, targets, squared: bool = False) -> float:
        """<psi|O|psi> (or <O^2>) for ``observable`` on qubits ``targets``."""
        total = 0.0
        for coeff, xmask, zmask, yphase, dense_bits, dense in observable_terms(observable, targets, self._bit,
                                                                               squared):
            s = KM.expectation_sum(self.array, np.int64(xmask), np.int64(zmask), complex(yphase),
                                   dense.astype(np.complex128), _offsets(dense_bits), _fixed(dense_bits))
            total += coeff * s.real
        return float(total)

    def amplitude(self, index: int) -> complex:
        return complex(self.array[index]) * self.global_phase

    def state_vector(self) -> np.ndarray:
        """A complex128 copy with the global phase multiplied in: one new array, no temporary."""
        out = np.empty(self.array.shape[0], dtype=np.complex128)
        if self.global_phase == 1:
            out[:] = self.array
        else:
            np.multiply(self.array, self.global_phase, out=out)
        return out

    def density_matrix(self, qubits) -> np.ndarray:
        qubits = list(qubits)
        bits = [self._bit(q) for q in qubits]
        out = np.zeros((1 << len(qubits),) * 2, dtype=np.complex128)
        KM.reduced_density(self.array, _offsets(bits), _fixed(bits), out)
        return out

    def sample(self, shots: int, rng: np.random.Generator) -> np.ndarray:
        """``shots`` basis indices (big-endian over all qubits) drawn from |psi|^2."""
        draws = sampling.sorted_draws(rng, shots)
        weights = KM.chunk_weights(self.array, sampling.chunk_count(self.array.shape[0]))
        starts, total = sampling.cdf_starts(weights)
        out = np.empty(shots, dtype=np.int64)
        KM.sample_sorted(self.array, weights, starts, draws * total, out)
        return out

    def rotate_for_sampling(self, unitaries) -> None:
        """Apply basis-rotation gates in place (the state is not read exactly afterwards)."""
        self.apply_all(unitaries)

    def describe(self) -> dict:
        return {"ranks": 1, "qubits": self.n_qubits, "localQubits": self.n_qubits, "globalQubits": 0,
                "precision": self.precision, "distributed": False}
