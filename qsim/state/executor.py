"""Run a Circuit on a state vector and compute its result types.

``execute(circuit, shots, make_state, seed)`` is generic over the state class: ``make_state(n)``
returns a ``StateVector`` or a distributed state with the same methods, whose reads are global.  So
the executor needs no MPI: every rank runs it identically (same circuit, same seed, same draws).

Mid-circuit measurement and reset are physical.  The run keeps a list of *paths*, each a weight,
a state and the classical bits measured on it.  With shots=0 a path's weight is its probability
and results are exact averages over paths; with shots>0 it is its number of shots (split
binomially at each measurement) and each shot follows its own sampled outcomes.  Paths that end up
with equal states and bits are merged (a reset of an unentangled qubit leaves one path).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from qsim.circuit import result_types as rt
from qsim.circuit.operations import Conditional, Measure
from qsim.errors import InternalError, ValidationError
from qsim.state.compile import Branch, MeasureStep, ResetStep, Unitaries, lower
from qsim.state.memory import check_branch_fits, check_results_fit, check_shots_fit

_X = np.array([[0, 1], [1, 0]], dtype=np.complex128)
_PROB_EPS = 1e-14


@dataclass
class Path:
    weight: float  # probability (shots=0) or shot count (shots>0)
    state: object
    bits: list


# ---------------------------------------------------------------------------- validation
def validate(circuit, shots):
    validate_result_types(circuit, shots)
    if circuit.free_parameters():
        raise ValidationError(f"unbound free parameter(s) {sorted(circuit.free_parameters())}: "
                              f"pass inputs={{name: value}}")


def validate_result_types(circuit, shots):
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 0:
        raise ValidationError(f"shots must be a non-negative integer, got {shots!r}")
    types = circuit.result_types
    if shots == 0:
        if not types:
            raise ValidationError("with shots=0 the program must request at least one result type "
                                  "(e.g. '#pragma braket result state_vector'), or run with shots > 0")
        for r in types:
            if isinstance(r, rt.SAMPLED_ONLY):
                raise ValidationError(f"result type '{r.kind}' needs shots > 0")
    else:
        for r in types:
            if isinstance(r, rt.EXACT_ONLY):
                raise ValidationError(f"result type '{r.kind}' is only available with shots=0, "
                                      f"but shots={shots}")
    if sum(isinstance(r, rt.AdjointGradient) for r in types) > 1:
        raise ValidationError("a program may request at most one adjoint_gradient result type")


def _adjoint_request(source, values, r, mapping, steps):
    """(gate ops with parameter expressions, values, parameter names) for an adjoint_gradient of
    ``source`` (the circuit with its parameters as expressions) at ``values``."""
    from qsim.circuit.operations import GateOp

    if any(not isinstance(s, Unitaries) for s in steps):
        raise ValidationError("adjoint_gradient needs a circuit without mid-circuit measurement, reset or "
                              "feed-forward (terminal measurements are fine)")
    ops = [op for op in source.instructions if isinstance(op, GateOp)]
    if mapping is not None:
        ops = [op.remap(mapping) for op in ops]
    order = []
    for op in ops:
        for p in op.params:
            if hasattr(p, "free_parameters"):
                order.extend(sorted(p.free_parameters()))
    known = list(dict.fromkeys(order + list(getattr(source, "input_names", ()) or ()) + list(values)))
    if r.parameters is None:
        names = list(dict.fromkeys(order + list(getattr(source, "input_names", ()) or ())))
    else:
        names = list(dict.fromkeys(r.parameters))
        unknown = [p for p in names if p not in known]
        if unknown:
            raise ValidationError(f"adjoint_gradient: unknown parameter(s) {unknown}; the program's parameters "
                                  f"are {known}")
    return ops, values, names


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


def _eigenvalues(observable):
    """Eigenvalue of each computational basis state (big-endian over the observable's qubits)
    once the state is rotated by ``basis_rotations``."""
    vals = np.ones(1)
    for f in observable.factors:
        eig, _ = f.eigh()
        vals = np.kron(vals, eig)
    return vals


# ---------------------------------------------------------------------------- running
def _apply_items(state, step, want_z=False):
    """``state.apply_all(step.items)``; on a single-process state, items known to be dense for every
    parameter value go straight to the dense kernels (no structure analysis per call).  Returns
    [<Z_q>] when ``want_z`` and the packed program gave them on the way (else None)."""
    if state.distributed:
        state.apply_all(step.items)
        return None
    program = step.program
    if program is not None and program.n == state.n_qubits and state.is_canonical():
        return program.apply(state, step.items, want_z)  # one kernel call for all items (qsim.state.packed)
    if step.dense is None:
        state.apply_all(step.items)
        return None
    state.apply_known_dense(step.items, step.dense)  # in the state's own qubit placement
    return None


class _Runner:
    def __init__(self, shots, rng, make_state):
        self.shots = shots
        self.rng = rng
        self.make_state = make_state
        self.stats = {"pathsMax": 1, "midCircuitMeasurements": 0, "resets": 0}
        self.branch_budget = None  # bytes all branch states together may take (qsim.state.memory)
        # [<Z_q>] of the final state, when the only step was a packed program asked for them
        self.want_z = False
        self.z = None

    def run(self, steps, paths):
        for step in steps:
            if isinstance(step, Unitaries):
                want = self.want_z and len(steps) == 1 and len(paths) == 1
                for p in paths:
                    self.z = _apply_items(p.state, step, want)
            elif isinstance(step, MeasureStep):
                self.stats["midCircuitMeasurements"] += 1
                paths = self._measure(paths, step.qubit, step.bit, reset=False)
            elif isinstance(step, ResetStep):
                self.stats["resets"] += 1
                paths = self._measure(paths, step.qubit, None, reset=True)
            elif isinstance(step, Branch):
                yes, no = [], []
                for p in paths:
                    (yes if bool(step.condition.evaluate(p.bits)) else no).append(p)
                paths = (self.run(step.then_steps, yes) if yes else []) + \
                        (self.run(step.else_steps, no) if no else [])
            else:
                raise InternalError(f"unknown step {step!r}")
            self.stats["pathsMax"] = max(self.stats["pathsMax"], len(paths))
        return paths

    def _measure(self, paths, qubit, bit, reset):
        out = []
        for i, p in enumerate(paths):
            p1 = min(max(p.state.prob_one(qubit), 0.0), 1.0)
            p0 = 1.0 - p1
            if self.shots:
                n1 = int(self.rng.binomial(int(p.weight), p1)) if 0 < p1 < 1 else (int(p.weight) if p1 >= 1 else 0)
                w0, w1 = int(p.weight) - n1, n1
                keep0, keep1 = w0 > 0, w1 > 0
            else:
                w0, w1 = p.weight * p0, p.weight * p1
                keep0, keep1 = p0 > _PROB_EPS, p1 > _PROB_EPS
            children = []
            if keep0 and keep1:
                if not getattr(p.state, "distributed", False):  # a distributed copy agrees on its own check
                    self.branch_budget = check_branch_fits(
                        len(out) + len(paths) - i, p.state.n_qubits, p.state.dtype,
                        self.stats["midCircuitMeasurements"] + self.stats["resets"], self.branch_budget)
                children = [(0, w0, p0, p.state), (1, w1, p1, p.state.copy())]
            elif keep0:
                children = [(0, w0, p0, p.state)]
            elif keep1:
                children = [(1, w1, p1, p.state)]
            for outcome, weight, prob, state in children:
                if 0 < prob < 1:
                    state.collapse(qubit, outcome, prob)
                bits = list(p.bits)
                if reset:
                    if outcome == 1:
                        state.apply((qubit,), _X)
                else:
                    bits[bit] = outcome
                out.append(Path(weight, state, bits))
        return self._merge(out)

    @staticmethod
    def _merge(paths):
        merged: list[Path] = []
        for p in paths:
            for m in merged:
                if m.bits == p.bits and m.state.same_as(p.state):
                    m.weight += p.weight
                    break
            else:
                merged.append(p)
        return merged


def _all_measures(instructions):
    out = []
    for op in instructions:
        if isinstance(op, Measure):
            out.append((op.qubit, op.bit))
        elif isinstance(op, Conditional):
            out += _all_measures(op.then_ops) + _all_measures(op.else_ops)
    return out


def _physical_bits(steps):
    out = set()
    for s in steps:
        if isinstance(s, MeasureStep):
            out.add(s.bit)
        elif isinstance(s, Branch):
            out |= _physical_bits(s.then_steps) | _physical_bits(s.else_steps)
    return out


def execute(circuit, shots, make_state, *, seed=None, fusion=True, absorb_into_two_qubit=True,
            precision="double", device_id="local:qsim/statevector", extra_metadata=None):
    """Run ``circuit`` (parameters bound) and return a ``Result``."""
    created = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    validate(circuit, shots)
    labels = circuit.qubits
    n = len(labels)
    mapping = {q: i for i, q in enumerate(labels)}
    if labels == tuple(range(n)):  # already contiguous: nothing to relabel
        instructions, types = list(circuit.instructions), list(circuit.result_types)
        mapping = None
    else:
        instructions = [op.remap(mapping) for op in circuit.instructions]
        types = [r.remap(mapping) for r in circuit.result_types]
    steps, _ = lower(instructions, fusion=fusion, absorb_into_two_qubit=absorb_into_two_qubit, precision=precision)
    source, values = getattr(circuit, "unbound", None) or (circuit, {})
    return _run(circuit, labels, instructions, types, mapping, steps, (source, values), shots, make_state, seed,
                device_id, extra_metadata, created, t0)


def execute_compiled(compiled, values, shots, make_state, *, seed=None, device_id="local:qsim/statevector",
                     extra_metadata=None):
    """Run a ``qsim.state.compile.CompiledCircuit`` at parameter ``values``: only the parametrised
    gates' matrices and the fused blocks holding them are recomputed."""
    created = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    validate_result_types(compiled.circuit, shots)
    values = compiled.check_values(values)
    steps, _ = compiled.steps(values)
    return _run(compiled.circuit, compiled.labels, compiled.instructions, compiled.result_types, compiled.mapping,
                steps, getattr(compiled.circuit, "unbound", None) or (compiled.circuit, values), shots, make_state, seed,
                device_id, extra_metadata, created, t0, compiled.run_cache if compiled.straight else None)


def _run(circuit, labels, instructions, types, mapping, steps, adjoint_source, shots, make_state, seed, device_id,
         extra_metadata, created, t0, cache=None):
    """The run itself.  ``cache``: a dict kept by a straight-line compiled circuit for what depends
    only on the program (the measured qubits, the basis rotations), filled on its first run."""
    from qsim.state.results import Result

    n = len(labels)
    for r in types:
        if isinstance(r, rt.Amplitude):
            for s in r.states:
                if len(s) != n:
                    raise ValidationError(f"amplitude state {s!r} has {len(s)} bits but the program uses "
                                          f"{n} qubit(s) {list(labels)}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValidationError(f"seed must be a non-negative integer, got {seed!r}")
    static = None if cache is None else cache.get(bool(shots))
    if static is None:
        static = (basis_rotations(types, n) if shots else [], _physical_bits(steps),
                  sorted(_all_measures(instructions), key=lambda qb: qb[1]))
        if cache is not None:
            cache[bool(shots)] = static
    rotations, physical, measures = static
    rng = np.random.default_rng(seed) if shots else None  # shots=0: nothing is drawn
    if shots:
        check_shots_fit(shots, n, max(circuit.bit_count, 1), len(measures) or n)
    elif any(getattr(r, "kind", None) in ("densitymatrix", "statevector", "probability") for r in types):
        check_results_fit(types, n)  # (the only result types whose size grows with the qubits)

    runner = _Runner(shots, rng, make_state)
    runner.want_z = not shots and any(isinstance(r, rt.Expectation) and r.targets is None and
                                      r.observable.factors[0].name == "z" for r in types)
    state = make_state(n)
    paths = runner.run(steps, [Path(float(shots) if shots else 1.0, state, [0] * max(circuit.bit_count, 1))])
    if not paths:
        raise InternalError("every measurement path was pruned")

    values = []
    if shots == 0:
        measurements = np.zeros((0, len(measures) or n), dtype=np.uint8)
        gradient_at = None
        for i, r in enumerate(types):
            if isinstance(r, rt.AdjointGradient):
                gradient_at = i
                values.append(None)
            else:
                values.append(_exact_value(r, paths, n, runner.z))
        if gradient_at is not None:  # last: the sweep walks the state back to |0>
            from qsim.state.adjoint import adjoint_gradient

            r = types[gradient_at]
            ops, inputs, names = _adjoint_request(*adjoint_source, r, mapping, steps)
            expectation, grad = adjoint_gradient(paths[0].state, ops, inputs, r.terms, names)
            values[gradient_at] = {"expectation": expectation, "gradient": grad}
    else:
        samples, shot_bits = [], []
        for p in paths:
            if rotations:
                p.state.rotate_for_sampling(rotations)
            count = int(p.weight)
            if count:
                samples.append(p.state.sample(count, rng))
                shot_bits.append(np.repeat(np.array([p.bits], dtype=np.uint8), count, axis=0))
        samples = np.concatenate(samples)
        shot_bits = np.concatenate(shot_bits)
        # Sampling draws sorted uniforms (and paths come one after another), so the rows come out
        # grouped by basis state: shuffle them so that shots are in an exchangeable order.
        if shots > 1:
            order = rng.permutation(shots)
            samples, shot_bits = samples[order], shot_bits[order]
        qubit_bits = ((samples[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1).astype(np.uint8) if n else \
            np.zeros((shots, 0), dtype=np.uint8)
        if measures:
            cols = [shot_bits[:, b] if b in physical else qubit_bits[:, q] for q, b in measures]
            measurements = np.stack(cols, axis=1)
        else:
            measurements = qubit_bits
        for r in types:
            values.append(_sampled_value(r, qubit_bits, n))
    measured_labels = [labels[q] for q, _ in measures] if measures else list(labels)
    ended = datetime.now(timezone.utc)
    meta = {
        "id": str(uuid.uuid4()),
        "shots": int(shots),
        "deviceId": device_id,
        "createdAt": created.isoformat(timespec="milliseconds")[:23] + "Z",
        "endedAt": ended.isoformat(timespec="milliseconds")[:23] + "Z",
        "executionDuration": int(round((time.perf_counter() - t0) * 1000)),
    }
    additional = {"qsimMetadata": {**paths[0].state.describe(), **runner.stats, "seed": seed,
                                   "simulatedQubits": n, **(extra_metadata or {})}}
    return Result(circuit.result_types, values, measurements, measured_labels, int(shots), meta, additional)


def _broadcast(r, n, fn):
    targets, broadcast = _expand_targets(r, n)
    vals = [fn(t) for t in targets]
    return vals if broadcast else vals[0]


def _exact_value(r, paths, n, z=None):
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


def _sampled_value(r, qubit_bits, n):
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
        return _eigenvalues(r.observable)[idx]

    if isinstance(r, rt.Sample):
        return _broadcast(r, n, eigen_per_shot)
    if isinstance(r, rt.Expectation):
        return _broadcast(r, n, lambda t: float(np.mean(eigen_per_shot(t))))
    if isinstance(r, rt.Variance):
        return _broadcast(r, n, lambda t: float(np.var(eigen_per_shot(t))))
    raise InternalError(f"no sampled value for result type {r!r}")
