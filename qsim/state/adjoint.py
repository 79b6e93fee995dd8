"""Adjoint gradients: <H> and d<H>/dp for every requested parameter p, from one forward pass.

Called by ``qsim.state.executor`` for the ``adjoint_gradient`` result type.  The method is Jones &
Gacon (arXiv:2009.02823), with two extra state vectors beside the forward state |psi>:

1. |lam> = H|psi> for H = sum_k c_k P_k (each P_k a tensor product of Pauli/Hermitian factors),
   accumulated term by term (one scratch state); <H> = Re <psi|lam>.
2. Walk the gates backwards.  For gate U_i (|psi> is the state just after it, |lam> the adjoint
   state U_{i+1}^dag ... U_n^dag H|psi_n>), each parameter p contributes
   2 Re <lam| D |psi> with D = (dU_i/dp) U_i^dag, a matrix on the gate's targets that is zero
   outside its controlled subspace; then U_i^dag is applied to both states.

``dU/dp`` is exact: the chain rule through the gate's argument expressions
(``ParameterExpression.value_and_gradient``), each built-in gate's matrix differentiated from its
Fourier series (every entry is a trigonometric polynomial of its angles with frequencies
0, +-1/2, +-1, so five samples 4pi/5 apart determine it exactly), and ``pow``/``inv`` modifiers
through the Daleckii-Krein formula for the principal matrix power.  Inner products are Numba
reductions (``qsim.kernels.reductions``); on a distributed state each rank reduces its shard and
the ranks sum (``comm.allreduce``), after bringing the two states to the same layout: nothing is
gathered.
"""

from __future__ import annotations

import math

import numpy as np

from qsim.circuit import gates as _gates
from qsim.circuit.parameters import ParameterExpression
from qsim.errors import InternalError, ValidationError
from qsim.kernels import reductions as KR
from qsim.state.apply import _fixed, _offsets

_SHIFTS = 4.0 * math.pi * np.arange(5) / 5.0
_OMEGA = np.array([0.0, 0.5, 1.0, -1.0, -0.5])  # frequency of DFT bin k = 0..4 (k/2, k taken mod 5)
_DFT = np.exp(-2j * math.pi * np.outer(np.arange(5), np.arange(5)) / 5.0) / 5.0


# ------------------------------------------------------------------------------- gate derivatives
# (dU/dt) U^dag of the one-angle rotations, independent of the angle: -i/2 times the Pauli of
# exp(-i t P / 2), and diag(0, i) for the phase shift diag(1, e^{it}); tests check them against
# the Fourier differentiation below.
_GENERATORS = {
    "rx": -0.5j * np.array([[0, 1], [1, 0]], dtype=np.complex128),
    "ry": -0.5j * np.array([[0, -1j], [1j, 0]], dtype=np.complex128),
    "rz": -0.5j * np.array([[1, 0], [0, -1]], dtype=np.complex128),
    "phaseshift": np.array([[0, 0], [0, 1j]], dtype=np.complex128),
}

def _base_derivatives(spec, args):
    """[d base_matrix / d args[j]] for a built-in gate at ``args`` (exact Fourier differentiation)."""
    out = []
    for j in range(len(args)):
        samples = []
        for s in _SHIFTS:
            a = list(args)
            a[j] += s
            samples.append(spec.matrix(*a))
        f = np.array(samples)  # (5, d, d)
        coeffs = np.tensordot(_DFT, f, axes=(1, 0))  # C_k (the e^{i w_k theta} factor included)
        out.append(np.tensordot(1j * _OMEGA, coeffs, axes=(0, 0)))
    return out


def _power_and_derivative(m, dms, e):
    """(m**e, [d(m**e)] for each dm in dms): principal power (as ``gates.matrix_power``) and its
    Frechet derivative by the Daleckii-Krein formula."""
    powered = _gates.matrix_power(m, e)
    rng = np.random.default_rng(12345)
    a, b = rng.uniform(0.5, 1.5, size=2)
    herm = a * (m + m.conj().T) / 2 + b * (m - m.conj().T) / 2j
    _, v = np.linalg.eigh(herm)
    lam = np.diag(v.conj().T @ m @ v)
    if float(e) == int(e):
        f = lam ** int(e)
    else:
        ph = np.angle(lam)
        ph = np.where(ph <= -np.pi + 1e-15, np.pi, ph)
        f = np.abs(lam) ** e * np.exp(1j * e * ph)
    fp = e * f / lam
    diff = lam[:, None] - lam[None, :]
    close = np.abs(diff) < 1e-9
    phi = np.where(close, (fp[:, None] + fp[None, :]) / 2, (f[:, None] - f[None, :]) / np.where(close, 1, diff))
    return powered, [v @ (phi * (v.conj().T @ dm @ v)) @ v.conj().T for dm in dms]


def gate_derivatives(op, values, wanted):
    """``(matrix, {p: D_p})`` for a gate whose arguments may be expressions of parameters:
    ``D_p = (dU/dp) U^dag`` on the targets, for each wanted parameter p the gate depends on."""
    exprs = [(j, p) for j, p in enumerate(op.params) if isinstance(p, ParameterExpression)]
    args, chain = [], []
    for p in op.params:
        if isinstance(p, ParameterExpression):
            v, g = p.value_and_gradient(values)
            args.append(v)
            chain.append({k: d for k, d in g.items() if k in wanted and d != 0.0})
        else:
            args.append(float(p))
            chain.append({})
    spec = _gates.lookup(op.name)
    if spec is None:
        raise InternalError(f"gate '{op.name}' has parameters but no built-in matrix")
    m = spec.matrix(*args)
    used = [j for j, _ in exprs if chain[j]]
    if not used:
        return None, {}
    generator = _GENERATORS.get(op.name) if not op.exponents else None
    if generator is not None:  # exp(-i t G / 2) or a phase: (dU/dt) U^dag is a constant matrix
        return m, {name: c * generator for name, c in chain[0].items()}
    dms = _base_derivatives(spec, args)
    dms = [dms[j] for j in used]
    for e in reversed(op.exponents):
        m, dms = _power_and_derivative(m, dms, e)
    m_dag = m.conj().T
    out: dict = {}
    for j, dm in zip(used, dms):
        d = dm @ m_dag
        for name, c in chain[j].items():
            out[name] = out.get(name, 0) + c * d
    return m, out


# ------------------------------------------------------------------------------- state operations
def _bits(state, qubits):
    if state.distributed:
        return [state.layout.pos[q] for q in qubits]
    return [state.n_qubits - 1 - q for q in qubits]


def _aligned(a, b):
    """Pairs (slice of a's shard, matching piece of b's shard) once b has a's layout (distributed)."""
    b._set_layout(list(a.layout.pos))
    if np.array_equal(a.layout.prefix_of_rank, b.layout.prefix_of_rank):
        yield a.shard.array, b.shard.array, np.conj(a.shard.global_phase) * b.shard.global_phase
        return
    a._flush_phase()
    b._flush_phase()
    source = int(b.layout.rank_of_prefix[a.prefix])
    dest = int(a.layout.rank_of_prefix[b.prefix])
    for start, piece in a.ex.permuted_pieces(b.shard.array, source, dest):
        yield a.shard.array[start:start + piece.shape[0]], piece, 1.0


def inner(a, b) -> complex:
    """<a|b> of two states of the same kind (global on every rank)."""
    if not a.distributed:
        return np.conj(a.global_phase) * b.global_phase * KR.inner(a.array, b.array)
    local = sum(ph * KR.inner(x, y) for x, y, ph in _aligned(a, b))
    return complex(a.comm.allreduce(complex(local)))


def add_into(y, c, x) -> None:
    """|y> += c |x>."""
    if not y.distributed:
        KR.axpy(y.array, c * x.global_phase / y.global_phase, x.array)
        return
    y._flush_phase()
    for ys, xs, ph in _aligned(y, x):
        KR.axpy(ys, c * ph, xs)


def zeros_like(state):
    out = state.copy()
    if state.distributed:
        out.shard.array.fill(0)
        out.shard.global_phase = 1.0 + 0.0j
    else:
        out.array.fill(0)
        out.global_phase = 1.0 + 0.0j
    return out


def matrix_inner(a, b, targets, controls, states, mats) -> np.ndarray:
    """[<a| P_c (x) D |b> for D in mats]: ``D`` on ``targets`` where ``controls`` hold ``states``,
    zero elsewhere.  a and b must have the same layout (they are kept in step)."""
    D = np.array(mats, dtype=np.complex128)
    if not a.distributed:
        return _local_matrix_inner(a.array, b.array, _bits(a, targets), _bits(a, controls), states, D) * \
            (np.conj(a.global_phase) * b.global_phase)
    for s in (a, b):
        if not s._make_local(list(targets), set(targets) | set(controls)):
            raise ValidationError(f"a gate on {len(targets)} qubits cannot be differentiated on shards of "
                                  f"{s.L} qubits; use fewer ranks")
    if a.layout.pos != b.layout.pos:
        b._set_layout(list(a.layout.pos))
    if not np.array_equal(a.layout.prefix_of_rank, b.layout.prefix_of_rank):
        raise InternalError("adjoint states fell out of step")
    lay = a.layout
    local = np.zeros(len(mats), dtype=np.complex128)
    if all(a._pbit(q) == v for q, v in zip(controls, states) if lay.is_global(q)):
        lc = [(lay.pos[q], v) for q, v in zip(controls, states) if not lay.is_global(q)]
        local = _local_matrix_inner(a.shard.array, b.shard.array, [lay.pos[q] for q in targets],
                                    [p for p, _ in lc], [v for _, v in lc], D)
        local = local * (np.conj(a.shard.global_phase) * b.shard.global_phase)
    return np.array(a.comm.allreduce(local), dtype=np.complex128)


def _local_matrix_inner(x, y, tbits, cbits, cvals, D):
    cval = 0
    for bit, v in zip(cbits, cvals):
        cval |= int(v) << bit
    return KR.matrix_inner(x, y, D, _offsets(tbits), _fixed(list(tbits) + list(cbits)), cval)


def _z_masks(psi, terms):
    """(masks, signs) of ``terms`` if every factor is z or i (a diagonal H), else None: the Z bits of
    each term in the (single-process state's or this rank's shard's) array, and on a distributed
    state the sign its Z factors on global qubits take on this rank."""
    masks, signs = [], []
    for _, observable, targets in terms:
        mask, sign = 0, 1
        pos = 0
        for f in observable.factors:
            if f.name not in ("z", "i"):
                return None
            if f.name == "z":
                q = targets[pos]
                if not psi.distributed:
                    mask |= 1 << (psi.n_qubits - 1 - q)
                elif psi.layout.is_global(q):
                    sign = -sign if psi._pbit(q) else sign
                else:
                    mask |= 1 << psi.layout.pos[q]
            pos += f.qubit_count
        masks.append(mask)
        signs.append(sign)
    return masks, signs


def _array(state):
    """The array the kernels work on: the single-process state's, or this rank's shard."""
    return state.shard.array if state.distributed else state.array


def _phase_of(state):
    return state.shard.global_phase if state.distributed else state.global_phase


def apply_observable(psi, terms):
    """H|psi> as a new state, for ``terms`` = [(coefficient, Observable, targets)]."""
    found = _z_masks(psi, terms)
    if found is not None:  # a sum of Z products: one pass (on each rank's shard)
        masks, signs = found
        lam = psi.copy()
        KR.diagonal_observable(_array(psi), _array(lam), masks, [float(c) * s for (c, _, _), s in zip(terms, signs)])
        return lam
    lam = zeros_like(psi)
    for coeff, observable, targets in terms:
        t = psi.copy()
        pos = 0
        for f in observable.factors:
            qs = tuple(targets[pos:pos + f.qubit_count])
            pos += f.qubit_count
            if f.name != "i":
                t.apply(qs, f.matrix)
        add_into(lam, coeff, t)
        del t
    return lam


def _in_step(psi, lam, qubits=()) -> bool:
    """Whether the fast paths may work on the two states' arrays directly with ``qubits`` local:
    always on one process; on the distributed state once ``qubits`` are brought into psi's shard
    and lam has psi's layout (False if that cannot be done: the generic path then takes the gate)."""
    if not psi.distributed:
        return True
    if not psi._make_local(list(qubits), set(qubits)):
        return False
    if lam.layout.pos != psi.layout.pos:
        lam._set_layout(list(psi.layout.pos))
    return bool(np.array_equal(lam.layout.prefix_of_rank, psi.layout.prefix_of_rank))


def _bit(state, q) -> int:
    return state.layout.pos[q] if state.distributed else state.n_qubits - 1 - q


# ------------------------------------------------------------------------------- the sweep
def adjoint_gradient(psi, ops, values, terms, parameters):
    """``(expectation, {p: gradient})`` for the final state ``psi`` of the gates ``ops`` (remapped,
    parameters as expressions) at parameter ``values``.  ``psi`` is consumed (walked back to |0>)."""
    wanted = set(parameters)
    grad = {p: 0.0 for p in parameters}
    # the fast paths' contributions: this rank's part on a distributed state, summed once at the end
    local = {p: 0.0 for p in parameters} if psi.distributed else grad
    lam = apply_observable(psi, terms)
    expectation = inner(psi, lam).real
    ops = list(ops)
    i = len(ops) - 1
    while i >= 0:
        op = ops[i]
        if len(op.targets) == 1 and not op.controls:
            j = i
            while j > 0 and len(ops[j - 1].targets) == 1 and not ops[j - 1].controls and \
                    ops[j - 1].targets == op.targets:
                j -= 1
            if (i - j >= 1 or op.free_parameters() & wanted) and _in_step(psi, lam, op.targets):
                _one_qubit_run(psi, lam, ops[j:i + 1], values, wanted, local)
                i = j - 1
                continue
        i -= 1
        if not op.params and _undo_permutation(psi, lam, op):
            continue
        derivs = {}
        if op.free_parameters() & wanted:
            m, derivs = gate_derivatives(op, values, wanted)
        if derivs:
            names = list(derivs)
            vals = matrix_inner(lam, psi, op.targets, op.controls, op.control_states, [derivs[n] for n in names])
            for n, v in zip(names, vals):
                grad[n] += 2.0 * float(v.real)
        else:
            m = op.bind(values).matrix() if op.free_parameters() else op.matrix()
        m_dag = np.ascontiguousarray(m.conj().T)
        psi.apply(op.targets, m_dag, op.controls, op.control_states)
        lam.apply(op.targets, m_dag, op.controls, op.control_states)
    if psi.distributed:
        names = list(local)
        total = np.array(psi.comm.allreduce(np.array([local[p] for p in names], dtype=np.float64)))
        for p, v in zip(names, total):
            grad[p] += float(v)
    return float(expectation), grad


_X_OPS: dict = {}


def _undo_permutation(psi, lam, op) -> bool:
    """Undo a constant gate that is an x under controls (cnot, toffoli, x) on both single-process
    states in one pass (``qsim.kernels.reductions.x_both``); False for any other gate.  What the
    gate is comes from ``qsim.state.kinds.classify`` once per gate shape."""
    if op.unitary is not None:
        return False
    key = (op.name, op.exponents, len(op.targets), op.control_states)
    found = _X_OPS.get(key)
    if found is None:
        from qsim.state.kinds import classify

        k, c = len(op.targets), len(op.controls)
        g = classify(list(range(k)), np.asarray(op.matrix()).conj().T, list(range(k, k + c)), list(op.control_states))
        found = (g.targets, g.controls, g.values) if g.kind == "x" else False
        if len(_X_OPS) < 1024:
            _X_OPS[key] = found
    if found is False:
        return False
    targets, controls, cvalues = found
    qubits = list(op.targets) + list(op.controls)
    target = qubits[targets[0]]
    if psi.distributed and psi.layout.is_global(target):
        return False  # a relabel of the ranks' blocks: the generic path
    if not _in_step(psi, lam):
        return False
    cbits, cvals = [], []
    for j, v in zip(controls, cvalues):
        q = qubits[j]
        if psi.distributed and psi.layout.is_global(q):
            if psi._pbit(q) != int(v):
                return True  # the control does not hold anywhere on this rank's shard
            continue
        cbits.append(_bit(psi, q))
        cvals.append(int(v))
    bit = _bit(psi, target)
    cval = 0
    for b, v in zip(cbits, cvals):
        cval |= v << b
    KR.x_both(_array(psi), _array(lam), bit, _fixed([bit] + cbits), cval)
    return True


def _one_qubit_run(psi, lam, run, values, wanted, grad):
    """The backward sweep over ``run`` (one-qubit gates on one qubit, in circuit order) in one pass
    over both states.  Undoing the gates one by one, gate k's derivative is <lam_k| D |psi_k> with
    both states already multiplied by the later gates' inverses; that is <lam| M D M^dag |psi> with
    M the product of those later gates, a linear combination of the four sums
    S[a, b] = sum conj(lam_a) psi_b of the current states (``qsim.kernels.reductions.pair_sums``),
    which then multiplies both states by the whole run's inverse at once."""
    m_acc = np.eye(2, dtype=np.complex128)  # M: the gates after this one, in circuit order
    effective = []
    for op in reversed(run):
        derivs = {}
        if op.free_parameters() & wanted:
            m, derivs = gate_derivatives(op, values, wanted)
        if not derivs:
            m = op.bind(values).matrix() if op.free_parameters() else op.matrix()
        m_dag = m_acc.conj().T
        for name, d in derivs.items():
            effective.append((name, m_acc @ d @ m_dag))
        m_acc = m_acc @ np.asarray(m, dtype=np.complex128)
    # m_acc = U_m ... U_1 (circuit order g_1..g_m): both states are multiplied by its inverse
    sums = KR.pair_sums(_array(psi), _array(lam), _bit(psi, run[0].targets[0]), m_acc.conj().T)
    phase = np.conj(_phase_of(lam)) * _phase_of(psi)
    for name, e in effective:
        grad[name] += 2.0 * float((np.sum(e * sums) * phase).real)
