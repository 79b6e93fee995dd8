"""Fusion split into plan and bind (``qsim.state.fusion``): a plan made from the items' shapes only is
valid for any matrices of those shapes, ``bind`` equals fusing the items directly, and ``rebind``
recomputes only the blocks that contain changed items."""

from __future__ import annotations

import numpy as np
import pytest

from qsim.state.fusion import Block, fuse, fuse_two_qubit_blocks, plan, shape_of
from qsim.state.statevector import StateVector


def _unitary(k, rng):
    z = rng.normal(size=(1 << k, 1 << k)) + 1j * rng.normal(size=(1 << k, 1 << k))
    q, r = np.linalg.qr(z)
    return q * (np.diagonal(r) / np.abs(np.diagonal(r)))


def _diag(k, rng):
    return np.diag(np.exp(1j * rng.uniform(0, 2 * np.pi, 1 << k)))


def _random_items(n, count, rng):
    """Items with a kind each: 'u1', 'd1', 'u2', 'd2', 'c1' (controlled one-qubit), 'u3'."""
    items, kinds = [], []
    for _ in range(count):
        q = [int(x) for x in rng.permutation(n)[:3]]
        kind = ["u1", "d1", "u2", "d2", "c1", "u3"][int(rng.integers(6))]
        if kind == "u1":
            items.append(((q[0],), _unitary(1, rng), (), ()))
        elif kind == "d1":
            items.append(((q[0],), _diag(1, rng), (), ()))
        elif kind == "u2":
            items.append(((q[0], q[1]), _unitary(2, rng), (), ()))
        elif kind == "d2":
            items.append(((q[0], q[1]), _diag(2, rng), (), ()))
        elif kind == "c1":
            items.append(((q[0],), _unitary(1, rng), (q[1],), (int(rng.integers(2)),)))
        else:
            items.append(((q[0], q[1], q[2]), _unitary(3, rng), (), ()))
        kinds.append(kind)
    return items, kinds


def _fresh_like(items, kinds, rng):
    """New matrices of the same kinds (what rebinding parameters produces)."""
    out = []
    for (t, _, c, s), kind in zip(items, kinds):
        k = len(t)
        out.append(_diag(k, rng) if kind.startswith("d") else _unitary(k, rng))
    return out


def _state(items, n):
    sv = StateVector(n)
    sv.apply(tuple(range(n)), _unitary(n, np.random.default_rng(99)))  # a generic start
    sv.apply_all(items)
    return sv.state_vector()


@pytest.mark.parametrize("mode", ["blocks", "runs"])
@pytest.mark.parametrize("seed", range(8))
def test_plan_from_shapes_binds_any_matrices_of_those_shapes(mode, seed):
    rng = np.random.default_rng(seed)
    n = 5
    items, kinds = _random_items(n, 40, rng)
    p = plan([shape_of(it) for it in items], mode=mode)
    assert len(p.entries) < len(items)
    # every item is in exactly one output, in a block on its own qubits
    seen = sorted(m for j in range(len(p.entries)) for m in p.members(j))
    assert seen == list(range(len(items)))
    for _ in range(3):
        matrices = _fresh_like(items, kinds, rng)
        new_items = [(t, m, c, s) for (t, _, c, s), m in zip(items, matrices)]
        fused = p.bind(matrices)
        np.testing.assert_allclose(_state(fused, n), _state(new_items, n), atol=1e-11)
        direct = fuse(new_items, absorb_into_two_qubit=(mode == "blocks"))
        assert len(direct) == len(fused)
        for a, b in zip(direct, fused):
            assert tuple(a[0]) == tuple(b[0]) and np.array_equal(a[1], b[1])


@pytest.mark.parametrize("seed", range(6))
def test_rebind_recomputes_only_blocks_with_changed_items(seed):
    rng = np.random.default_rng(100 + seed)
    n = 5
    items, kinds = _random_items(n, 40, rng)
    p = plan([shape_of(it) for it in items])
    old = [it[1] for it in items]
    fused = p.bind(old)
    changed = sorted(int(i) for i in rng.choice(len(items), 5, replace=False))
    fresh = _fresh_like(items, kinds, rng)
    new = list(old)
    for i in changed:
        new[i] = fresh[i]
    again = p.rebind(fused, new, changed)
    untouched = {j for j in range(len(p.entries)) if not set(p.members(j)) & set(changed)}
    assert untouched, "the test should leave some blocks alone"
    for j, (a, b, c) in enumerate(zip(fused, again, p.bind(new))):
        np.testing.assert_array_equal(b[1], c[1])
        if j in untouched:
            assert a[1] is b[1]  # reused, not recomputed


def test_keep_apart_qubits_are_never_fused():
    rng = np.random.default_rng(3)
    items, _ = _random_items(4, 30, rng)
    fused = fuse_two_qubit_blocks(items, keep_apart=frozenset({2}))
    originals = [it for it in items if 2 in it[0] + it[2]]
    assert [it for it in fused if 2 in tuple(it[0]) + tuple(it[2])] == originals
    np.testing.assert_allclose(_state(fused, 4), _state(items, 4), atol=1e-11)


def test_a_parametrised_dense_gate_planned_at_a_diagonal_value_stays_dense():
    """xy(0) is the identity (diagonal), but its shape says dense: the plan fuses it as a dense gate
    (swallowing the one-qubit gate before it), and binding xy(0.7) then gives xy(0.7)'s state."""
    def xy(t):
        c, s = np.cos(t / 2), np.sin(t / 2)
        return np.array([[1, 0, 0, 0], [0, c, 1j * s, 0], [0, 1j * s, c, 0], [0, 0, 0, 1]])
    h = np.array([[1, 1], [1, -1]]) / np.sqrt(2)
    items = [((0,), h, (), ()), ((0, 1), xy(0.0), (), ())]
    assert shape_of(items[1]).diagonal
    p = plan([shape_of(items[0]), shape_of(items[1], diagonal=False)])
    assert len(p.entries) == 1 and isinstance(p.entries[0], Block)
    fused = p.bind([h, xy(0.7)])
    np.testing.assert_allclose(_state(fused, 2), _state([items[0], ((0, 1), xy(0.7), (), ())], 2), atol=1e-12)
