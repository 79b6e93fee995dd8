"""A compiled circuit's fused items as one packed program: one Numba call applies them all.

On a small state a fused block costs a few microseconds of arithmetic but tens of microseconds of
Python dispatch (kind analysis, offsets, matrix conversion, the kernel call), so a 12-qubit
variational circuit spent most of a call dispatching.  ``PackedProgram.build(n, items, constant)``
decides, once per compiled circuit, everything that depends only on the circuit's structure: each
item's kernel (``qsim.kernels.packed.BLOCK_*``: dense on 1, 2 or 3 targets, or an x that only
swaps), its bit positions, its controls, and, for constant items, the matrix itself with the
controls folded out (``qsim.state.kinds.classify``: a cnot is an x under a control, an identity is
dropped).  ``apply(array, items)`` copies the matrices of the items that change with the
parameters into the packed array and runs ``qsim.kernels.packed.apply_blocks`` once.

Used by ``qsim.state.executor`` for ``qsim.state.compile.CompiledCircuit`` runs on a single-process
state of at most ``PACKED_MAX_QUBITS`` qubits (above that the blocks' arithmetic dominates and the
parallel, tiled kernels of ``qsim.state.apply`` win).  A circuit with an item the packed kernels do
not cover (a diagonal given as a vector, more than three targets) keeps the
per-item path.
"""

from __future__ import annotations

import numpy as np

from qsim.kernels import packed as KP
from qsim.kernels.indices import index_array
from qsim.state.kinds import classify

PACKED_MAX_QUBITS = 14


class PackedProgram:
    """The packed form of one compiled circuit's fused items (see the module docstring)."""

    __slots__ = ("n", "kinds", "tbits", "ntargets", "fixed", "nfixed", "cvals", "mats", "dynamic", "_cast",
                 "_copies", "phases", "perms")

    @classmethod
    def build(cls, n, items, constant, arrays=None, sources=None):
        """The program for ``items`` (fused ``(targets, matrix, controls, states)`` on an n-qubit
        state, qubit q at bit n-1-q), where ``constant[j]`` says item j's matrix never changes; None
        if some item is not covered.  ``arrays`` ({name: (m, 4, 4) array}) and ``sources`` (per
        item, None or (name, index): the item's matrix is the top-left of ``arrays[name][index]``,
        updated in place) let the changing matrices be copied many at a time."""
        if n > PACKED_MAX_QUBITS or n == 0:
            return None
        rows, phases = [], []
        for j, (targets, matrix, controls, states) in enumerate(items):
            m = np.asarray(matrix)
            if m.ndim != 2 or len(targets) > KP.PACKED_MAX_TARGETS:
                return None
            tb = [n - 1 - q for q in targets]
            cb = [n - 1 - q for q in controls]
            cv = [int(v) for v in states]
            if not targets:  # a phase: global, or on the subspace where the controls hold
                if not controls:
                    phases.append(j)
                    continue
                # a one-qubit diagonal on the first control, under the others
                rows.append((KP.BLOCK_DENSE_1, cb[:1], cb[1:], cv[1:], np.eye(2), (j, -1 - cv[0])))
                continue
            kind = None
            if constant[j]:
                g = classify(tb, m, cb, cv)
                if g.kind == "identity":
                    continue
                if g.kind == "x":
                    kind, tb, cb, cv, m = KP.BLOCK_X, g.targets, g.controls, g.values, None
                elif g.targets and g.matrix.ndim == 2:
                    tb, cb, cv, m = g.targets, g.controls, g.values, g.matrix
                elif not g.targets and g.controls:  # a phase where the controls hold (cz): a
                    v = int(g.values[0])            # diagonal on the first, under the others
                    m = np.eye(2, dtype=np.complex128)
                    m[v, v] = complex(np.asarray(g.matrix).reshape(-1)[0])
                    tb, cb, cv = g.controls[:1], g.controls[1:], g.values[1:]
            if kind is None:
                kind = {1: KP.BLOCK_DENSE_1, 2: KP.BLOCK_DENSE_2}.get(len(tb), KP.BLOCK_DENSE)
            rows.append((kind, tb, cb, cv, m, None if constant[j] else (j, 1 << len(tb))))
        rows, perms = _gather_permutations(n, rows)
        dynamic = [(b, *row[5]) for b, row in enumerate(rows) if row[5] is not None]
        self = cls()
        self.n = n
        self.perms = perms
        B = max(len(rows), 1)
        width = max([len(r[1]) + len(r[2]) for r in rows] + [1])
        dim = 1 << max([len(r[1]) for r in rows] + [1])
        self.kinds = np.zeros(len(rows), dtype=np.int64)
        self.tbits = np.zeros((B, KP.PACKED_MAX_TARGETS), dtype=np.int64)
        self.ntargets = np.zeros(B, dtype=np.int64)
        self.fixed = np.zeros((B, width), dtype=np.int64)
        self.nfixed = np.zeros(B, dtype=np.int64)
        self.cvals = np.zeros(B, dtype=np.int64)
        self.mats = np.zeros((B, dim, dim), dtype=np.complex128)
        for b, (kind, tb, cb, cv, m, _) in enumerate(rows):
            self.kinds[b] = kind
            self.tbits[b, :len(tb)] = tb
            self.ntargets[b] = len(tb)
            fx = sorted(list(tb) + list(cb))
            self.fixed[b, :len(fx)] = fx
            self.nfixed[b] = len(fx)
            self.cvals[b] = sum(int(v) << int(bit) for bit, v in zip(cb, cv))
            if m is not None:
                d = 1 << len(tb)
                self.mats[b, :d, :d] = m
        for a in (self.kinds, self.tbits, self.ntargets, self.fixed, self.nfixed, self.cvals, self.perms):
            a.flags.writeable = False  # one kind of index array (qsim.kernels.indices)
        self._cast = {}
        self._copies = []
        if arrays is not None and sources is not None and dim <= 4:
            # (slots, array, indices) per source array; items without a source stay in ``dynamic``
            by_array: dict = {}
            rest = []
            for slot, j, d in dynamic:
                if sources[j] is None or d <= 0:
                    rest.append((slot, j, d))
                else:
                    name, index = sources[j]
                    by_array.setdefault(name, ([], []))
                    by_array[name][0].append(slot)
                    by_array[name][1].append(index)
            for name, (slots, index) in by_array.items():
                self._copies.append((index_array(slots), arrays[name], index_array(index)))
            dynamic = rest
        self.dynamic = dynamic
        self.phases = phases
        return self

    def apply(self, state, items, want_z: bool = False):
        """Apply the program (with the current matrices of ``items``) to the single-process ``state``
        (canonical placement) in place.  With ``want_z``, return [<Z_q>] for every qubit q, taken in
        the pass that copies the planar state back (else None)."""
        array = state.array
        for j in self.phases:
            state.global_phase *= complex(np.asarray(items[j][1]).reshape(-1)[0])
        work = self._cast.get(array.dtype)
        if work is None:
            real = np.float64 if array.dtype == np.complex128 else np.float32
            work = self._cast[array.dtype] = (self.mats.astype(array.dtype), np.empty((2, array.shape[0]), dtype=real),
                                              np.zeros(self.n + 1, dtype=np.float64),
                                              np.empty((2, array.shape[0] if len(self.perms) else 1), dtype=real))
        mats, planar, zsum, scratch = work
        for slots, source, index in self._copies:
            KP.copy_matrices(mats, slots, source, index)
        for slot, j, d in self.dynamic:
            if d > 0:
                mats[slot, :d, :d] = items[j][1]
            else:  # a controlled phase: on the control's value -1 - d
                v = -1 - d
                mats[slot, v, v] = complex(np.asarray(items[j][1]).reshape(-1)[0])
        KP.split(array, planar)
        KP.apply_blocks(planar, scratch, self.perms, self.kinds, self.tbits, self.ntargets, self.fixed, self.nfixed, self.cvals, mats)
        if not want_z:
            KP.join_z(array, planar, _NO_SUMS)
            return None
        KP.join_z(array, planar, zsum)
        n = self.n
        return (zsum[n] - 2.0 * zsum[n - 1::-1]).tolist()  # qubit q is at bit n - 1 - q


_NO_SUMS = np.zeros(0, dtype=np.float64)


# Runs of at least this many x blocks become one permutation (a gather pass and a copy).
_PERM_MIN_BLOCKS = 3


def _gather_permutations(n, rows):
    """``rows`` with each run of ``_PERM_MIN_BLOCKS`` or more x blocks replaced by one permutation
    block (kind ``BLOCK_PERM``, its index into the returned (P, 2^n) int32 array in ``tb``).  A row
    on bits disjoint from every x block of the run being collected moves ahead of the run (they
    commute), so a rotation layer followed by a cnot ladder, which the planner interleaves, gives
    one run per layer."""
    out, start = [], None
    for row in rows:
        if row[0] == KP.BLOCK_X:
            if start is None:
                start = len(out)
            out.append(row)
            continue
        bits = set(row[1]) | set(row[2])
        if start is not None and all(not (bits & (set(r[1]) | set(r[2]))) for r in out[start:]):
            out.insert(start, row)
            start += 1
            continue
        out.append(row)
        start = None
    size = 1 << n
    final, perms = [], []
    i = 0
    while i < len(out):
        j = i
        while j < len(out) and out[j][0] == KP.BLOCK_X:
            j += 1
        if j - i < _PERM_MIN_BLOCKS:
            final.append(out[i])
            i += 1
            continue
        idx = np.arange(size, dtype=np.int64)
        every = np.arange(size, dtype=np.int64)
        for kind, tb, cb, cv, _, _ in out[i:j]:
            o = 1 << int(tb[0])
            sel = (every & o) == 0
            for bit, v in zip(cb, cv):
                sel &= ((every >> int(bit)) & 1) == int(v)
            lo = every[sel]
            idx[lo], idx[lo | o] = idx[lo | o], idx[lo].copy()
        final.append((KP.BLOCK_PERM, [len(perms)], [], [], None, None))
        perms.append(idx.astype(np.int32))
        i = j
    return final, (np.array(perms, dtype=np.int32) if perms else np.zeros((0, 1), dtype=np.int32))
