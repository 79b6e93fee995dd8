"""The peers' workloads (../shared/notes/peers-measured-here.md), built as qsim Circuits.

* ``qft(n)``: H on each qubit followed by controlled phases from every later qubit, then the final
  swaps: n + n(n-1)/2 + n//2 gates (312 at n=24, 364 at n=26), final state vector.
* ``brick(n, layers=10, seed)``: per layer rx, ry, rz with random angles on every qubit, then CNOT
  bricks on (0,1),(2,3),... in even layers and (1,2),(3,4),... in odd ones (835 gates at n=24).
* ``hea(n, layers=4)``: per layer ry and rz with a FreeParameter each on every qubit, then a CNOT
  chain; the result type is <Z> on every qubit (summed by the caller) -- 8n parameters, 140 gates at
  n=12.
"""

from __future__ import annotations

import numpy as np

from qsim import Circuit, FreeParameter
from qsim import observables as obs


def qft(n: int) -> Circuit:
    c = Circuit()
    for q in range(n):
        c.h(q)
        for k, ctrl in enumerate(range(q + 1, n), start=2):
            c.cphaseshift(ctrl, q, 2 * np.pi / 2 ** k)
    for q in range(n // 2):
        c.swap(q, n - 1 - q)
    return c.state_vector()


def brick(n: int, layers: int = 10, seed: int = 1234) -> Circuit:
    rng = np.random.default_rng(seed)
    c = Circuit()
    for layer in range(layers):
        for q in range(n):
            c.rx(q, float(rng.uniform(0, 2 * np.pi)))
            c.ry(q, float(rng.uniform(0, 2 * np.pi)))
            c.rz(q, float(rng.uniform(0, 2 * np.pi)))
        for q in range(layer % 2, n - 1, 2):
            c.cnot(q, q + 1)
    return c.state_vector()


def hea(n: int, layers: int = 4) -> tuple[Circuit, list[str]]:
    c = Circuit()
    names = []
    for layer in range(layers):
        for q in range(n):
            a, b = f"a_{layer}_{q}", f"b_{layer}_{q}"
            names += [a, b]
            c.ry(q, FreeParameter(a))
            c.rz(q, FreeParameter(b))
        for q in range(n - 1):
            c.cnot(q, q + 1)
    c.expectation(obs.Z())  # broadcast: <Z_q> for every qubit
    return c, names


def gate_count(c: Circuit) -> int:
    return len(c.instructions)
