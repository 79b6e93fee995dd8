"""The Numba kernels, each run both compiled and as plain Python (``f.py_func``), on tiny arrays,
against the dense oracle.

Kernels work in bit-position space: bit ``b`` of an amplitude index is the qubit stored at position
``b``.  With ``n`` bits, position ``b`` is the oracle's qubit ``n - 1 - b`` (qubit 0 = most significant).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

from oracle import assert_close, full_operator, marginal, observable_matrix, partial_trace, random_state, \
    random_unitary
from qsim.kernels import dense as KD
from qsim.kernels import gates as KG
from qsim.kernels import measure as KM
from qsim.kernels.indices import index_array

N = 4  # bits of every test array (16 amplitudes)
DTYPES = [np.complex128, np.complex64]
TOL = {np.complex128: 1e-12, np.complex64: 2e-6}


def _both(f):
    """``f``'s parallel and serial builds and its plain-Python body, as pytest params (a size-tiered
    kernel would run its Python body on these tiny arrays, so each build is named explicitly)."""
    return [pytest.param(f.parallel, id="jit"), pytest.param(f.serial, id="serial"),
            pytest.param(f.py_func, id="py")]


# Index arrays are read-only, as on the run path (``index_array``): a writable one would compile
# every kernel a second time.
def _offsets(bits):
    k = len(bits)
    out = np.zeros(1 << k, dtype=np.int64)
    for a in range(1 << k):
        for j, b in enumerate(bits):
            if (a >> (k - 1 - j)) & 1:
                out[a] |= 1 << b
    return index_array(out)


def _sorted(bits):
    return index_array(sorted(bits))


def _cval(ctrl_bits, ctrl_vals):
    return np.int64(sum(v << b for b, v in zip(ctrl_bits, ctrl_vals)))


def _expected(state, target_bits, matrix, ctrl_bits=(), ctrl_vals=(), n=N):
    q = lambda b: n - 1 - b  # noqa: E731
    u = full_operator(n, [q(b) for b in target_bits], matrix, [q(b) for b in ctrl_bits], list(ctrl_vals))
    return u @ state.astype(np.complex128)


def _cases(k, max_controls=2):
    """(target_bits, ctrl_bits, ctrl_vals) for every ordered choice of k targets and up to
    ``max_controls`` controls (both control values) among the N bits."""
    for targets in itertools.permutations(range(N), k):
        rest = [b for b in range(N) if b not in targets]
        for c in range(min(max_controls, len(rest)) + 1):
            for ctrls in itertools.combinations(rest, c):
                for vals in itertools.product((0, 1), repeat=c):
                    yield list(targets), list(ctrls), list(vals)


@pytest.fixture(params=DTYPES, ids=["c128", "c64"])
def dtype(request):
    return request.param


@pytest.fixture
def state(dtype):
    return random_state(N, np.random.default_rng(7)).astype(dtype)


@pytest.mark.parametrize("f", _both(KG.apply_dense_1))
def test_apply_dense_1(f, state, dtype):
    u = random_unitary(1, np.random.default_rng(1)).astype(dtype)
    for bit in range(N):
        s = state.copy()
        f(s, np.int64(bit), (u[0, 0], u[0, 1], u[1, 0], u[1, 1]))
        assert_close(s, _expected(state, [bit], u), TOL[dtype], f"bit {bit}")


def _one_qubit_reference(psi, bit, u):
    """u on bit position ``bit`` by a reshape: axis 1 of (high, 2, low) is that bit."""
    t = psi.reshape(-1, 2, 1 << bit)
    return np.einsum("ab,hbl->hal", u, t).reshape(-1)


@pytest.mark.parametrize("f", _both(KG.apply_dense_1))
def test_apply_dense_1_several_tasks_every_bit(f, dtype):
    """14 bits (13 for plain Python): the unrolled block paths (bits 0-4) and the run path (bit >= 5,
    runs shorter and longer than a task's 4096 pairs), with two tasks in the compiled builds."""
    bits = 13 if f is KG.apply_dense_1.py_func else 14
    rng = np.random.default_rng(bits)
    psi = random_state(bits, rng).astype(dtype)
    u = random_unitary(1, rng).astype(dtype)
    for bit in range(bits):
        s = psi.copy()
        f(s, np.int64(bit), (u[0, 0], u[0, 1], u[1, 0], u[1, 1]))
        assert_close(s, _one_qubit_reference(psi.astype(np.complex128), bit, u.astype(np.complex128)),
                     TOL[dtype], f"bit {bit}")


@pytest.mark.parametrize("f", _both(KG.apply_diagonal_1))
def test_apply_diagonal_1(f, state, dtype):
    d0, d1 = dtype(np.exp(0.3j)), dtype(np.exp(-1.1j))
    for t, cb, cv in _cases(1):
        s = state.copy()
        f(s, np.int64(t[0]), _sorted(cb + t), _cval(cb, cv), (d0, d1))
        assert_close(s, _expected(state, t, np.diag([d0, d1]), cb, cv), TOL[dtype], f"{t} {cb} {cv}")


@pytest.mark.parametrize("f", _both(KG.apply_dense_1_ctrl))
def test_apply_dense_1_ctrl(f, state, dtype):
    u = random_unitary(1, np.random.default_rng(2)).astype(dtype)
    for t, cb, cv in _cases(1):
        if not cb:
            continue
        s = state.copy()
        f(s, np.int64(t[0]), _sorted(cb + t), _cval(cb, cv), (u[0, 0], u[0, 1], u[1, 0], u[1, 1]))
        assert_close(s, _expected(state, t, u, cb, cv), TOL[dtype], f"{t} {cb} {cv}")


@pytest.mark.parametrize("f", _both(KG.apply_dense_k))
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_apply_dense_k(f, k, state, dtype):
    u = random_unitary(k, np.random.default_rng(k)).astype(dtype)
    for t, cb, cv in itertools.islice(_cases(k, 1), 0, None, 3 if k < 3 else 1):
        s = state.copy()
        f(s, _offsets(t), _sorted(cb + t), _cval(cb, cv), (u,))
        assert_close(s, _expected(state, t, u, cb, cv), TOL[dtype], f"{t} {cb} {cv}")


@pytest.mark.parametrize("f", _both(KD.apply_dense_tiled))
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_apply_dense_tiled_every_placement(f, k, dtype):
    """The tiled dense kernel on 6 bits: every set of k target bits (in a random order), with no
    control and with one control of either value on a spare bit."""
    n = 6
    rng = np.random.default_rng(20 + k)
    psi = random_state(n, rng).astype(dtype)
    u = random_unitary(k, rng)
    mre, mim = KD.split(u, dtype)
    for chosen in itertools.combinations(range(n), k):
        t = [int(b) for b in rng.permutation(chosen)]
        rest = [b for b in range(n) if b not in t]
        for cb, cv in [([], [])] + ([([rest[0]], [1]), ([rest[-1]], [0])] if rest else []):
            if f is KD.apply_dense_tiled.py_func and k > 3 and cb:
                continue  # plain Python is slow; the compiled builds cover these
            s = psi.copy()
            f(s, _offsets(t), _sorted(cb + t), _cval(cb, cv), mre, mim, KD.NO_PERM)
            assert_close(s, _expected(psi, t, u, cb, cv, n=n), TOL[dtype], f"{t} {cb} {cv}")


@pytest.mark.parametrize("f", _both(KG.apply_diagonal))
@pytest.mark.parametrize("k", [1, 2, 3])
def test_apply_diagonal(f, k, state, dtype):
    d = np.exp(1j * np.random.default_rng(k).uniform(-3, 3, 1 << k)).astype(dtype)
    for t, cb, cv in _cases(k, 1):
        s = state.copy()
        f(s, _offsets(t), _sorted(cb + t), _cval(cb, cv), (d,))
        assert_close(s, _expected(state, t, np.diag(d), cb, cv), TOL[dtype], f"{t} {cb} {cv}")


@pytest.mark.parametrize("f", _both(KG.apply_phase))
def test_apply_phase(f, state, dtype):
    """A phase on the amplitudes whose fixed bits equal cval: cz, s, t, controlled gphase..."""
    phase = dtype(np.exp(0.7j))
    for c in range(N + 1):
        for fixed in itertools.combinations(range(N), c):
            for vals in itertools.product((0, 1), repeat=c):
                s = state.copy()
                f(s, _sorted(fixed), _cval(fixed, vals), (phase,))
                # a phase on the corner |vals> of `fixed` = a controlled gphase
                expected = _expected(state, [], np.array([[phase]]), list(fixed), list(vals))
                assert_close(s, expected, TOL[dtype], f"{fixed} {vals}")


@pytest.mark.parametrize("f", _both(KG.scale))
def test_scale(f, state, dtype):
    s = state.copy()
    f(s, dtype(1j))
    assert_close(s, 1j * state, TOL[dtype])


@pytest.mark.parametrize("f", _both(KG.apply_x))
def test_apply_x(f, state, dtype):
    x = np.array([[0, 1], [1, 0]])
    for t, cb, cv in _cases(1):
        s = state.copy()
        f(s, np.int64(t[0]), _sorted(cb + t), _cval(cb, cv), ())
        np.testing.assert_array_equal(s, _expected(state, t, x, cb, cv).astype(dtype))


@pytest.mark.parametrize("f", _both(KG.apply_swap))
def test_apply_swap(f, state, dtype):
    sw = np.eye(4)[[0, 2, 1, 3]]
    for t, cb, cv in _cases(2):
        s = state.copy()
        f(s, _offsets(t), _sorted(cb + t), _cval(cb, cv), ())
        np.testing.assert_array_equal(s, _expected(state, t, sw, cb, cv).astype(dtype))


@pytest.mark.parametrize("f", _both(KG.apply_monomial))
@pytest.mark.parametrize("k", [1, 2, 3])
def test_apply_monomial(f, k, state, dtype):
    rng = np.random.default_rng(10 + k)
    perm = index_array(rng.permutation(1 << k))
    phases = np.exp(1j * rng.uniform(-3, 3, 1 << k)).astype(dtype)
    m = np.zeros((1 << k, 1 << k), dtype=complex)
    m[np.arange(1 << k), perm] = phases  # new[a] = phases[a] * old[perm[a]]
    for t, cb, cv in _cases(k, 1):
        s = state.copy()
        f(s, _offsets(t), _sorted(cb + t), _cval(cb, cv), (perm, phases))
        assert_close(s, _expected(state, t, m, cb, cv), TOL[dtype], f"{t} {cb} {cv}")


@pytest.mark.parametrize("f", _both(KG.project))
def test_project(f, state, dtype):
    for b in range(N):
        for outcome in (0, 1):
            s = state.copy()
            f(s, np.int64(b), np.int64(outcome), dtype(2.0))
            keep = ((np.arange(1 << N) >> b) & 1) == outcome
            assert_close(s, np.where(keep, 2 * state, 0), TOL[dtype])


# ----------------------------------------------------------------------------- reductions
@pytest.mark.parametrize("f", _both(KM.norm_squared))
def test_norm_squared(f, state, dtype):
    assert abs(f(3 * state) - 9.0) < 1e-5


@pytest.mark.parametrize("f", _both(KM.prob_bit_one))
def test_prob_bit_one(f, state, dtype):
    p = np.abs(state.astype(complex)) ** 2
    for b in range(N):
        assert abs(f(state, np.int64(b)) - marginal(p, N, [N - 1 - b])[1]) < TOL[dtype]


@pytest.mark.parametrize("f_small, f_large", [(KM.marginal_small.parallel, KM.marginal_large.parallel),
                                               (KM.marginal_small.py_func, KM.marginal_large.py_func)],
                         ids=["jit", "py"])
def test_marginals(f_small, f_large, state, dtype):
    p = np.abs(state.astype(complex)) ** 2
    for k in range(1, N + 1):
        for bits in itertools.permutations(range(N), k):
            want = marginal(p, N, [N - 1 - b for b in bits])
            out = np.zeros(1 << k)
            f_small(state, index_array(bits), out)
            assert_close(out, want, TOL[dtype], f"small {bits}")
            out = np.zeros(1 << k)
            f_large(state, _offsets(bits), _sorted(bits), out)
            assert_close(out, want, TOL[dtype], f"large {bits}")


def _pauli_masks(paulis, bits):
    x = z = ny = 0
    for p, b in zip(paulis, bits):
        if p in "xy":
            x |= 1 << b
        if p in "zy":
            z |= 1 << b
        ny += p == "y"
    return np.int64(x), np.int64(z), complex(1j ** (ny % 4))


@pytest.mark.parametrize("f", _both(KM.expectation_sum))
def test_expectation_sum_pauli_strings(f, state, dtype):
    psi = state.astype(complex)
    for paulis in itertools.product("ixyz", repeat=N):
        bits = [N - 1 - q for q in range(N)]
        x, z, ph = _pauli_masks(paulis, bits)
        got = f(state, x, z, ph, np.ones((1, 1), dtype=complex), _offsets([]), _sorted([]))
        o = observable_matrix([(p, None) for p in paulis])
        assert abs(got - psi.conj() @ o @ psi) < 10 * TOL[dtype], paulis


@pytest.mark.parametrize("f", _both(KM.expectation_sum))
def test_expectation_sum_pauli_times_dense(f, state, dtype):
    """A Pauli string on some bits times a dense Hermitian on others (disjoint)."""
    rng = np.random.default_rng(5)
    psi = state.astype(complex)
    a = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    herm = a + a.conj().T
    for dense_q in itertools.permutations(range(N), 2):
        rest = [q for q in range(N) if q not in dense_q]
        for paulis in itertools.product("xyz", repeat=len(rest)):
            x, z, ph = _pauli_masks(paulis, [N - 1 - q for q in rest])
            dbits = [N - 1 - q for q in dense_q]
            got = f(state, x, z, ph, herm, _offsets(dbits), _sorted(dbits))
            o = full_operator(N, list(dense_q), herm)
            for p, q in zip(paulis, rest):
                o = full_operator(N, [q], observable_matrix([(p, None)])) @ o
            assert abs(got - psi.conj() @ o @ psi) < 50 * TOL[dtype], (dense_q, paulis)


@pytest.mark.parametrize("f", _both(KM.reduced_density))
def test_reduced_density(f, state, dtype):
    psi = state.astype(complex)
    rho = np.outer(psi, psi.conj())
    for k in (1, 2, 3):
        for qs in itertools.permutations(range(N), k):
            bits = [N - 1 - q for q in qs]
            out = np.zeros((1 << k, 1 << k), dtype=complex)
            f(state, _offsets(bits), _sorted(bits), out)
            assert_close(out, partial_trace(rho, N, qs), TOL[dtype], str(qs))


@pytest.mark.parametrize("fw, fs", [(KM.chunk_weights.parallel, KM.sample_sorted.parallel),
                                    (KM.chunk_weights.py_func, KM.sample_sorted.py_func)], ids=["jit", "py"])
@pytest.mark.parametrize("nchunks", [1, 3, 16])
def test_chunked_inverse_cdf_sampling(fw, fs, nchunks, state, dtype):
    """Every draw lands on the index whose cumulative interval contains it, whatever the chunking."""
    p = np.abs(state.astype(complex)) ** 2
    weights = fw(state, nchunks)
    assert_close(weights, [p[c * 16 // nchunks:(c + 1) * 16 // nchunks].sum() for c in range(nchunks)],
                 TOL[dtype])
    starts = np.concatenate(([0.0], np.cumsum(weights)[:-1]))
    draws = np.sort(np.random.default_rng(0).random(500)) * weights.sum()
    out = np.empty(500, dtype=np.int64)
    fs(state, weights, starts, draws, out)
    cdf = np.cumsum(p)
    want = np.minimum(np.searchsorted(cdf / cdf[-1] * weights.sum(), draws, side="right"), 15)
    # float rounding may move a draw that sits on an interval edge by one index
    assert np.mean(out == want) > 0.99
    assert np.all(np.abs(out - want) <= 1)


def test_sampling_never_returns_zero_probability_index():
    psi = np.zeros(16, dtype=complex)
    psi[[3, 12]] = np.sqrt(0.5)
    for nchunks in (1, 2, 4, 16):
        w = KM.chunk_weights(psi, nchunks)
        starts = np.concatenate(([0.0], np.cumsum(w)[:-1]))
        draws = np.sort(np.random.default_rng(nchunks).random(1000)) * w.sum()
        draws[-1] = np.nextafter(w.sum(), 0)  # the very top of the interval (draws are < the total)
        out = np.empty(1000, dtype=np.int64)
        KM.sample_sorted(psi, w, starts, draws, out)
        assert set(out.tolist()) <= {3, 12}


# ----------------------------------------------------------------------------- dispatch, in Python
_KERNEL_MODULES = (KG, KM)  # every kernel is a tiers.BySize: py_func is its Python body


@pytest.fixture
def python_kernels(monkeypatch):
    """Replace every Numba kernel by its plain-Python function for the duration of a test, so the
    dispatch in ``qsim.state.apply`` and the state methods run without JIT."""
    for mod in _KERNEL_MODULES:
        for name in dir(mod):
            f = getattr(mod, name)
            if hasattr(f, "py_func") and not name.startswith("_"):
                monkeypatch.setattr(mod, name, f.py_func)


def test_dispatch_in_python_matches_oracle(python_kernels):
    """apply_unitary picks a kernel from the matrix; run every branch with py_func kernels."""
    from qsim.state.apply import apply_unitary

    rng = np.random.default_rng(3)
    psi = random_state(N, rng)
    x = np.array([[0, 1], [1, 0]], dtype=complex)
    cx = np.eye(4, dtype=complex)[[0, 1, 3, 2]]
    mats = {
        "dense1": random_unitary(1, rng), "dense2": random_unitary(2, rng), "dense3": random_unitary(3, rng),
        "x": x, "cnot-as-matrix": cx, "swap": np.eye(4)[[0, 2, 1, 3]].astype(complex),
        "diag": np.diag(np.exp(1j * rng.uniform(-3, 3, 4))), "phase-corner": np.diag([1, 1, 1, 1j]),
        "scalar": np.exp(0.3j) * np.eye(2), "monomial": np.array([[0, -1j], [1j, 0]]),
        "negctrl-as-matrix": np.block([[random_unitary(1, rng), np.zeros((2, 2))], [np.zeros((2, 2)), np.eye(2)]]),
    }
    for name, m in mats.items():
        k = int(np.log2(m.shape[0]))
        for t, cb, cv in itertools.islice(_cases(k, 1), 0, None, 2):
            s = psi.copy()
            apply_unitary(s, t, m, cb, cv)
            assert_close(s, _expected(psi, t, m, cb, cv), 1e-12, f"{name} {t} {cb} {cv}")


def test_statevector_reads_in_python(python_kernels):
    from qsim.circuit import observables as obs
    from qsim.state.statevector import StateVector

    psi = random_state(N, np.random.default_rng(4))
    sv = StateVector(N, _array=psi.copy())
    p = np.abs(psi) ** 2
    assert_close(sv.probabilities([2, 0]), marginal(p, N, [2, 0]), 1e-12)
    o = obs.Y() @ obs.H()
    want = psi.conj() @ full_operator(N, [3, 1], observable_matrix([("y", None), ("h", None)])) @ psi
    assert abs(sv.expectation(o, (3, 1)) - want.real) < 1e-12
    assert_close(sv.density_matrix([1, 3]), partial_trace(np.outer(psi, psi.conj()), N, [1, 3]), 1e-12)
    counts = np.bincount(sv.sample(2000, np.random.default_rng(0)), minlength=16)
    assert counts[p < 1e-3].sum() < 50


def test_boundscheck_subprocess(tmp_path):
    """A small circuit through every kernel family with NUMBA_BOUNDSCHECK=1 (and no cache, so the
    kernels are recompiled with bounds checks): an out-of-range index raises instead of corrupting."""
    script = tmp_path / "bc.py"
    script.write_text(
        "import numpy as np, qsim\n"
        "from qsim import Circuit, observables as obs\n"
        "c = Circuit().h(0).cnot(0, 1).swap(1, 2).rx(2, 0.3).xx(0, 2, 0.4).ccnot(0, 1, 2).y(1)\n"
        "c.unitary(np.eye(8)[[1, 2, 3, 4, 5, 6, 7, 0]], [0, 1, 2]).cphaseshift(0, 2, 0.2)\n"
        "c.gate('h', (2,), control=(0, 1), control_state='01')\n"
        "c.probability([2, 0]).expectation(obs.X() @ obs.H(), [0, 2]).density_matrix([1]).state_vector()\n"
        "r = qsim.device().run(c).result()\n"
        "assert abs(np.linalg.norm(r.values[3]) - 1) < 1e-12\n"
        "s = Circuit().h(0).cnot(0, 1).h(2).measure([0, 1, 2])\n"
        "r = qsim.device().run(s, shots=50, seed=1).result()\n"
        "print('ok', len(r.measurements))\n")
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok 50"
