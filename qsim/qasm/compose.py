"""Dense unitary of a short list of gate operations on a few qubits.

Called by: ``qsim.qasm.interpreter`` for ``pow(k) @ g`` with a custom gate ``g`` and non-integer ``k``:
the power of a product is not the product of powers, so the body is multiplied out first and the
principal power is taken of the whole matrix (by ``GateOp.matrix()`` downstream).

Big-endian, as everywhere in qsim: ``qubits[0]`` is the most significant bit of the matrix index.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from qsim.circuit.operations import GateOp
from qsim.errors import InternalError

MAX_QUBITS = 10  # a 1024x1024 complex matrix (16 MiB); more would be a surprising custom gate


def compose(ops: Sequence[GateOp], qubits: Sequence[int]) -> np.ndarray:
    """``ops[-1] @ ... @ ops[0]`` as a ``2^n x 2^n`` matrix over ``qubits`` (controls included)."""
    n = len(qubits)
    pos = {q: i for i, q in enumerate(qubits)}
    dim = 1 << n
    # Rows are the output index, reshaped so that axis i is qubit i; columns stay one axis.
    u = np.eye(dim, dtype=np.complex128).reshape((2,) * n + (dim,))
    for op in ops:
        try:
            t_axes = [pos[q] for q in op.targets]
            c_axes = [pos[q] for q in op.controls]
        except KeyError as e:
            raise InternalError(f"operation {op.name} touches qubit {e.args[0]} outside {list(qubits)}") from None
        m = op.matrix()
        index = [slice(None)] * (n + 1)
        for axis, state in zip(c_axes, op.control_states):
            index[axis] = state
        sub = u[tuple(index)]  # basic indexing: a view of the control-satisfied block
        if not t_axes:
            sub *= m[0, 0]
            continue
        remaining = [a for a in range(n) if a not in c_axes]
        axes = [remaining.index(a) for a in t_axes]
        k = len(axes)
        mt = m.reshape((2,) * (2 * k))
        res = np.tensordot(mt, sub, axes=(list(range(k, 2 * k)), axes))
        sub[...] = np.moveaxis(res, list(range(k)), axes)
    return u.reshape(dim, dim)
