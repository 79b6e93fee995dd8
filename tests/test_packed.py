"""The packed program's planar kernels (``qsim.kernels.packed``) and its use by compiled circuits.

Each kernel branch (one-qubit gates on every bit, with and without controls below and above the
target; x under controls; dense 2- and 3-target blocks) is checked, compiled and as plain Python,
against the dense oracle's full operator; the per-bit probability sums of ``join_z`` against NumPy;
and a rotation layer with a cnot or cz ladder (which fuses runs of one-qubit gates only, and takes
its broadcast <Z> from the packed pass) against the oracle."""

from __future__ import annotations

import numpy as np
import pytest
from oracle import ATOL, Oracle, full_operator, random_unitary

import qsim
from qsim import Circuit, FreeParameter
from qsim.circuit import observables as obs
from qsim.kernels import packed as KP
from qsim.kernels.indices import index_array
from qsim.state import compile as C

N = 7  # 128 amplitudes: every branch, fast also as plain Python
DTYPES = {"double": np.complex128, "single": np.complex64}


_NO_PERMS = index_array(np.zeros((0, 1)), np.int32)


def _program(n, blocks, dtype):
    """Packed arrays for ``blocks`` = [(kind, targets, controls, values, matrix)] (qubit numbers)."""
    B = len(blocks)
    kinds = np.zeros(B, dtype=np.int64)
    tbits = np.zeros((B, KP.PACKED_MAX_TARGETS), dtype=np.int64)
    ntargets = np.zeros(B, dtype=np.int64)
    fixed = np.zeros((B, KP.PACKED_MAX_TARGETS + 2), dtype=np.int64)
    nfixed = np.zeros(B, dtype=np.int64)
    cvals = np.zeros(B, dtype=np.int64)
    mats = np.zeros((B, 8, 8), dtype=dtype)
    for b, (kind, targets, controls, values, m) in enumerate(blocks):
        tb = [n - 1 - q for q in targets]
        cb = [n - 1 - q for q in controls]
        kinds[b] = kind
        tbits[b, :len(tb)] = tb
        ntargets[b] = len(tb)
        fx = sorted(tb + cb)
        fixed[b, :len(fx)] = fx
        nfixed[b] = len(fx)
        cvals[b] = sum(v << bit for bit, v in zip(cb, values))
        d = 1 << len(tb)
        mats[b, :d, :d] = m
    for a in (kinds, tbits, ntargets, fixed, nfixed, cvals):
        a.flags.writeable = False  # read-only, as PackedProgram's (one compiled build of each kernel)
    return kinds, tbits, ntargets, fixed, nfixed, cvals, mats


def _run(n, blocks, psi, precision, compiled):
    dtype = DTYPES[precision]
    state = psi.astype(dtype)
    real = np.float64 if dtype == np.complex128 else np.float32
    planar = np.empty((2, state.shape[0]), dtype=real)
    split, apply_blocks, join_z = (KP.split, KP.apply_blocks, KP.join_z) if compiled else \
        (KP.py_split, KP.py_apply_blocks, KP.py_join_z)
    zsum = np.zeros(n + 1)
    split(state, planar)
    apply_blocks(planar, planar.copy(), _NO_PERMS, *_program(n, blocks, dtype))
    join_z(state, planar, zsum)
    return state, zsum


def _oracle(n, blocks, psi):
    out = psi.astype(np.complex128)
    for kind, targets, controls, values, m in blocks:
        out = full_operator(n, list(targets), np.asarray(m), list(controls), list(values)) @ out
    return out


def _random_blocks(rng, n):
    X = np.array([[0, 1], [1, 0]])
    blocks = []
    for t in range(n):  # every target bit, alone and under controls below and above it
        blocks.append((KP.BLOCK_DENSE_1, (t,), (), (), random_unitary(1, rng)))
        others = [q for q in range(n) if q != t]
        for c in ([others[0]], [others[-1]], list(rng.choice(others, 2, replace=False))):
            vals = [int(v) for v in rng.integers(0, 2, len(c))]
            blocks.append((KP.BLOCK_DENSE_1, (t,), tuple(int(q) for q in c), tuple(vals), random_unitary(1, rng)))
            blocks.append((KP.BLOCK_X, (t,), tuple(int(q) for q in c), tuple(vals), X))
    for _ in range(4):
        a, b, c = (int(q) for q in rng.choice(n, 3, replace=False))
        blocks.append((KP.BLOCK_DENSE_2, (a, b), (), (), random_unitary(2, rng)))
        blocks.append((KP.BLOCK_DENSE_2, (b, a), (c,), (1,), random_unitary(2, rng)))
        blocks.append((KP.BLOCK_DENSE, (a, b, c), (), (), random_unitary(3, rng)))
    return blocks


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
@pytest.mark.parametrize("precision", ["double", "single"])
def test_every_block_kind_on_every_bit_equals_the_oracle(precision, compiled):
    rng = np.random.default_rng(5)
    psi = rng.normal(size=1 << N) + 1j * rng.normal(size=1 << N)
    psi /= np.linalg.norm(psi)
    blocks = _random_blocks(rng, N)
    want = _oracle(N, blocks, psi)
    got, zsum = _run(N, blocks, psi, precision, compiled)
    np.testing.assert_allclose(got, want, atol=20 * ATOL[precision])
    probs = np.abs(got.astype(np.complex128)) ** 2
    index = np.arange(1 << N)
    for b in range(N):
        assert zsum[b] == pytest.approx(probs[(index >> b) & 1 == 1].sum(), abs=20 * ATOL[precision])
    assert zsum[N] == pytest.approx(1.0, abs=20 * ATOL[precision])


def _ladder(n, entangler, layers=2):
    c = Circuit()
    names = []
    for layer in range(layers):
        for q in range(n):
            a, b = f"a{layer}_{q}", f"b{layer}_{q}"
            names += [a, b]
            c.ry(q, FreeParameter(a)).rz(q, FreeParameter(b))
        for q in range(n - 1):
            if entangler == "cnot-up":  # controls below targets, and a toffoli: other permutations
                c.cnot(q + 1, q)
                if q == 1:
                    c.ccnot(0, 3, 2)
            else:
                getattr(c, entangler)(q, q + 1)
    return c, names


@pytest.mark.parametrize(("entangler", "precision"),
                         [("cnot", "double"), ("cnot", "single"), ("cnot-up", "double"), ("cz", "single")])
def test_rotation_ladders_fuse_runs_only_and_equal_the_oracle(entangler, precision):
    """A rotation layer with a cnot or cz ladder runs as one-qubit blocks and x or controlled
    blocks (no dense two-qubit products; a cnot ladder as one permutation per layer), and its
    broadcast <Z> (taken in the packed pass) and state equal the oracle's, run after run."""
    n = 6
    c, names = _ladder(n, entangler)
    c.expectation(obs.Z())
    sv, _ = _ladder(n, entangler)
    sv.state_vector()
    dev = qsim.device(precision=precision)
    rng = np.random.default_rng(3)
    index = np.arange(1 << n)
    for _ in range(2):
        values = {p: float(rng.uniform(-np.pi, np.pi)) for p in names}
        psi = Oracle(Circuit(list(c.bind(values).instructions))).psi
        z = dev.run(c, inputs=values).result().values[0]
        probs = np.abs(psi) ** 2
        want = [float(np.sum(probs * (1 - 2 * ((index >> (n - 1 - q)) & 1)))) for q in range(n)]
        np.testing.assert_allclose(z, want, atol=20 * ATOL[precision])
        np.testing.assert_allclose(dev.run(sv, inputs=values).result().values[0], psi, atol=ATOL[precision])
    program = dev.compile(c)[0]._program
    assert program is not None
    kinds = set(program.kinds.tolist())
    assert kinds <= {KP.BLOCK_DENSE_1, KP.BLOCK_X, KP.BLOCK_PERM}
    if entangler != "cz":  # each layer's ladder gathered into one permutation
        assert (program.kinds == KP.BLOCK_PERM).sum() == 2


def test_a_dense_entangler_keeps_two_qubit_blocks():
    """Only circuits whose multi-qubit gates act on one target (controls folded out) fuse runs only:
    a parametrised or dense two-qubit gate keeps the two-qubit blocks."""
    n = 8
    c, _ = _ladder(n, "cnot")
    assert C._one_target_entanglers(n, [(op.targets, op.matrix() if not op.free_parameters() else None,
                                         op.controls, op.control_states) for op in c.instructions])
    c.xx(0, 1, FreeParameter("t"))
    items = [(op.targets, op.matrix() if not op.free_parameters() else None, op.controls, op.control_states)
             for op in c.instructions]
    assert not C._one_target_entanglers(n, items)
    c2, _ = _ladder(n, "swap")
    items = [(op.targets, op.matrix() if not op.free_parameters() else None, op.controls, op.control_states)
             for op in c2.instructions]
    assert not C._one_target_entanglers(n, items)
