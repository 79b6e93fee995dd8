"""A slow, obviously correct dense-matrix oracle for qsim's tests.

Nothing here calls into qsim's simulator or takes a matrix from ``qsim.circuit.gates``: gate matrices
come from the table below, written from the textbook formulas (Pauli sums and exponentials), and
every operation is a full 2^n x 2^n matrix built by an explicit loop over basis states.  The only
thing read from qsim objects is *data*: gate names, angles, qubit lists, modifiers, result-type
targets and Hermitian observable matrices.

Conventions (as in Braket and qsim): qubit 0 is the most significant bit of a basis index; a gate's
matrix is big-endian over its listed qubits; only the qubits a circuit uses are simulated, mapped in
sorted order onto 0..k-1.

Mixed states (mid-circuit measurement, reset, feed-forward) are a classical-quantum state: a dict
from the tuple of classical bits to an unnormalised density matrix.  A measurement is the dephasing
channel that also records the outcome; a reset is the reset channel.
"""

from __future__ import annotations

import cmath
import math

import numpy as np

# Tolerances of a comparison with the oracle, by qsim precision.
ATOL = {"double": 1e-10, "single": 2e-5}

# ----------------------------------------------------------------------------- building blocks
I2 = np.eye(2, dtype=complex)
PX = np.array([[0, 1], [1, 0]], dtype=complex)
PY = np.array([[0, -1j], [1j, 0]], dtype=complex)
PZ = np.array([[1, 0], [0, -1]], dtype=complex)
PH = (PX + PZ) / math.sqrt(2)
PAULI = {"i": I2, "x": PX, "y": PY, "z": PZ, "h": PH}


def kron(*ms):
    out = np.ones((1, 1), dtype=complex)
    for m in ms:
        out = np.kron(out, m)
    return out


def expm_hermitian(h, t=1.0):
    """exp(1j * t * h) for Hermitian h (numpy eigh only)."""
    w, v = np.linalg.eigh(h)
    return (v * np.exp(1j * t * w)) @ v.conj().T


def rot(axis, theta):
    """exp(-i theta/2 P) = cos(theta/2) I - i sin(theta/2) P for a Pauli (string) P."""
    return math.cos(theta / 2) * np.eye(axis.shape[0]) - 1j * math.sin(theta / 2) * axis


def controlled(u, n=1):
    """Controls first (high bits), all in state 1."""
    d = u.shape[0]
    out = np.eye(d << n, dtype=complex)
    out[-d:, -d:] = u
    return out


def _pauli_phi(phi):
    return math.cos(phi) * PX + math.sin(phi) * PY


def _diag(*v):
    return np.diag(np.array(v, dtype=complex))


SWAP = (kron(I2, I2) + kron(PX, PX) + kron(PY, PY) + kron(PZ, PZ)) / 2

# name -> (qubits, params, matrix function)
GATES = {
    "i": (1, 0, lambda: I2),
    "h": (1, 0, lambda: PH),
    "x": (1, 0, lambda: PX),
    "y": (1, 0, lambda: PY),
    "z": (1, 0, lambda: PZ),
    "s": (1, 0, lambda: _diag(1, 1j)),
    "si": (1, 0, lambda: _diag(1, -1j)),
    "t": (1, 0, lambda: _diag(1, cmath.exp(1j * math.pi / 4))),
    "ti": (1, 0, lambda: _diag(1, cmath.exp(-1j * math.pi / 4))),
    "v": (1, 0, lambda: cmath.exp(1j * math.pi / 4) * rot(PX, math.pi / 2)),
    "vi": (1, 0, lambda: (cmath.exp(1j * math.pi / 4) * rot(PX, math.pi / 2)).conj().T),
    "rx": (1, 1, lambda t: rot(PX, t)),
    "ry": (1, 1, lambda t: rot(PY, t)),
    "rz": (1, 1, lambda t: rot(PZ, t)),
    "phaseshift": (1, 1, lambda t: _diag(1, cmath.exp(1j * t))),
    "gpi": (1, 1, lambda p: _pauli_phi(p)),
    "gpi2": (1, 1, lambda p: (I2 - 1j * _pauli_phi(p)) / math.sqrt(2)),
    "prx": (1, 2, lambda t, p: rot(_pauli_phi(p), t)),
    # U = e^{i(phi+lambda)/2} Rz(phi) Ry(theta) Rz(lambda)  (OpenQASM 3)
    "U": (1, 3, lambda t, p, l: cmath.exp(0.5j * (p + l)) * rot(PZ, p) @ rot(PY, t) @ rot(PZ, l)),
    "cnot": (2, 0, lambda: controlled(PX)),
    "cy": (2, 0, lambda: controlled(PY)),
    "cz": (2, 0, lambda: controlled(PZ)),
    "cv": (2, 0, lambda: controlled(cmath.exp(1j * math.pi / 4) * rot(PX, math.pi / 2))),
    "swap": (2, 0, lambda: SWAP),
    "iswap": (2, 0, lambda: expm_hermitian(kron(PX, PX) + kron(PY, PY), math.pi / 4)),
    "pswap": (2, 1, lambda t: _diag(1, cmath.exp(1j * t), cmath.exp(1j * t), 1) @ SWAP),
    "xy": (2, 1, lambda t: expm_hermitian(kron(PX, PX) + kron(PY, PY), t / 4)),
    "xx": (2, 1, lambda t: rot(kron(PX, PX), t)),
    "yy": (2, 1, lambda t: rot(kron(PY, PY), t)),
    "zz": (2, 1, lambda t: rot(kron(PZ, PZ), t)),
    "ecr": (2, 0, lambda: (kron(PX, I2) - kron(PY, PX)) / math.sqrt(2)),
    "cphaseshift": (2, 1, lambda t: _diag(1, 1, 1, cmath.exp(1j * t))),
    "cphaseshift00": (2, 1, lambda t: _diag(cmath.exp(1j * t), 1, 1, 1)),
    "cphaseshift01": (2, 1, lambda t: _diag(1, cmath.exp(1j * t), 1, 1)),
    "cphaseshift10": (2, 1, lambda t: _diag(1, 1, cmath.exp(1j * t), 1)),
    "ms": (2, 3, lambda p0, p1, t=math.pi / 2: rot(kron(_pauli_phi(p0), _pauli_phi(p1)), t)),
    "ccnot": (3, 0, lambda: controlled(PX, 2)),
    "cswap": (3, 0, lambda: controlled(SWAP)),
    "gphase": (0, 1, lambda g: np.array([[cmath.exp(1j * g)]])),
}


def gate_matrix(name, params=()):
    return np.array(GATES[name][2](*[float(p) for p in params]), dtype=complex)


def unitary_power(u, p):
    """Principal power of a unitary: eigenphases in (-pi, pi], each multiplied by ``p``.

    Eigenvectors from ``np.linalg.eig``, orthonormalised (QR) within each group of equal eigenvalues,
    which is valid because a unitary is normal."""
    p = float(p)
    if p == int(p):
        k = int(p)
        base = u if k >= 0 else u.conj().T
        out = np.eye(u.shape[0], dtype=complex)
        for _ in range(abs(k)):
            out = base @ out
        return out
    w, v = np.linalg.eig(u)
    v = v.astype(complex)
    done = np.zeros(len(w), dtype=bool)
    for i in range(len(w)):
        if done[i]:
            continue
        group = np.nonzero(~done & (np.abs(w - w[i]) < 1e-7))[0]
        q, _ = np.linalg.qr(v[:, group])
        v[:, group] = q
        done[group] = True
    phase = np.angle(w)
    phase = np.where(phase < -math.pi + 1e-9, math.pi, phase)  # -pi and +pi are the same eigenvalue
    return (v * np.exp(1j * p * phase)) @ v.conj().T


def op_matrix(name, params=(), exponents=(), unitary=None):
    """Target matrix of a gate with its pow/inv modifiers (outermost first, applied innermost first)."""
    m = np.array(unitary, dtype=complex) if unitary is not None else gate_matrix(name, params)
    for e in reversed(tuple(exponents)):
        m = unitary_power(m, e)
    return m


def bit(index, q, n):
    return (index >> (n - 1 - q)) & 1


def full_operator(n, targets, matrix, controls=(), control_states=None):
    """The 2^n x 2^n matrix of ``matrix`` on ``targets`` under ``controls`` (explicit index loop)."""
    targets, controls = list(targets), list(controls)
    states = [1] * len(controls) if control_states is None else list(control_states)
    dim = 1 << n
    k = len(targets)
    matrix = np.asarray(matrix, dtype=complex)
    out = np.zeros((dim, dim), dtype=complex)
    for col in range(dim):
        if any(bit(col, c, n) != s for c, s in zip(controls, states)):
            out[col, col] = 1
            continue
        a = 0
        for t in targets:
            a = (a << 1) | bit(col, t, n)
        if k == 0:  # a phase on the control subspace (gphase under ctrl@)
            out[col, col] = matrix[0, 0]
            continue
        for b in range(1 << k):
            row = col
            for j, t in enumerate(targets):
                shift = n - 1 - t
                row = (row & ~(1 << shift)) | (((b >> (k - 1 - j)) & 1) << shift)
            out[row, col] += matrix[b, a]
    return out


def random_state(n, rng):
    v = rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)
    return v / np.linalg.norm(v)


def random_unitary(k, rng):
    """Haar-random 2^k x 2^k unitary (QR of a complex Gaussian with the phase fix)."""
    d = 1 << k
    z = (rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))) / math.sqrt(2)
    q, r = np.linalg.qr(z)
    return q * (np.diag(r) / np.abs(np.diag(r)))


# ----------------------------------------------------------------------------- pure-state readouts
def marginal(probs, n, qubits):
    """Marginal distribution over ``qubits`` (first = most significant) of a distribution on n qubits."""
    qubits = list(qubits)
    out = np.zeros(1 << len(qubits))
    for i, p in enumerate(probs):
        a = 0
        for q in qubits:
            a = (a << 1) | bit(i, q, n)
        out[a] += p
    return out


def observable_matrix(factors):
    """Kronecker product of (name, hermitian_matrix_or_None) factors."""
    return kron(*[PAULI[name] if name != "hermitian" else np.asarray(m, dtype=complex) for name, m in factors])


def partial_trace(rho, n, keep):
    """Reduced density matrix on ``keep`` (in that order), by an explicit double loop."""
    keep = list(keep)
    rest = [q for q in range(n) if q not in keep]
    k = len(keep)
    out = np.zeros((1 << k, 1 << k), dtype=complex)
    for i in range(1 << n):
        for j in range(1 << n):
            if any(bit(i, q, n) != bit(j, q, n) for q in rest):
                continue
            a = b = 0
            for q in keep:
                a = (a << 1) | bit(i, q, n)
                b = (b << 1) | bit(j, q, n)
            out[a, b] += rho[i, j]
    return out


# ----------------------------------------------------------------------------- circuits
def _factors(observable):
    return [(f.name, f.matrix if f.name == "hermitian" else None) for f in observable.factors]


class Oracle:
    """Simulates a ``qsim.Circuit`` (read as data) densely.

    ``state`` is the pure state vector when the circuit has no measurement/reset that collapses;
    ``cq`` always holds the classical-quantum state {bits: rho}.
    """

    def __init__(self, circuit):
        self.labels = sorted(set(circuit.qubits))
        self.n = len(self.labels)
        self.pos = {q: i for i, q in enumerate(self.labels)}
        self.bit_count = max(getattr(circuit, "bit_count", 0), 1)
        self.result_types = list(circuit.result_types)
        self.phase = 1 + 0j
        psi = np.zeros(1 << self.n, dtype=complex)
        psi[0] = 1
        self.psi = psi
        self.pure = True
        # Terminal measurements (no later use of qubit or bit) are read-outs, not collapses.
        self.cq = {(0,) * self.bit_count: np.outer(psi, psi.conj())}
        self._run(list(circuit.instructions), top=True)

    # --- one operation
    def _unitary(self, op):
        from qsim.circuit.operations import GateOp  # data class only

        assert isinstance(op, GateOp)
        m = op_matrix(op.name, op.params, op.exponents, op.unitary)
        return full_operator(self.n, [self.pos[q] for q in op.targets], m,
                             [self.pos[q] for q in op.controls], op.control_states)

    def _run(self, ops, top=False):
        from qsim.circuit.operations import Conditional, GateOp, Measure, Reset

        for i, op in enumerate(ops):
            if isinstance(op, GateOp):
                u = self._unitary(op)
                if self.pure:
                    self.psi = u @ self.psi
                self.cq = {b: u @ r @ u.conj().T for b, r in self.cq.items()}
            elif isinstance(op, Measure):
                later = ops[i + 1:]
                if top and not _used_later(later, op.qubit, op.bit):
                    continue  # a terminal read-out
                self.pure = False
                q = self.pos[op.qubit]
                new = {}
                for bits, r in self.cq.items():
                    for outcome in (0, 1):
                        p = _projector(self.n, q, outcome)
                        part = p @ r @ p
                        if np.trace(part).real < 1e-15:
                            continue
                        nb = list(bits)
                        nb[op.bit] = outcome
                        key = tuple(nb)
                        new[key] = new.get(key, 0) + part
                self.cq = new
            elif isinstance(op, Reset):
                self.pure = False
                q = self.pos[op.qubit]
                flip = full_operator(self.n, [q], PX)
                p0, p1 = _projector(self.n, q, 0), _projector(self.n, q, 1)
                self.cq = {b: p0 @ r @ p0 + flip @ p1 @ r @ p1 @ flip for b, r in self.cq.items()}
            elif isinstance(op, Conditional):
                self.pure = False
                saved = self.cq
                out = {}
                for bits, r in saved.items():
                    branch = op.then_ops if op.condition.evaluate(bits) else op.else_ops
                    self.cq = {bits: r}
                    self._run(list(branch))
                    for b, rr in self.cq.items():
                        out[b] = out.get(b, 0) + rr
                self.cq = out
            else:
                raise TypeError(f"oracle cannot run {op!r}")

    # --- readouts
    @property
    def rho(self):
        return sum(self.cq.values())

    def state_vector(self):
        assert self.pure
        return self.psi

    def probabilities(self, targets=None):
        qs = range(self.n) if targets is None else [self.pos[q] for q in targets]
        return marginal(np.real(np.diag(self.rho)), self.n, qs)

    def expectation(self, observable, targets, squared=False):
        o = observable_matrix(_factors(observable))
        if squared:
            o = o @ o
        full = full_operator(self.n, [self.pos[q] for q in targets], o)
        return float(np.real(np.trace(self.rho @ full)))

    def variance(self, observable, targets):
        mean = self.expectation(observable, targets)
        return self.expectation(observable, targets, squared=True) - mean * mean

    def density_matrix(self, targets=None):
        qs = range(self.n) if targets is None else [self.pos[q] for q in targets]
        return partial_trace(self.rho, self.n, qs)

    def value(self, r):
        """The exact (shots=0) value of result type ``r`` (a qsim result-type object, read as data)."""
        kind = r.kind
        if kind == "statevector":
            return self.state_vector()
        if kind == "amplitude":
            return {s: self.state_vector()[int(s, 2)] for s in r.states}
        if kind == "probability":
            return self.probabilities(r.targets)
        if kind == "densitymatrix":
            return self.density_matrix(r.targets)
        fn = self.expectation if kind == "expectation" else self.variance
        if r.targets is None:
            return [fn(r.observable, (q,)) for q in self.labels]
        return fn(r.observable, r.targets)


def _projector(n, q, outcome):
    return np.diag([1.0 + 0j if bit(i, q, n) == outcome else 0j for i in range(1 << n)])


def _used_later(ops, qubit, bit_index):
    from qsim.circuit.operations import Conditional

    for op in ops:
        if qubit in op.qubits:
            return True
        if isinstance(op, Conditional) and bit_index in op.condition.bits_used():
            return True
    return False


def assert_close(actual, expected, atol, what=""):
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    err = float(np.max(np.abs(actual - expected))) if actual.size else 0.0
    assert err <= atol, f"{what}: max |diff| = {err:.3g} > {atol:g}\nactual={actual}\nexpected={expected}"


def assert_value_close(actual, expected, atol, what=""):
    """Compare result values of any shape: dicts (amplitude), lists (broadcast), arrays, scalars."""
    if isinstance(expected, dict):
        assert set(actual) == set(expected), what
        for k in expected:
            assert_close(actual[k], expected[k], atol, f"{what}[{k}]")
    else:
        assert_close(actual, expected, atol, what)
