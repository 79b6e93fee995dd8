"""Random parametrised circuits and their dense-oracle gradients, shared by ``tests/test_adjoint.py``
and ``tests/distributed/test_adjoint_distributed.py`` (the bodies run on 1, 2 and 4 ranks).

The reference gradient is an 8th-order central finite difference of the *oracle's* expectation
(``tests/oracle.py``: textbook matrices, dense 2^n x 2^n operators), which is exact to ~1e-10 for
these trigonometric functions (a small step: a fractional power of a gate jumps where an eigenphase
crosses the branch cut at pi, and the stencil must not straddle that); qsim's adjoint method must agree with it.
"""

from __future__ import annotations

import numpy as np

from oracle import Oracle, kron
from qsim import Circuit, FreeParameter
from qsim.circuit import observables as obs
from qsim.circuit.gates import GATES

PARAMETRISED = sorted(name for name, spec in GATES.items() if spec.params > 0)
NAMES = ("alpha", "beta", "gamma")
_STENCIL = ((1, 4 / 5), (2, -1 / 5), (3, 4 / 105), (4, -1 / 280))


def random_angle(rng, params):
    """A random affine expression of one or two parameters, or (sometimes) a constant."""
    kind = rng.integers(4)
    if kind == 0:
        return float(rng.uniform(-3, 3))
    a, b = (params[i] for i in rng.choice(len(params), 2, replace=False))
    if kind == 1:
        return a
    if kind == 2:
        return float(rng.uniform(-2, 2)) * a + float(rng.uniform(-1, 1))
    return a * float(rng.uniform(0.5, 1.5)) - b / 2.0


def random_circuit(rng, n, gates, *, modifiers=True):
    params = [FreeParameter(p) for p in NAMES]
    c = Circuit()
    for q in range(n):
        c.h(q)
    for _ in range(gates):
        name = PARAMETRISED[rng.integers(len(PARAMETRISED))]
        spec = GATES[name]
        qubits = [int(q) for q in rng.permutation(n)]
        targets = qubits[:spec.qubits]
        angles = [random_angle(rng, params) for _ in range(spec.params)]
        control = control_state = power = None
        if modifiers:
            if rng.random() < 0.35 and n > spec.qubits:
                k = 1 + int(rng.random() < 0.3 and n > spec.qubits + 1)
                control = qubits[spec.qubits:spec.qubits + k]
                control_state = [int(b) for b in rng.integers(0, 2, k)]
            if rng.random() < 0.3:
                power = [-1, 2, 0.5, -0.5, 3][rng.integers(5)]
        if name == "gphase" and control is None:
            control, control_state = [qubits[0]], [1]
        c.gate(name, targets, angles, control=control, control_state=control_state, power=power)
        if rng.random() < 0.3:
            c.cnot(qubits[0], qubits[1])
    return c


def random_terms(rng, n):
    """A weighted sum of tensor products of Paulis and a Hermitian factor."""
    terms = []
    for _ in range(int(rng.integers(1, 4))):
        k = int(rng.integers(1, 3))
        qs = [int(q) for q in rng.permutation(n)[:k]]
        o = None
        for _ in qs:
            name = "xyzhi"[rng.integers(5)]
            f = obs.named(name)
            o = f if o is None else o @ f
        if rng.random() < 0.3:
            h = rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2))
            o = o @ obs.Hermitian(h + h.conj().T)
            qs.append(int(next(q for q in range(n) if q not in qs)))
        terms.append((float(rng.uniform(-2, 2)), o, qs))
    return terms


def oracle_expectation(circuit, values, terms):
    bound = circuit.bind(values)
    bound.state_vector()
    o = Oracle(bound)
    psi = o.psi * o.phase
    n = o.n
    total = 0.0
    for coeff, observable, targets in terms:
        mats = [np.eye(2, dtype=complex)] * n
        # each factor on its own qubits (factors here are one-qubit)
        pos = 0
        for f in observable.factors:
            mats = list(mats)
            mats[o.pos[targets[pos]]] = f.matrix
            pos += f.qubit_count
        total += coeff * float(np.real(np.vdot(psi, kron(*mats) @ psi)))
    return total


def oracle_gradient(circuit, values, terms, names, h=1e-3):
    out = {}
    for p in names:
        d = 0.0
        for k, w in _STENCIL:
            up, down = dict(values), dict(values)
            up[p] += k * h
            down[p] -= k * h
            d += w * (oracle_expectation(circuit, up, terms) - oracle_expectation(circuit, down, terms))
        out[p] = d / h
    return out
