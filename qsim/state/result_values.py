"""The values of result types: exact ones from the final paths' states (shots=0), sampled ones
from the shots' bits, and the basis rotations that sampling an observable needs first.

Who calls this: ``qsim.state.executor`` (``_run``).  Reads go through the state's own methods
(``probabilities``, ``expectation``, ``z_expectations``...), global on a distributed state.
"""

from __future__ import annotations

import numpy as np

from qsim.circuit import result_types as rt
from qsim.errors import InternalError, ValidationError


def _observable_results(types):
    return [r for r in types if isinstance(r, (rt.Expectation, rt.Variance, rt.Sample))]


def _expand_targets(r, n):
    """(observable, targets) pairs a result expands to: one per qubit when broadcast."""
    if r.targets is None:
        return [(q,) for q in range(n)], True
    return [tuple(r.targets)], False


def basis_rotations(types, n):
    """Gates rotating every observable onto the computational basis, checking Braket's rule that
    the observables measured on one qubit must agree (``i`` agrees with anything)."""
    chosen: dict[int, tuple] = {}
    rotations = {}
    for r in _observable_results(types):
        targets, _ = _expand_targets(r, n)
        for tgt in targets:
            pos = 0
            for f in r.observable.factors:
                qs = tuple(tgt[pos:pos + f.qubit_count])
                pos += f.qubit_count
                if f.name == "i":
                    continue
                key = (f.name, qs, f.matrix.tobytes() if f.name == "hermitian" else None)
                for q in qs:
                    prev = chosen.get(q)
                    if prev is not None and prev != key:
                        raise ValidationError(
                            f"conflicting result types on qubit {q}: observables {prev[0]} and {f.name} "
                            f"cannot be measured together with shots > 0")
                    chosen[q] = key
                if f.name != "z":
                    rotations[key] = (qs, f.eigh()[1], (), ())
    return list(rotations.values())


def eigenvalues(observable):
    """Eigenvalue of each computational basis state (big-endian over the observable's qubits)
    once the state is rotated by ``basis_rotations``."""
    vals = np.ones(1)
    for f in observable.factors:
        eig, _ = f.eigh()
        vals = np.kron(vals, eig)
    return vals


def _broadcast(r, n, fn):
    targets, broadcast = _expand_targets(r, n)
    vals = [fn(t) for t in targets]
    return vals if broadcast else vals[0]


def exact_value(r, paths, n, z=None):
    """The exact value of result type ``r`` over ``paths``; ``z``: [<Z_q>] of the one path's state
    if already known."""
    pure = len(paths) == 1
    if isinstance(r, (rt.StateVector, rt.Amplitude)) and not pure:
        raise ValidationError(
            f"result type '{r.kind}' is not defined here: after mid-circuit measurement or reset the "
            f"state is a mixture of {len(paths)} branches; ask for probability, expectation, variance or "
            f"density_matrix instead")
    if isinstance(r, rt.StateVector):
        return paths[0].state.state_vector()
    if isinstance(r, rt.Amplitude):
        return {s: paths[0].state.amplitude(int(s, 2)) for s in r.states}
    if isinstance(r, rt.Probability):
        qs = range(n) if r.targets is None else r.targets
        return sum(p.weight * p.state.probabilities(qs) for p in paths)
    if isinstance(r, rt.DensityMatrix):
        qs = range(n) if r.targets is None else r.targets
        return sum(p.weight * p.state.density_matrix(qs) for p in paths)
    if isinstance(r, rt.Expectation):
        if r.targets is None and r.observable.factors[0].name == "z" and n and \
                all(not p.state.distributed for p in paths):
            if z is not None and len(paths) == 1 and paths[0].weight == 1.0:
                return list(z)
            z = sum(p.weight * np.array(p.state.z_expectations()) for p in paths)  # one pass each
            return [float(v) for v in z]
        return _broadcast(r, n, lambda t: sum(p.weight * p.state.expectation(r.observable, t) for p in paths))
    if isinstance(r, rt.Variance):
        def var(t):
            mean = sum(p.weight * p.state.expectation(r.observable, t) for p in paths)
            sq = sum(p.weight * p.state.expectation(r.observable, t, squared=True) for p in paths)
            return max(sq - mean * mean, 0.0)
        return _broadcast(r, n, var)
    raise InternalError(f"no exact value for result type {r!r}")


def sampled_value(r, qubit_bits, n):
    shots = qubit_bits.shape[0]
    if isinstance(r, rt.Probability):
        qs = list(range(n)) if r.targets is None else list(r.targets)
        idx = np.zeros(shots, dtype=np.int64)
        for q in qs:
            idx = (idx << 1) | qubit_bits[:, q]
        return np.bincount(idx, minlength=1 << len(qs)) / shots

    def eigen_per_shot(t):
        idx = np.zeros(shots, dtype=np.int64)
        for q in t:
            idx = (idx << 1) | qubit_bits[:, q]
        return eigenvalues(r.observable)[idx]

    if isinstance(r, rt.Sample):
        return _broadcast(r, n, eigen_per_shot)
    if isinstance(r, rt.Expectation):
        return _broadcast(r, n, lambda t: float(np.mean(eigen_per_shot(t))))
    if isinstance(r, rt.Variance):
        return _broadcast(r, n, lambda t: float(np.var(eigen_per_shot(t))))
    raise InternalError(f"no sampled value for result type {r!r}")
