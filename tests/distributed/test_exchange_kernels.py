"""The pack/unpack kernels of qsim.kernels.exchange, compiled and as plain Python (STYLE item 12).
No MPI: the same assertions run on every rank."""

from __future__ import annotations

import numpy as np
import pytest

from qsim.kernels import exchange as KX
from qsim.kernels.indices import index_array


def group_indices(n_bits, fixed, cval):
    return [i for i in range(1 << n_bits) if all(((i >> b) & 1) == ((cval >> b) & 1) for b in fixed)]


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "py"])
@pytest.mark.parametrize("fixed", [[0], [3], [1, 4], [4, 5], [0, 2, 5]])
def test_pack_then_unpack_visits_the_group_in_order(jit, fixed, rng):
    pack = KX.pack_group if jit else KX.pack_group.py_func
    unpack = KX.unpack_group if jit else KX.unpack_group.py_func
    n = 6
    state = rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)
    fx = index_array(sorted(fixed))  # read-only, as on the run path
    for v in range(1 << len(fixed)):
        cval = sum(((v >> j) & 1) << b for j, b in enumerate(fixed))
        idx = group_indices(n, fixed, cval)
        for piece in (1, 2, len(idx)):
            run = min(1 << int(fx[0]), piece)
            for start in range(0, len(idx), piece):
                buf = np.empty(piece, dtype=state.dtype)
                pack(state, fx, np.int64(cval), np.int64(start), buf, np.int64(run))
                np.testing.assert_array_equal(buf, state[idx[start:start + piece]])
                out = state.copy()
                unpack(out, fx, np.int64(cval), np.int64(start), -buf, np.int64(run))
                expect = state.copy()
                expect[idx[start:start + piece]] *= -1
                np.testing.assert_array_equal(out, expect)
