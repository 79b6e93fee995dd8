"""Pivot blocks (``qsim.state.pivot``) in the distributed state: fused on local pivots, with the
factors of global qubits folded in per rank (no data moves for them), against the single-process
state run without pivot blocks.  Written once for any rank count (see conftest.py)."""

from __future__ import annotations

import numpy as np

import qsim
from qsim.state import fusion as F
from qsim.state import fusion_choice as FC
from qsim.state import pivot as P
from test_distributed import assert_same_values, meta, run_both


def test_qft_with_rotations_and_diagonals_on_global_qubits(runtime, comm, rng, monkeypatch):
    n = F.PIVOT_MIN_QUBITS
    g = comm.Get_size().bit_length() - 1
    c = qsim.Circuit()
    for q in range(n):
        c.ry(q, float(rng.uniform(0, np.pi)))
    for j in range(n):
        c.h(j)
        for k in range(j + 1, n):
            c.cphaseshift(k, j, float(rng.uniform(-3, 3)))
        c.zz(j, n - 1, float(rng.uniform(-3, 3))) if j < n - 1 else None
        c.rz(n - 1 - (j % 2), float(rng.uniform(-3, 3)))
    for j in range(n // 2):
        c.swap(j, n - 1 - j)
    c.state_vector().expectation(qsim.observables.Z(), [0])
    calls = []
    real = P.apply

    def counting(*a):
        calls.append(a[1])
        return real(*a)

    monkeypatch.setattr(P, "apply", counting)
    dist, single = run_both(runtime, c)
    assert_same_values(dist, single, comm)
    assert calls, "no pivot block ran"
    if g:
        # the qubits needed last start global: the QFT's controlled phases on them were folded
        assert any(len(b.others) < n - 1 - b.pivot for b in calls)
        # and they move no data: the same exchanges as without pivot blocks
        monkeypatch.setattr(FC, "PIVOT_MIN_QUBITS", 1 << 20)
        calls.clear()
        plain, _ = run_both(runtime, c)
        assert not calls
        assert_same_values(plain, single, comm)
        assert (meta(dist)["exchanges"], meta(dist)["bytesSentPerRank"]) == \
            (meta(plain)["exchanges"], meta(plain)["bytesSentPerRank"])
