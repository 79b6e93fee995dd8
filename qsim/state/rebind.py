"""Re-binding a compiled circuit's matrices fast: rotations many at a time, and the fused blocks
of rotation layers and entanglers recomputed in one Numba call.

Who calls this: ``qsim.state.compile.CompiledCircuit`` (``unitaries(values)``, every call of a
variational loop).  ``VECTOR_BUILDERS`` build the matrices of all occurrences of rx/ry/rz/phaseshift
in one numpy pass; ``FastBinder`` keeps every parametrised gate's matrix in one array and the fused
items as views of it (``qsim.kernels.reductions.rotation_matrices`` and ``block_products``).
"""

from __future__ import annotations

import numpy as np

from qsim.kernels.indices import index_array


def _vec_rx(t):
    c, s = np.cos(t / 2), np.sin(t / 2)
    out = np.empty((len(t), 2, 2), dtype=np.complex128)
    out[:, 0, 0] = c
    out[:, 1, 1] = c
    out[:, 0, 1] = -1j * s
    out[:, 1, 0] = -1j * s
    return out


def _vec_ry(t):
    c, s = np.cos(t / 2), np.sin(t / 2)
    out = np.empty((len(t), 2, 2), dtype=np.complex128)
    out[:, 0, 0] = c
    out[:, 1, 1] = c
    out[:, 0, 1] = -s
    out[:, 1, 0] = s
    return out


def _vec_rz(t):
    out = np.zeros((len(t), 2, 2), dtype=np.complex128)
    out[:, 0, 0] = np.exp(-0.5j * t)
    out[:, 1, 1] = np.exp(0.5j * t)
    return out


def _vec_phaseshift(t):
    out = np.zeros((len(t), 2, 2), dtype=np.complex128)
    out[:, 0, 0] = 1
    out[:, 1, 1] = np.exp(1j * t)
    return out


# Built-in gates whose matrices a compiled circuit builds for all their occurrences in one numpy
# pass (tests/test_compiled.py checks them against qsim.circuit.gates).
VECTOR_BUILDERS = {"rx": _vec_rx, "ry": _vec_ry, "rz": _vec_rz, "phaseshift": _vec_phaseshift}
# The same four as codes of qsim.kernels.reductions.rotation_matrices (one Numba call for all).
ROTATION_CODES = {"rx": 0, "ry": 1, "rz": 2, "phaseshift": 3}


class FastBinder:
    """Re-binding for compiled circuits whose parametrised gates are uncontrolled and act on at most
    two qubits (rotation layers, entanglers): the gates' matrices live in one array, rotations are
    written into it many at a time, and the fused blocks holding changed gates are recomputed by one
    Numba call (``qsim.kernels.reductions.block_products``).  The fused items are views of those
    arrays, updated in place."""

    @classmethod
    def build(cls, compiled, items, shapes):
        from qsim.state.fusion import Block, _as_block, _block_qubits

        plan = compiled._plan
        if not compiled.params or any(items[g.index][2] or len(items[g.index][0]) > 2 for g in compiled.params):
            return None
        self = cls()
        G = len(items)
        self.raw = np.zeros((G, 4, 4), dtype=np.complex128)
        for i, (targets, m, controls, states) in enumerate(items):
            if m is None or len(targets) + len(controls) > 2:
                continue
            if controls:
                m = _as_block(targets, m, controls, states)[1]
            d = m.shape[0]
            self.raw[i, :d, :d] = m
        codes, members, starts, block_of_entry = [], [], [0], {}
        for j, e in enumerate(plan.entries):
            if not isinstance(e, Block):
                continue
            if len(e.qubits) > 2:  # a planner's larger blocks: re-bound by Plan.rebind instead
                return None
            for g in sorted(e.members):
                s = shapes[g]
                bq = _block_qubits(s.targets, s.controls)
                if bq is None or not set(bq) <= set(e.qubits):
                    return None
                if len(e.qubits) == 1:
                    codes.append(4)
                elif len(bq) == 1:
                    codes.append(0 if bq[0] == e.qubits[0] else 1)
                else:
                    codes.append(2 if bq == e.qubits else 3)
                members.append(g)
            starts.append(len(members))
            block_of_entry[j] = len(starts) - 2
        self.codes, self.members, self.starts = index_array(codes), index_array(members), index_array(starts)
        self.out = np.zeros((max(len(starts) - 1, 1), 4, 4), dtype=np.complex128)
        self.fused = []
        self.sources = []  # per fused item: ("out", block) or ("raw", gate) for its 4x4 array, or None
        for j, e in enumerate(plan.entries):
            if isinstance(e, Block):
                b = block_of_entry[j]
                self.fused.append((e.qubits, self.out[b] if len(e.qubits) == 2 else self.out[b, :2, :2], (), ()))
                self.sources.append(("out", b))
            elif items[e][1] is None:  # a parametrised gate on its own
                d = 1 << len(items[e][0])
                self.fused.append((items[e][0], self.raw[e, :d, :d], (), ()))
                self.sources.append(("raw", e))
            else:
                self.fused.append(items[e])
                self.sources.append(None)
        self.block_of_gate = {}
        for g in compiled.params:
            for j in plan.outputs_of(g.index):
                if j in block_of_entry:
                    self.block_of_gate[g.index] = block_of_entry[j]
        self.params = compiled.params
        self.groups = {k: (gs, np.array([g.index for g in gs], dtype=np.int64)) for k, gs in compiled._groups.items()}
        # per kind, the parameter names when every gate of the kind takes a bare parameter
        self.direct = {k: ([g.direct for g in gs] if all(g.direct for g in gs) else None)
                       for k, gs in compiled._groups.items()}
        self.all_blocks = index_array(range(len(starts) - 1))
        # every parameter's value in one array (in ``order``); the rotations that take a bare
        # parameter get their matrices from it in one Numba call (rotation_matrices)
        self.order = sorted(compiled.free)
        position = {p: i for i, p in enumerate(self.order)}
        direct = [g for g in compiled.params if g.kind in ROTATION_CODES and g.direct is not None]
        self.rot_gates = index_array([g.index for g in direct])
        self.rot_codes = index_array([ROTATION_CODES[g.kind] for g in direct])
        self.rot_params = index_array([position[g.direct] for g in direct])
        self.rot_rest = [g for g in compiled.params if not (g.kind in ROTATION_CODES and g.direct is not None)]
        self.last = None  # the parameter values of the last call, as an array in ``order``
        return self

    def unitaries(self, values):
        from qsim.kernels.reductions import block_products, rotation_matrices

        angles = np.fromiter(map(values.__getitem__, self.order), dtype=np.float64, count=len(self.order))
        previous, self.last = self.last, angles
        if previous is None or bool(np.all(angles != previous)):
            # every parameter changed (a variational loop): rebuild all, many at a time
            rotation_matrices(self.raw, self.rot_gates, self.rot_codes, angles[self.rot_params])
            for g in self.rot_rest:
                m = g.matrix(values) if g.kind is None else VECTOR_BUILDERS[g.kind](np.array([g.fns[0](values)]))[0]
                self.raw[g.index, :m.shape[0], :m.shape[0]] = m
            block_products(self.raw, self.codes, self.members, self.starts, self.all_blocks, self.out)
            return self.fused
        moved = {self.order[i] for i in np.flatnonzero(angles != previous)}
        gates_by_kind, others = {}, []
        for g in self.params:
            if any(p in moved for p in g.names):
                if g.kind is None:
                    others.append(g)
                else:
                    gates_by_kind.setdefault(g.kind, []).append(g)
        changed = []
        for kind, gates in gates_by_kind.items():
            index = np.array([g.index for g in gates], dtype=np.int64)
            self.raw[index, :2, :2] = VECTOR_BUILDERS[kind](np.array([g.fns[0](values) for g in gates],
                                                                      dtype=np.float64))
            changed += [g.index for g in gates]
        for g in others:
            m = g.matrix(values)
            self.raw[g.index, :m.shape[0], :m.shape[0]] = m
            changed.append(g.index)
        blocks = index_array(sorted({self.block_of_gate[i] for i in changed if i in self.block_of_gate}))
        if blocks.shape[0]:
            block_products(self.raw, self.codes, self.members, self.starts, blocks, self.out)
        return self.fused
