"""Numba pack/unpack kernels for the exchange of amplitude groups between ranks: pure array code.

Called only by ``qsim.distributed.exchange``, which owns the MPI calls; nothing here knows about
ranks.  Same conventions as ``qsim.kernels.gates``: a *group* is the set of indices whose ``fixed``
bits (sorted ascending) equal ``cval``; its ``j``-th element is ``_insert_zeros(j, fixed) | cval``.

``run`` is the length of the contiguous stretches a piece of the group is made of: a power of two
dividing both ``start`` and the piece length, at most ``2^fixed[0]``.  Large runs are copied like
``memcpy`` (parallel inside the run); short runs are gathered one element at a time (parallel
over runs).  Nothing here allocates.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from qsim.kernels.gates import _OPTS, _insert_zeros

_MANY_RUNS = 64


@njit(parallel=True, **_OPTS)
def pack_group(state, fixed, cval, start, buf, run):
    """``buf[t] = state[element start + t of the group]`` for ``t < len(buf)``."""
    nruns = buf.shape[0] // run
    if nruns >= _MANY_RUNS:
        for r in prange(nruns):
            src = _insert_zeros(np.int64(start + r * run), fixed) | cval
            dst = r * run
            for t in range(run):
                buf[dst + t] = state[src + t]
    else:
        for r in range(nruns):
            src = _insert_zeros(np.int64(start + r * run), fixed) | cval
            dst = r * run
            for t in prange(run):
                buf[dst + t] = state[src + t]


@njit(parallel=True, **_OPTS)
def unpack_group(state, fixed, cval, start, buf, run):
    """The inverse of ``pack_group``: ``state[element start + t of the group] = buf[t]``."""
    nruns = buf.shape[0] // run
    if nruns >= _MANY_RUNS:
        for r in prange(nruns):
            dst = _insert_zeros(np.int64(start + r * run), fixed) | cval
            src = r * run
            for t in range(run):
                state[dst + t] = buf[src + t]
    else:
        for r in range(nruns):
            dst = _insert_zeros(np.int64(start + r * run), fixed) | cval
            src = r * run
            for t in prange(run):
                state[dst + t] = buf[src + t]
