"""The one kind of index array every kernel of ``qsim.kernels`` is given: int64 (or a packed
program's int32 permutations), C-contiguous and read-only.

Numba types a read-only array apart from a writable one (``Array(int64, 1, 'C', readonly=True)``),
so a kernel called with both kinds is compiled, and cached, twice.  ``fixed``, ``offsets``,
permutations, masks and a packed program's tables are therefore made here (or, when filled in
place, marked read-only before their first kernel call), on the run path and in the tests alike.
NumPy only: importing this module does not import Numba.
"""

from __future__ import annotations

import numpy as np


def index_array(values, dtype=np.int64) -> np.ndarray:
    """``values`` as a new read-only array of ``dtype`` (int64 unless told)."""
    out = np.array(values, dtype=dtype)
    out.flags.writeable = False
    return out
