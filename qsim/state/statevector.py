"""The single-process state vector: one array, allocated once, updated in place.

Qubit ``q`` of an ``n``-qubit state starts at bit position ``n - 1 - q`` of the array index, so the
array index is the big-endian basis index (qubit 0 most significant), as in Braket.  The state
keeps a *placement* (``placement[q]`` = the bit position of logical qubit ``q``), as the distributed
layer's ``Layout`` does: an uncontrolled SWAP is a relabel of two entries (no data moves), and
every read maps back (probabilities, expectations, amplitudes and density matrices by mapping
qubits to bits; sampling and the state vector by restoring the canonical order first, in place,
with one swap pass per misplaced pair, so that shots for a seed are the same on every backend).

``array`` is the raw array *in canonical order*, for callers that index it by ``n - 1 - q`` (the
adjoint sweep, the backend's reuse): reading it restores the order and un-shares the array (see
``state_vector``).  Methods of this class use ``_a`` and ``placement`` directly.

Every method that reads the state returns *global* values (for this class, trivially).  The
distributed state (``qsim.distributed``) wraps one of these per rank as its shard, with the
identity placement (it keeps its own ``Layout``).

Memory: nothing on the run path allocates a second state-sized array.  ``state_vector()`` hands
the array itself over (the global phase multiplied in, in place); if the state is changed
afterwards it first copies its array (copy on write), so the handed-over vector never changes.
"""

from __future__ import annotations

import numpy as np

from qsim.errors import InternalError, ValidationError
from qsim.state import pivot, sampling
from qsim.state import small as S
from qsim.state.memory import check_fits, dtype_for
from qsim.state.observable_terms import observable_terms
from qsim.state.pivot import PivotPhases


class _Kernels:
    """``qsim.kernels`` and ``qsim.state.apply``, imported on first use: a tiny state
    (``qsim.state.small``) may never need them, and importing them imports Numba."""

    def __getattr__(self, name):
        from qsim.kernels import gates, measure
        from qsim.kernels.compare import distance_squared
        from qsim.kernels.indices import index_array
        from qsim.state import apply

        found = {"G": gates, "M": measure, "distance_squared": distance_squared, "apply_unitary": apply.apply_unitary,
                 "apply_dense": apply.apply_dense, "offsets": apply._offsets, "fixed": apply._fixed,
                 "index": index_array}
        self.__dict__.update(found)
        return found[name]


K = _Kernels()

_SWAP = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=np.complex128)
_PROB_CHUNK = 1 << 20  # amplitudes per step of the probability vector's conversion
# From here on a fresh state starts in the placement its first gate list's swaps make canonical
# (below, compiled circuits run as packed programs, qsim.state.packed, which want the canonical one).
_PRESET_MIN_QUBITS = 15


def _is_swap(matrix) -> bool:
    if type(matrix) is PivotPhases:
        return False
    m = np.asarray(matrix)
    return m.shape == (4, 4) and bool(np.array_equal(m, _SWAP))


class StateVector:
    """|0...0> on ``n_qubits`` qubits in ``precision`` ('double' = complex128, 'single' = complex64)."""

    distributed = False

    def __init__(self, n_qubits: int, precision: str = "double", *, _array: np.ndarray | None = None):
        if n_qubits < 0:
            raise ValidationError(f"qubit count {n_qubits} is negative")
        self.n_qubits = n_qubits
        self.precision = precision
        self.dtype = dtype_for(precision)
        fresh = _array is None
        if fresh:
            check_fits(n_qubits, self.dtype)
            _array = np.zeros(1 << n_qubits, dtype=self.dtype)
            _array[0] = 1
        self._a = _array
        self._shared = False  # the array was handed out by state_vector(): copy before changing it
        self.placement = [n_qubits - 1 - q for q in range(n_qubits)]  # mutated in place, never rebound
        self._moved = False  # placement differs from the canonical one
        self._fresh = fresh  # still |0...0>, untouched: any placement holds the same array
        self.global_phase = 1.0 + 0.0j
        self._small = S.handles(n_qubits)  # NumPy bodies, no Numba (qsim.state.small)

    # ----------------------------------------------------------------- the array and its placement
    @property
    def array(self) -> np.ndarray:
        """The amplitudes in canonical order (qubit q at bit n-1-q), writable by the caller."""
        self._canonical()
        return self._own()

    @array.setter
    def array(self, value: np.ndarray) -> None:
        self._a = value
        self._fresh = False
        self._shared = False
        self.placement[:] = [self.n_qubits - 1 - q for q in range(self.n_qubits)]
        self._moved = False

    def _own(self) -> np.ndarray:
        """The array, copied first if it was handed out (so changing it changes no result)."""
        self._fresh = False
        if self._shared:
            check_fits(self.n_qubits, self.dtype, what="copy of the state vector (it was handed out as a result)")
            self._a = self._a.copy()
            self._shared = False
        return self._a

    def is_canonical(self) -> bool:
        return not self._moved

    def _canonical(self) -> None:
        """Move the data so that qubit q is at bit n-1-q again: one swap pass per misplaced pair."""
        pos = self.placement
        n = self.n_qubits
        if self.is_canonical():
            return
        a = self._own()
        at = [0] * n
        for q, p in enumerate(pos):
            at[p] = q
        for q in range(n):
            want, have = n - 1 - q, pos[q]
            if have != want:
                other = at[want]
                if self._small:
                    S.apply(a, [want, have], _SWAP)
                else:
                    K.G.apply_swap(a, K.offsets([want, have]), K.fixed([want, have]), np.int64(0), ())
                pos[q], pos[other] = want, have
                at[want], at[have] = q, other
        self._moved = False

    def _bit(self, q: int) -> int:
        return self.placement[q]

    def _logical_indices(self, phys: np.ndarray) -> np.ndarray:
        """Basis indices in program order of physical array indices ``phys`` (int64)."""
        if self.is_canonical():
            return phys
        n = self.n_qubits
        out = np.zeros_like(phys)
        for q, p in enumerate(self.placement):
            out |= ((phys >> p) & 1) << (n - 1 - q)
        return out

    def _physical_index(self, index: int) -> int:
        n = self.n_qubits
        out = 0
        for q, p in enumerate(self.placement):
            out |= ((index >> (n - 1 - q)) & 1) << p
        return out

    # ----------------------------------------------------------------- evolution
    def apply(self, targets, matrix, controls=(), control_states=()):
        """Apply ``matrix`` (big-endian over ``targets``) under the given controls."""
        self._fresh = False
        if not targets and not controls:
            self.global_phase *= complex(np.asarray(matrix).reshape(-1)[0])
            return
        if type(matrix) is PivotPhases:
            self._apply_pivot(matrix)
            return
        if not controls and len(targets) == 2 and _is_swap(matrix):
            a, b = targets
            pos = self.placement
            pos[a], pos[b] = pos[b], pos[a]
            self._moved = any(p != self.n_qubits - 1 - q for q, p in enumerate(pos))
            return
        pos = self.placement
        apply = S.apply if self._small else K.apply_unitary
        apply(self._own(), [pos[q] for q in targets], matrix, [pos[q] for q in controls], control_states)

    def _apply_pivot(self, block: PivotPhases):
        """A fused pivot block (``qsim.state.pivot``): one pass, whatever its width."""
        pos = self.placement
        if self._small:
            S.apply(self._own(), [pos[q] for q in block.qubits], block.matrix(), [], [])
        else:
            pivot.apply(self._own(), block, pos[block.pivot], [pos[q] for q in block.others])

    def _preset_placement(self, unitaries) -> None:
        """On a fresh |0...0> (index 0 in every placement), start from the placement that the
        uncontrolled swaps of ``unitaries`` (relabels) turn into the canonical one, so that reading
        the state at the end moves no data (a QFT's final swaps would cost n/2 swap passes)."""
        self._fresh = False
        n = self.n_qubits
        if n < _PRESET_MIN_QUBITS:
            return
        swaps = [tuple(t) for t, m, c, _ in unitaries if not c and len(t) == 2 and _is_swap(m)]
        if not swaps:
            return
        pos = [n - 1 - q for q in range(n)]
        for a, b in reversed(swaps):
            pos[a], pos[b] = pos[b], pos[a]
        self.placement[:] = pos
        self._moved = any(p != n - 1 - q for q, p in enumerate(pos))

    def apply_all(self, unitaries):
        """Apply a list of ``(targets, matrix, controls, control_states)`` in order."""
        if self._fresh:
            self._preset_placement(unitaries)
        for targets, matrix, controls, states in unitaries:
            self.apply(targets, matrix, controls, states)

    def apply_known_dense(self, unitaries, dense):
        """``apply_all(unitaries)``, sending the items flagged in ``dense`` straight to the dense
        kernels (no structure analysis: the caller knows they are dense for every parameter value)."""
        if self._fresh:
            self._preset_placement(unitaries)
        pos = self.placement
        apply_dense = S.apply if self._small else K.apply_dense
        for item, is_dense in zip(unitaries, dense):
            targets, matrix, controls, states = item
            if is_dense and type(matrix) is not PivotPhases:
                apply_dense(self._own(), [pos[q] for q in targets], matrix, [pos[q] for q in controls], states)
            else:
                self.apply(targets, matrix, controls, states)

    def prob_one(self, qubit: int) -> float:
        if self._small:
            return S.prob_bit_one(self._a, self._bit(qubit))
        return float(K.M.prob_bit_one(self._a, np.int64(self._bit(qubit))))

    def collapse(self, qubit: int, outcome: int, probability: float) -> None:
        """Project ``qubit`` onto ``outcome`` (which had ``probability``) and renormalise."""
        if probability <= 0:
            raise InternalError(f"collapse of qubit {qubit} onto outcome {outcome} of probability {probability}")
        project = S.project if self._small else K.G.project
        project(self._own(), np.int64(self._bit(qubit)), np.int64(outcome), self.dtype.type(1.0 / np.sqrt(probability)))

    def copy(self) -> "StateVector":
        check_fits(self.n_qubits, self.dtype, what="copy of the state vector (for a measurement branch)")
        out = StateVector(self.n_qubits, self.precision, _array=self._a.copy())
        out.placement[:] = self.placement
        out._moved = self._moved
        out.global_phase = self.global_phase
        return out

    def same_as(self, other: "StateVector", atol: float = 1e-12) -> bool:
        if self._a.shape != other._a.shape:
            return False
        if self.placement != other.placement:
            self._canonical()
            other._canonical()
        return bool(K.distance_squared(self._a, other._a, complex(self.global_phase),
                                     complex(other.global_phase)) <= atol * atol)

    # ----------------------------------------------------------------- reading
    def norm_squared(self) -> float:
        if self._small:
            return S.norm_squared(self._a)
        return float(K.M.norm_squared(self._a))

    def probabilities(self, qubits=None) -> np.ndarray:
        """Marginal distribution over ``qubits`` (in that order, first = most significant)."""
        if qubits is None:
            qubits = range(self.n_qubits)
        qubits = list(qubits)
        if len(qubits) > 12 and not self.is_canonical():
            self._canonical()  # the marginal kernel for many qubits wants 2^k offsets: restore the order
        bits = np.array([self._bit(q) for q in qubits], dtype=np.int64)
        out = np.zeros(1 << len(qubits))
        if len(qubits) == self.n_qubits and np.all(np.diff(bits) < 0):
            # |a|^2 in place in the output, a chunk at a time: no temporary of the state's size
            a = self._a
            for lo in range(0, a.shape[0], _PROB_CHUNK):
                part = out[lo:lo + _PROB_CHUNK]
                np.abs(a[lo:lo + _PROB_CHUNK], out=part)
                np.square(part, out=part)
        elif len(qubits) <= 12:
            K.M.marginal_small(self._a, K.index(bits), out)
        else:
            K.M.marginal_large(self._a, K.offsets(bits), K.fixed(list(bits)), out)
        return out

    def expectation(self, observable, targets, squared: bool = False) -> float:
        """<psi|O|psi> (or <O^2>) for ``observable`` on qubits ``targets``."""
        total = 0.0
        for coeff, xmask, zmask, yphase, dense_bits, dense in observable_terms(observable, targets, self._bit,
                                                                               squared):
            s = K.M.expectation_sum(self._a, np.int64(xmask), np.int64(zmask), complex(yphase),
                                    dense.astype(np.complex128), K.offsets(dense_bits), K.fixed(dense_bits))
            total += coeff * s.real
        return float(total)

    def z_expectations(self) -> list:
        """<Z_q> for every qubit q (program order), in one pass."""
        from qsim.kernels.reductions import z_expectations  # per bit position

        n = self.n_qubits
        z = z_expectations(self._a, n)
        return [float(z[p]) for p in self.placement]

    def amplitude(self, index: int) -> complex:
        return complex(self._a[self._physical_index(int(index))]) * self.global_phase

    def state_vector(self) -> np.ndarray:
        """The amplitudes in program order, in the state's precision, with the global phase
        multiplied in.  No copy: the array itself is handed over (the state copies it before any
        later change), so a 1 GiB state costs no second GiB to return."""
        self._canonical()
        a = self._own()
        if self.global_phase != 1:
            if self._small:
                a *= self.dtype.type(self.global_phase)
            else:
                K.G.scale(a, self.dtype.type(self.global_phase))
            self.global_phase = 1.0 + 0.0j
        self._shared = True
        return a

    def density_matrix(self, qubits) -> np.ndarray:
        qubits = list(qubits)
        bits = [self._bit(q) for q in qubits]
        out = np.zeros((1 << len(qubits),) * 2, dtype=np.complex128)
        K.M.reduced_density(self._a, K.offsets(bits), K.fixed(bits), out)
        return out

    def sample(self, shots: int, rng: np.random.Generator) -> np.ndarray:
        """``shots`` basis indices (big-endian over all qubits) drawn from |psi|^2."""
        self._canonical()  # the same draws give the same shots on every backend and placement
        draws = sampling.sorted_draws(rng, shots)
        if self._small:
            return S.sample(self._a, draws)
        KM = K.M
        weights = KM.chunk_weights(self._a, sampling.chunk_count(self._a.shape[0]))
        starts, total = sampling.cdf_starts(weights)
        out = np.empty(shots, dtype=np.int64)
        KM.sample_sorted(self._a, weights, starts, draws * total, out)
        return out

    def rotate_for_sampling(self, unitaries) -> None:
        """Apply basis-rotation gates in place (the state is not read exactly afterwards)."""
        self.apply_all(unitaries)

    def describe(self) -> dict:
        return {"ranks": 1, "qubits": self.n_qubits, "localQubits": self.n_qubits, "globalQubits": 0,
                "precision": self.precision, "distributed": False}
