"""The circuits of the strong-scaling benchmark, built with the Python circuit API."""

from __future__ import annotations

import numpy as np

import qsim


def qft(n: int) -> qsim.Circuit:
    """Textbook QFT: h and controlled phases per qubit, then the reversing swaps."""
    c = qsim.Circuit()
    for j in range(n):
        c.h(j)
        for k in range(j + 1, n):
            c.cphaseshift(k, j, np.pi / (1 << (k - j)))
    for j in range(n // 2):
        c.swap(j, n - 1 - j)
    return c


def brick(n: int, layers: int = 2, seed: int = 7) -> qsim.Circuit:
    """Random rx/ry/rz layers on every qubit, each followed by a cnot ladder."""
    rng = np.random.default_rng(seed)
    c = qsim.Circuit()
    for _ in range(layers):
        for q in range(n):
            c.rx(q, float(rng.uniform(0, 2 * np.pi))).ry(q, float(rng.uniform(0, 2 * np.pi)))
            c.rz(q, float(rng.uniform(0, 2 * np.pi)))
        for q in range(n - 1):
            c.cnot(q, q + 1)
    return c


def boundary(n: int) -> qsim.Circuit:
    """A few h and cnot across the local/global boundary (the memory test)."""
    c = qsim.Circuit()
    for q in range(n):  # every qubit used (only those are simulated) and needed in the shard once
        c.h(q)
    c.h(0).h(n - 1).cnot(0, n - 1).cnot(n - 1, 1).h(1).cnot(1, n - 2).h(0)
    return c


CIRCUITS = {"qft": qft, "brick": brick, "boundary": boundary}
