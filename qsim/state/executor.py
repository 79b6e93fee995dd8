"""Run a Circuit on a state vector and compute its result types.

``execute(circuit, shots, make_state, seed)`` is generic over the state class: ``make_state(n)``
returns a ``StateVector`` or a distributed state with the same methods, whose reads are global.  So
the executor needs no MPI: every rank runs it identically (same circuit, same seed, same draws).

Who calls this: ``qsim.device`` (``execute``, and ``execute_compiled`` for a cached
``qsim.state.compile.CompiledCircuit``); ``validate`` also the CLI and the endpoint.  A run is:
validate, remap the used qubits, lower (``qsim.state.lowering``), run the steps over measurement
paths (``qsim.state.paths``), then the result types' values (``qsim.state.result_values``; the
adjoint gradient from ``qsim.state.adjoint``) in a Braket-shaped ``Result``.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone

import numpy as np

from qsim.circuit import result_types as rt
from qsim.circuit.operations import Conditional, Measure
from qsim.errors import InternalError, ValidationError
from qsim.state.lowering import Branch, MeasureStep, Unitaries, lower
from qsim.state.memory import check_results_fit, check_shots_fit
from qsim.state.paths import Path, Runner
from qsim.state.result_values import basis_rotations, exact_value, sampled_value


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

    runner = Runner(shots, rng, make_state)
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
                values.append(exact_value(r, paths, n, runner.z))
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
            values.append(sampled_value(r, qubit_bits, n))
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


