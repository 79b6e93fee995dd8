"""Compiled parametric circuits (``qsim.state.compile.CompiledCircuit``, cached by the device) and
``run_batch``: a re-run with new inputs gives what a fresh device gives, without re-parsing,
re-lowering or re-planning fusion, and recomputes only the gates whose parameters changed."""

from __future__ import annotations

import numpy as np
import pytest

import qsim
from adjoint_cases import NAMES, random_circuit
from qsim import Circuit, FreeParameter
from qsim.circuit import observables as obs
from qsim.errors import ValidationError
from qsim.kernels.indices import index_array
from qsim.state import compile as C
from qsim.state import executor as E
from qsim.state import fusion as F
from qsim.state import rebind as RB


def _values(rng):
    return {p: float(rng.uniform(-np.pi, np.pi)) for p in NAMES}


@pytest.mark.parametrize("seed", range(4))
def test_rebound_runs_equal_fresh_runs(seed):
    rng = np.random.default_rng(seed)
    c = random_circuit(rng, 5, 30)
    c.state_vector().expectation(obs.Z() @ obs.X(), [0, 3])
    dev = qsim.device()
    for _ in range(4):
        values = _values(rng)
        got = dev.run(c, inputs=values).result().values
        fresh = qsim.device().run(c.bind(values), inputs={}).result().values
        np.testing.assert_allclose(got[0], fresh[0], atol=1e-12)
        assert abs(got[1] - fresh[1]) < 1e-12


QASM = """OPENQASM 3.0;
input float a;
input angle b;
input int k;
qubit[3] q;
gate g(x) u, v { rx(x) u; cnot u, v; rz(x / 2) v; }
h q;
for int i in [0:k] { g(a * i + b) q[i], q[(i + 1) % 3]; }
ctrl @ ry(2 * a) q[0], q[2];
#pragma braket result state_vector
"""


def test_openqasm_is_parsed_once_per_text_and_int_inputs(monkeypatch):
    from qsim import qasm

    calls = {"parse": 0, "plan": 0, "lower": 0}
    real_parse, real_plan, real_lower = qasm.parse, F.plan, C.lower

    def count(name, f):
        def wrapped(*args, **kwargs):
            calls[name] += 1
            return f(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(qasm, "parse", count("parse", real_parse))
    monkeypatch.setattr(F, "plan", count("plan", real_plan))
    monkeypatch.setattr(C, "lower", count("lower", real_lower))  # a compiled circuit's own lowering
    monkeypatch.setattr(E, "lower", count("lower", real_lower))  # and a plain run's
    dev = qsim.device()
    rng = np.random.default_rng(1)
    dev.run(QASM, inputs={"a": 0.1, "b": 0.2, "k": 2})
    first = dict(calls)
    for _ in range(3):
        inputs = {"a": float(rng.uniform(-3, 3)), "b": float(rng.uniform(0, 7)), "k": 2}
        got = dev.run(QASM, inputs=inputs).result().values[0]
        np.testing.assert_allclose(got, qsim.device(fusion=False).run(QASM, inputs=inputs).result().values[0],
                                   atol=1e-12)
    # the fresh reference devices parse; the cached one did not parse, lower or plan again
    monkeypatch.setattr(qasm, "parse", count("parse", real_parse))
    before = dict(calls)
    dev.run(QASM, inputs={"a": 0.5, "b": 1.0, "k": 2})
    assert calls == before
    assert first["plan"] == 1 and first["lower"] == 0
    dev.run(QASM, inputs={"a": 0.5, "b": 1.0, "k": 1})  # an int input changes the program: compiled anew
    assert calls["parse"] == before["parse"] + 2  # symbolic parse + the one-time check against a plain parse


def test_only_changed_gates_are_recomputed(monkeypatch):
    from qsim.kernels import reductions as KR

    a, b = FreeParameter("a"), FreeParameter("b")
    c = Circuit().rx(0, a).ry(1, b).cnot(0, 1).rz(2, b).cnot(1, 2).gate("U", [2], [a, b, 0.1])
    c.ry(3, b).h(3).expectation(obs.Z(), 2)
    dev = qsim.device()
    dev.run(c, inputs={"a": 0.1, "b": 0.2})
    built, blocks = [], []
    real_matrix, real_products = C._ParamGate.matrix, KR.block_products
    monkeypatch.setattr(C._ParamGate, "matrix", lambda self, v: built.append(self.spec.name) or real_matrix(self, v))
    for kind, f in list(RB.VECTOR_BUILDERS.items()):
        monkeypatch.setitem(RB.VECTOR_BUILDERS, kind, lambda t, f=f, kind=kind: built.extend([kind] * len(t)) or f(t))
    monkeypatch.setattr(KR, "block_products", lambda *args: blocks.append(len(args[4])) or real_products(*args))
    got = dev.run(c, inputs={"a": 0.7, "b": 0.2}).result().values[0]
    assert sorted(built) == ["U", "rx"]  # the gates with `a`; ry(b), rz(b), ry(b) are not rebuilt
    assert blocks == [2]  # the two fused blocks holding them; the block on qubit 3 is reused
    ref = qsim.device(fusion=False).run(c.bind({"a": 0.7, "b": 0.2})).result().values[0]
    assert abs(got - ref) < 1e-12


def test_programs_that_need_their_inputs_at_parse_time_still_run():
    src = "OPENQASM 3.0;\ninput float t;\nqubit[1] q;\nif (t > 0) { x q[0]; }\nrx(t) q[0];\n#pragma braket result probability"
    dev = qsim.device()
    for t in (0.3, -0.3):
        got = dev.run(src, inputs={"t": t}).result().values[0]
        c = Circuit().rx(0, t)
        if t > 0:
            c = Circuit().x(0).rx(0, t)
        np.testing.assert_allclose(got, qsim.device().run(c.probability()).result().values[0], atol=1e-12)


def test_run_batch_order_broadcast_and_failures():
    t = FreeParameter("t")
    c = Circuit().rx(0, t).expectation(obs.Z(), 0)
    dev = qsim.device()
    batch = dev.run_batch(c, inputs=[{"t": 0.1}, {"t": "bad"}, {"t": 0.3}])
    assert len(batch) == 3
    results = batch.results()
    assert abs(results[0].values[0] - np.cos(0.1)) < 1e-12 and abs(results[2].values[0] - np.cos(0.3)) < 1e-12
    assert results[1] is None
    assert batch.unsuccessful == {batch.tasks[1].id}
    assert "real number" in batch.errors[batch.tasks[1].id]
    with pytest.raises(ValidationError, match="real number"):
        batch.results(fail_unsuccessful=True)
    other = Circuit().h(0).probability()
    both = dev.run_batch([c, other], inputs={"t": 0.2}, shots=0).results()
    assert abs(both[0].values[0] - np.cos(0.2)) < 1e-12
    np.testing.assert_allclose(both[1].values[0], [0.5, 0.5], atol=1e-12)
    with pytest.raises(ValidationError, match="2 programs but 3 input sets"):
        dev.run_batch([c, other], inputs=[{}, {}, {}])
    sampled = dev.run_batch([other, other], shots=100, seed=5).results()
    again = dev.run_batch([other, other], shots=100, seed=5).results()
    assert [r.measurement_counts for r in sampled] == [r.measurement_counts for r in again]


def test_vectorised_rotation_matrices_equal_the_gate_set():
    from qsim.circuit.gates import GATES

    t = np.array([-7.1, -0.3, 0.0, 1.9, 12.0])
    for name, build in RB.VECTOR_BUILDERS.items():
        for angle, m in zip(t, build(t)):
            np.testing.assert_allclose(m, GATES[name].matrix(float(angle)), atol=1e-15, err_msg=name)
    # the Numba writer of the same four (every rotation of a compiled circuit at once)
    from qsim.kernels import reductions as KR

    names = list(RB.ROTATION_CODES)
    raw = np.full((len(t) * len(names), 4, 4), 9.0 + 0j)
    rows = [(name, angle) for name in names for angle in t]
    KR.rotation_matrices(raw, index_array(range(len(rows))), index_array([RB.ROTATION_CODES[nm] for nm, _ in rows]),
                         np.array([a for _, a in rows]))
    for k, (name, angle) in enumerate(rows):
        np.testing.assert_allclose(raw[k, :2, :2], GATES[name].matrix(float(angle)), atol=1e-15, err_msg=name)


def test_fast_rebinding_of_rotation_layers_equals_unfused_runs():
    """The array-based re-binding (uncontrolled parametrised gates): rotation layers, entanglers with
    parameters, a parametrised gate left alone, several rebinds with some parameters unchanged."""
    rng = np.random.default_rng(9)
    ps = [FreeParameter(f"p{i}") for i in range(6)]
    c = Circuit()
    for layer in range(3):
        for q in range(4):
            c.ry(q, ps[(q + layer) % 6]).rz(q, 2 * ps[q] - 0.3).gate("U", [q], [ps[q], 0.2, ps[5]])
        c.xx(0, 1, ps[4]).cnot(1, 2).zz(2, 3, ps[3]).swap(0, 3).cphaseshift(3, 1, ps[2])
    c.rx(4, ps[0]).state_vector()
    dev = qsim.device()
    values = {p.name: float(rng.uniform(-3, 3)) for p in ps}
    for step in range(5):
        if step:
            values[f"p{int(rng.integers(6))}"] = float(rng.uniform(-3, 3))
        got = dev.run(c, inputs=values).result().values[0]
        ref = qsim.device(fusion=False).run(c.bind(values)).result().values[0]
        np.testing.assert_allclose(got, ref, atol=1e-12)
    assert dev.compile(c)[0]._fast is not None


@pytest.mark.parametrize("n", [1, 5, 7, 8])
def test_broadcast_z_in_one_pass_equals_the_oracle(n):
    from oracle import Oracle, kron

    rng = np.random.default_rng(n)
    c = Circuit()
    for q in range(n):
        c.ry(q, float(rng.uniform(0, 3))).rz(q, float(rng.uniform(0, 3)))
    for q in range(n - 1):
        c.cnot(q, q + 1).rx(q, 0.4)
    ref_circuit = Circuit(list(c.instructions)).state_vector()
    c.expectation(obs.Z())
    got = qsim.device().run(c).result().values[0]
    psi = Oracle(ref_circuit).psi
    for q in range(n):
        mats = [np.eye(2)] * n
        mats[q] = np.diag([1.0, -1.0])
        assert abs(got[q] - np.real(np.vdot(psi, kron(*mats) @ psi))) < 1e-12
    if n > 1:  # with a mid-circuit measurement: paths weighted by their probabilities
        m = Circuit(list(c.instructions[:-1])).measure(0).h(0).expectation(obs.Z())
        per_qubit = [qsim.device().run(Circuit(list(m.instructions)).expectation(obs.Z(), q)).result().values[0]
                     for q in range(n)]
        np.testing.assert_allclose(qsim.device().run(m).result().values[0], per_qubit, atol=1e-12)


def _packed(dev, c):
    return dev.compile(c)[0]._program


@pytest.mark.parametrize("precision", ["double", "single"])
@pytest.mark.parametrize("n", [2, 5, 6])
def test_packed_program_equals_the_oracle(n, precision):
    """The one-call packed program (qsim.state.packed) on random circuits: every parametrised gate,
    controls, powers, cnots; tiny states (whichever path they take) and states on the compiled
    kernels."""
    from oracle import ATOL, Oracle

    built = 0
    for seed in range(3):
        rng = np.random.default_rng(100 * n + seed)
        c = random_circuit(rng, n, 10)
        c.cnot(0, n - 1).ccnot(0, 1, n - 1) if n > 2 else c.cnot(0, 1)
        c.state_vector()
        dev = qsim.device(precision=precision)
        for _ in range(2):
            values = _values(rng)
            got = dev.run(c, inputs=values).result().values[0]
            bound = c.bind(values)
            want = Oracle(Circuit(list(bound.instructions))).psi
            np.testing.assert_allclose(got, want, atol=ATOL[precision])
        built += _packed(dev, c) is not None
    if n >= 6:  # (tinier states may take a path of their own)
        assert built  # some of the circuits ran on the packed path


@pytest.mark.parametrize("above", [0, 1])
def test_packed_program_on_both_sides_of_its_size_limit(above):
    """At the packed path's largest size and one above (per-item dispatch), a layered circuit with
    controlled rotations, swaps, Toffolis and constant diagonals equals the unfused run."""
    from qsim.state.packed import PACKED_MAX_QUBITS

    n = PACKED_MAX_QUBITS + above
    ps = [FreeParameter(f"t{i}") for i in range(4)]
    c = Circuit()
    for layer in range(2):
        for q in range(n):
            c.ry(q, ps[q % 4]).rz(q, ps[(q + layer) % 4] * 0.5)
        for q in range(0, n - 1, 2):
            c.cnot(q, q + 1)
        c.gate("rx", [0], [ps[layer]], control=[n - 1]).swap(1, n - 2).ccnot(0, 2, 4).cz(3, n - 1).s(2).gate("U", [5], [ps[0], 0.3, ps[2]])
    c.expectation(obs.Z()).expectation(obs.X() @ obs.Y(), [0, n - 1])
    dev = qsim.device()
    rng = np.random.default_rng(n)
    for _ in range(2):  # the second run re-binds
        values = {p.name: float(rng.uniform(-3, 3)) for p in ps}
        got = dev.run(c, inputs=values).result().values
        ref = qsim.device(fusion=False).run(c.bind(values)).result().values
        np.testing.assert_allclose(got[0], ref[0], atol=1e-11)
        assert abs(got[1] - ref[1]) < 1e-11
    assert (_packed(dev, c) is not None) == (n <= PACKED_MAX_QUBITS)


def test_parameter_values_are_checked_on_every_run():
    """numpy floats are accepted; nan, inf and non-numbers are refused by name, also after a run
    (the all-at-once check of a compiled circuit's values)."""
    a, b = FreeParameter("a"), FreeParameter("b")
    c = Circuit().rx(0, a).ry(0, b).expectation(obs.Z(), 0)
    dev = qsim.device()
    got = dev.run(c, inputs={"a": np.float64(0.3), "b": 0.2}).result().values[0]
    ref = qsim.device(fusion=False).run(c.bind({"a": 0.3, "b": 0.2})).result().values[0]
    assert abs(got - ref) < 1e-12
    for bad, match in ((float("nan"), "finite"), (float("inf"), "finite"), ("x", "real number")):
        with pytest.raises(ValidationError, match=match):
            dev.run(c, inputs={"a": 0.1, "b": bad})


def _tensor_apply(psi, n, qubits, m):
    """``m`` (big-endian over ``qubits``; qubit 0 the most significant) on ``psi`` by tensordot."""
    k = len(qubits)
    t = np.moveaxis(psi.reshape([2] * n), qubits, list(range(k)))
    t = np.tensordot(m.reshape([2] * (2 * k)), t, axes=(list(range(k, 2 * k)), list(range(k))))
    return np.moveaxis(t, list(range(k)), qubits).reshape(-1)


def test_blocks_of_constant_permutations_take_the_monomial_kernels(monkeypatch):
    """On a state above 16 qubits, a fused block holding only a cnot ladder's gates is a permutation:
    the compiled circuit does not flag it dense, so it reaches the monomial kernels (tiled rows or
    the block loop) rather than a dense pass; the state equals a tensordot reference built from
    hand-written rotation and cnot matrices."""
    n = 17
    rng = np.random.default_rng(3)
    c = Circuit()
    angles = []
    for layer in range(2):
        for q in range(n):
            a, b = float(rng.uniform(0, 6)), float(rng.uniform(0, 6))
            c.rx(q, a).ry(q, b)
            angles.append((q, a, b))
        for q in range(n - 1):
            c.cnot(q, q + 1)
    compiled = C.CompiledCircuit(c)
    members = [compiled._plan.members(j) for j in range(len(compiled._plan.entries))]
    ladder_only = [j for j, ms in enumerate(members) if len(ms) > 1 and all(compiled.gate_ops[m].name == "cnot" for m in ms)]
    assert ladder_only, "the plan has no block of cnots only: the case does not test the flag"
    assert not any(compiled.dense[j] for j in ladder_only)
    psi = np.zeros(1 << n, dtype=complex)
    psi[0] = 1
    cx = np.eye(4)[[0, 1, 3, 2]]
    it = iter(angles)
    for layer in range(2):
        for q in range(n):
            _, a, b = next(it)
            rx = np.array([[np.cos(a / 2), -1j * np.sin(a / 2)], [-1j * np.sin(a / 2), np.cos(a / 2)]])
            ry = np.array([[np.cos(b / 2), -np.sin(b / 2)], [np.sin(b / 2), np.cos(b / 2)]])
            psi = _tensor_apply(psi, n, [q], ry @ rx)
        for q in range(n - 1):
            psi = _tensor_apply(psi, n, [q, q + 1], cx)
    got = qsim.device().run(Circuit(list(c.instructions)).state_vector()).result().values[0]
    np.testing.assert_allclose(got, psi, atol=1e-10)
