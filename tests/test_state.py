"""``qsim.state``: the single-process StateVector's methods, lowering/fusion, and memory checks,
against the dense oracle."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from oracle import ATOL
from oracle import assert_close, full_operator, marginal, observable_matrix, partial_trace, random_state, \
    random_unitary
from qsim import ResourceError, ValidationError
from qsim.circuit import observables as obs
from qsim.state.fusion import fuse
from qsim.state.memory import check_fits, dtype_for, max_qubits, state_bytes
from qsim.state.statevector import StateVector

N = 5


@pytest.fixture(autouse=True, params=["numpy", "kernels"])
def state_path(request, monkeypatch):
    """Every test on both paths: states of <= 5 qubits use NumPy bodies (qsim.state.small), larger
    ones the Numba kernels; "kernels" sends the small states of these tests to the kernels too."""
    from qsim.state import small

    if request.param == "kernels":
        monkeypatch.setattr(small, "SMALL_MAX_QUBITS", -1)
    return request.param


def _sv(psi, precision="double"):
    sv = StateVector(int(np.log2(len(psi))), precision)
    sv.array[:] = psi.astype(sv.dtype)
    return sv


def test_initial_state_and_describe(precision):
    sv = StateVector(3, precision)
    assert sv.array.dtype == dtype_for(precision)
    assert_close(sv.state_vector(), np.eye(8)[0], 0)
    assert sv.norm_squared() == 1.0
    assert sv.describe() == {"ranks": 1, "qubits": 3, "localQubits": 3, "globalQubits": 0,
                             "precision": precision, "distributed": False}
    assert StateVector(0).state_vector().tolist() == [1]


def test_qubit_zero_is_the_high_bit():
    sv = StateVector(3)
    sv.apply((0,), np.array([[0, 1], [1, 0]]))
    assert sv.state_vector()[4] == 1
    sv.apply((2,), np.array([[0, 1], [1, 0]]), (0,), (1,))
    assert sv.state_vector()[5] == 1


def test_probabilities_any_order(make_random_state, precision):
    psi = make_random_state(N)
    sv = _sv(psi, precision)
    p = np.abs(psi) ** 2
    assert_close(sv.probabilities(), p, ATOL[precision])
    for k in (1, 2, 3, N):
        for qs in itertools.islice(itertools.permutations(range(N), k), 0, None, 7):
            assert_close(sv.probabilities(qs), marginal(p, N, qs), ATOL[precision], str(qs))


def test_expectation_and_squared(make_random_state, precision):
    psi = make_random_state(N)
    sv = _sv(psi, precision)
    rng = np.random.default_rng(1)
    a = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    herm = obs.Hermitian(a + a.conj().T)
    cases = [(obs.Z(), (3,)), (obs.X() @ obs.Y(), (4, 0)), (obs.Y() @ obs.Y() @ obs.Y(), (1, 2, 3)),
             (obs.H() @ obs.I() @ obs.X(), (2, 0, 4)), (herm @ obs.Z(), (1, 3, 0)), (obs.X() @ herm, (2, 4, 1))]
    for o, t in cases:
        m = full_operator(N, list(t), observable_matrix([(f.name, f.matrix) for f in o.factors]))
        want = (psi.conj() @ m @ psi).real
        want2 = (psi.conj() @ m @ m @ psi).real
        scale = 1 + np.abs(m).max() ** 2
        assert abs(sv.expectation(o, t) - want) < 10 * ATOL[precision] * scale, (o, t)
        assert abs(sv.expectation(o, t, squared=True) - want2) < 10 * ATOL[precision] * scale, (o, t)


def test_too_many_dense_observable_qubits_is_an_error():
    sv = StateVector(11)
    o = obs.H()
    for _ in range(10):
        o = o @ obs.H()
    with pytest.raises(ValidationError, match="at most 10"):
        sv.expectation(o, tuple(range(11)))


def test_density_matrix_and_amplitude(make_random_state, precision):
    psi = make_random_state(N)
    sv = _sv(psi, precision)
    rho = np.outer(psi, psi.conj())
    for qs in ((0,), (4, 1), (2, 0, 3), tuple(range(N))):
        assert_close(sv.density_matrix(qs), partial_trace(rho, N, qs), ATOL[precision], str(qs))
    assert abs(sv.amplitude(0b10110) - psi[0b10110]) < ATOL[precision]


def test_global_phase_is_kept():
    sv = StateVector(2)
    sv.apply((), np.array([[np.exp(0.3j)]]))  # gphase: no target, no control
    sv.apply((1,), np.diag([np.exp(-0.2j), np.exp(0.2j)]))  # rz
    assert_close(sv.state_vector(), [np.exp(0.1j), 0, 0, 0], 1e-15)
    assert abs(sv.amplitude(0) - np.exp(0.1j)) < 1e-15


def test_prob_one_collapse_copy_same_as(make_random_state, precision):
    psi = make_random_state(3)
    sv = _sv(psi, precision)
    p = np.abs(psi) ** 2
    for q in range(3):
        assert abs(sv.prob_one(q) - marginal(p, 3, [q])[1]) < ATOL[precision]
    other = sv.copy()
    assert other.same_as(sv, atol=1e-6) and other.array is not sv.array
    p1 = sv.prob_one(1)
    other.collapse(1, 1, p1)
    want = np.where(((np.arange(8) >> 1) & 1) == 1, psi, 0) / np.sqrt(p1)
    assert_close(other.state_vector(), want, 10 * ATOL[precision])
    assert abs(other.norm_squared() - 1) < 10 * ATOL[precision]
    assert not other.same_as(sv)
    assert not StateVector(2).same_as(StateVector(3))


def test_collapse_onto_impossible_outcome_is_an_internal_error():
    from qsim import InternalError

    with pytest.raises(InternalError, match="please report"):
        StateVector(1).collapse(0, 1, 0.0)


def test_sample_distribution():
    rng = np.random.default_rng(3)
    psi = random_state(4, rng)
    psi[[2, 9]] = 0
    psi /= np.linalg.norm(psi)
    sv = _sv(psi)
    shots = 40000
    s = sv.sample(shots, np.random.default_rng(0))
    counts = np.bincount(s, minlength=16)
    p = np.abs(psi) ** 2
    assert counts[2] == counts[9] == 0
    chi2 = np.sum((counts - shots * p)[p > 0] ** 2 / (shots * p[p > 0]))
    assert chi2 < 37.7  # 99.9% quantile, 13 dof
    np.testing.assert_array_equal(s, sv.sample(shots, np.random.default_rng(0)))


def test_apply_all_and_rotate_for_sampling(make_random_state):
    psi = make_random_state(3)
    sv = _sv(psi)
    u1, u2 = random_unitary(1, np.random.default_rng(1)), random_unitary(2, np.random.default_rng(2))
    sv.apply_all([((2,), u1, (), ()), ((0, 2), u2, (1,), (0,))])
    want = full_operator(3, [0, 2], u2, [1], [0]) @ full_operator(3, [2], u1) @ psi
    assert_close(sv.state_vector(), want, 1e-13)
    sv.rotate_for_sampling([((1,), u1, (), ())])
    assert_close(sv.state_vector(), full_operator(3, [1], u1) @ want, 1e-13)


def test_fusion_is_exact_and_keeps_order(make_random_state):
    rng = np.random.default_rng(5)
    items = []
    for _ in range(30):
        kind = rng.integers(4)
        q = [int(x) for x in rng.permutation(4)]
        if kind == 0:
            items.append(((q[0],), random_unitary(1, rng), (), ()))
        elif kind == 1:
            items.append(((q[0], q[1]), random_unitary(2, rng), (), ()))
        elif kind == 2:
            items.append(((q[0],), random_unitary(1, rng), (q[1],), (int(rng.integers(2)),)))
        else:
            items.append(((q[0], q[1]), random_unitary(2, rng), (q[2],), (1,)))
    psi = make_random_state(4)
    for absorb in (True, False):
        fused = fuse(items, absorb_into_two_qubit=absorb)
        assert len(fused) < len(items)
        a, b = _sv(psi), _sv(psi)
        a.apply_all(items)
        b.apply_all(fused)
        assert_close(a.state_vector(), b.state_vector(), 1e-12)


def test_memory_checks():
    assert state_bytes(10, np.complex128) == 16 << 10
    with pytest.raises(ResourceError, match="60-qubit state vector in complex128 needs"):
        StateVector(60)
    with pytest.raises(ResourceError):
        check_fits(50, np.complex64)
    assert 0 <= max_qubits(np.complex64) - max_qubits(np.complex128) <= 2  # memory may move between calls
    with pytest.raises(ValidationError, match="precision 'half'"):
        StateVector(2, "half")
    with pytest.raises(ValidationError, match="negative"):
        StateVector(-1)


# ----------------------------------------------------------------------------- qubit placement
_SWAP = np.eye(4)[[0, 2, 1, 3]]


def _swap_heavy(rng, n, count):
    """Items (targets, matrix, controls, states): half uncontrolled SWAPs (relabels), the rest
    random 1- and 2-qubit unitaries, controlled unitaries and controlled SWAPs (data moves)."""
    items = []
    for _ in range(count):
        q = [int(x) for x in rng.permutation(n)]
        kind = rng.integers(6)
        if kind < 3:
            items.append(((q[0], q[1]), _SWAP, (), ()))
        elif kind == 3:
            items.append(((q[0],), random_unitary(1, rng), (), ()))
        elif kind == 4:
            items.append(((q[0], q[1]), random_unitary(2, rng), (q[2],), (int(rng.integers(2)),)))
        else:
            items.append(((q[0], q[1]), _SWAP, (q[2],), (1,)))
    return items


def test_swaps_are_relabels_and_every_read_maps_back(make_random_state, precision):
    rng = np.random.default_rng(11)
    psi = make_random_state(N)
    sv = _sv(psi, precision)
    ref = psi.copy()
    tol = 20 * ATOL[precision]
    a = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    herm = obs.Hermitian(a + a.conj().T)
    for targets, matrix, controls, states in _swap_heavy(rng, N, 40):
        before = sv._a.copy()
        sv.apply(targets, matrix, controls, states)
        ref = full_operator(N, list(targets), matrix, list(controls), list(states) or None) @ ref
        if not controls and matrix is _SWAP:
            np.testing.assert_array_equal(sv._a, before)  # a relabel: no data moved
        if sv.is_canonical():
            continue
        # reads on a permuted placement, none of which moves the data
        p = np.abs(ref) ** 2
        assert_close(sv.probabilities(), p, tol)
        assert_close(sv.probabilities([3, 0]), marginal(p, N, [3, 0]), tol)
        assert_close(sv.probabilities([4, 1, 2, 0, 3]), marginal(p, N, [4, 1, 2, 0, 3]), tol)
        for q in range(N):
            assert abs(sv.prob_one(q) - marginal(p, N, [q])[1]) < tol
        m = full_operator(N, [1, 4, 0], observable_matrix([("x", obs.X().matrix)]
                                                           + [(f.name, f.matrix) for f in herm.factors]))
        assert abs(sv.expectation(obs.X() @ herm, (1, 4, 0)) - (ref.conj() @ m @ ref).real) < 50 * tol
        zs = [(ref.conj() @ full_operator(N, [q], np.diag([1, -1])) @ ref).real for q in range(N)]
        assert_close(sv.z_expectations(), zs, tol)
        rho = np.outer(ref, ref.conj())
        assert_close(sv.density_matrix((2, 0)), partial_trace(rho, N, (2, 0)), tol)
        for i in (0, 0b10110, 0b01001, 31):
            assert abs(sv.amplitude(i) - ref[i]) < tol
        assert not sv.is_canonical()
    # the reads that restore the canonical order (in place) agree too
    while sv.is_canonical():
        sv.apply((0, 3), _SWAP)
        ref = full_operator(N, [0, 3], _SWAP) @ ref
    shots = sv.sample(500, np.random.default_rng(4))
    assert sv.is_canonical()
    np.testing.assert_array_equal(shots, _sv(ref, precision).sample(500, np.random.default_rng(4)))
    sv.apply((1, 2), _SWAP)
    ref = full_operator(N, [1, 2], _SWAP) @ ref
    assert_close(sv.state_vector(), ref, tol)
    assert_close(sv.array, ref, tol)


def test_copy_and_same_as_across_placements(make_random_state):
    psi = make_random_state(4)
    a, b = _sv(psi), _sv(psi)
    a.apply((0, 2), _SWAP)
    b.apply((0, 2), _SWAP, (3,), (1,))
    b.apply((0, 2), _SWAP, (3,), (0,))  # the same permutation, done by moving the data
    c = a.copy()
    assert c.placement == a.placement and not c.is_canonical()
    assert a.same_as(b) and c.same_as(b)
    assert_close(c.state_vector(), b.state_vector(), 1e-15)


# ----------------------------------------------------------------------------- memory
def test_state_vector_is_handed_over_without_a_copy_and_copied_on_write(make_random_state, precision):
    psi = make_random_state(4)
    sv = _sv(psi, precision)
    sv.apply((), np.array([[1j]]))  # a global phase: multiplied into the handed-over vector
    out = sv.state_vector()
    assert out.dtype == dtype_for(precision)
    assert np.shares_memory(out, sv._a)
    assert_close(out, 1j * psi, ATOL[precision])
    kept = out.copy()
    sv.apply((1,), random_unitary(1, np.random.default_rng(2)))  # changes a copy, not `out`
    np.testing.assert_array_equal(out, kept)
    assert not np.shares_memory(out, sv._a)
    assert sv.state_vector() is not out
    sv2 = _sv(psi, precision)
    v = sv2.state_vector()
    sv2.array.fill(0)  # a caller writing the raw array (the backend's reuse) gets its own copy
    assert_close(v, psi, ATOL[precision])


def test_small_allocations_do_not_probe_memory(monkeypatch):
    from qsim.state import memory

    def probe():
        raise AssertionError("available_bytes read for a small state")

    monkeypatch.setattr(memory, "available_bytes", probe)
    StateVector(20)  # 16 MiB: under PROBE_MIN_BYTES
    with pytest.raises(AssertionError):
        check_fits(22, np.complex128)  # 64 MiB: checked


def test_both_paths_draw_the_same_shots_and_agree(make_random_state, monkeypatch, precision):
    from qsim.state import small

    psi = make_random_state(5)
    psi[[3, 17, 31]] = 0  # zero amplitudes, the last one included
    psi /= np.linalg.norm(psi)
    u = random_unitary(2, np.random.default_rng(8))
    out = {}
    for limit in (5, -1):
        monkeypatch.setattr(small, "SMALL_MAX_QUBITS", limit)
        sv = _sv(psi, precision)
        sv.apply((3, 1), u, (0,), (1,))
        sv.apply((), np.array([[np.exp(0.2j)]]), (4, 2), (0, 1))  # a controlled phase: no targets
        p1 = sv.prob_one(2)
        sv.collapse(2, 1, p1)
        out[limit] = (sv.sample(3000, np.random.default_rng(9)), sv.state_vector().copy(), p1, sv.norm_squared())
    np.testing.assert_array_equal(out[5][0], out[-1][0])
    assert_close(out[5][1], out[-1][1], ATOL[precision])
    assert abs(out[5][2] - out[-1][2]) < ATOL[precision] and abs(out[5][3] - 1) < 10 * ATOL[precision]
