"""Turn an observable on given qubits into what the expectation kernel takes.

A tensor product of x/y/z/i factors is a Pauli string: masks of the bits it flips (x, y) and of the
bits that give a sign (z, y), and a phase i^(number of y).  h and Hermitian factors form one dense
matrix on their bits.  ``<O^2>`` (for variances) squares each factor: Paulis become identities.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from qsim.errors import ValidationError

MAX_DENSE_QUBITS = 10


def observable_terms(observable, targets, bit_of: Callable[[int], int], squared: bool = False):
    xmask = zmask = 0
    ny = 0
    dense_bits: list[int] = []
    dense = np.ones((1, 1), dtype=np.complex128)
    pos = 0
    for factor in observable.factors:
        k = factor.qubit_count
        qubits = targets[pos:pos + k]
        pos += k
        if factor.name in ("x", "y", "z", "i") and not squared:
            b = 1 << bit_of(qubits[0])
            if factor.name in ("x", "y"):
                xmask |= b
            if factor.name in ("z", "y"):
                zmask |= b
            ny += factor.name == "y"
        elif factor.name in ("x", "y", "z", "i"):
            continue  # P^2 = I
        else:
            m = factor.matrix @ factor.matrix if squared else factor.matrix
            dense = np.kron(dense, m)
            dense_bits.extend(bit_of(q) for q in qubits)
    if len(dense_bits) > MAX_DENSE_QUBITS:
        raise ValidationError(f"observable {observable!r} has {len(dense_bits)} qubits of h/hermitian factors; "
                              f"qsim evaluates at most {MAX_DENSE_QUBITS} exactly")
    yphase = (1j) ** (ny % 4)
    return [(1.0, xmask, zmask, yphase, dense_bits, dense)]
