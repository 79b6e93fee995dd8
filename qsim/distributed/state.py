"""One state vector split over the ranks of a communicator: the methods of ``StateVector``, globally.

Called by ``qsim.state.executor`` (through ``DistributedRuntime.state_factory``) on every rank
alike.  Each rank holds a ``StateVector`` of ``L = n - g`` qubits (its *shard*) plus a ``Layout``
(which qubit is where, which block each rank holds).  This class decides what a gate needs
(``qsim.distributed.plan``), moves data only through ``qsim.distributed.exchange``, and runs every
gate on the shard with ``qsim.state.apply.apply_unitary`` in local bit positions: kernels never see
MPI.

The shard's ``global_phase`` holds a factor that may differ between ranks (a diagonal gate or a
y-like relabel on global qubits); it is multiplied into the amplitudes before any exchange.
"""

from __future__ import annotations

import numpy as np
from mpi4py import MPI

from qsim.distributed.layout import Layout
from qsim.distributed.plan import choose_swaps, classify, global_targets, is_relabel, next_need
from qsim.distributed.spmd import agree_on_error, collective, symmetric
from qsim.errors import InternalError, ResourceError, ValidationError
from qsim.kernels import gates as KG
from qsim.kernels import measure as KM
from qsim.state import pivot, sampling
from qsim.state.apply import _fixed, _offsets, apply_unitary
from qsim.state.fusion import fuse_blocks
from qsim.state.memory import check_fits
from qsim.state.observable_terms import observable_terms
from qsim.state.statevector import StateVector

_ALLREDUCE_PIECE = 1 << 27
_SCATTER_PIECE = 1 << 20


def _mpi_type(dtype):
    return MPI.C_DOUBLE_COMPLEX if np.dtype(dtype) == np.complex128 else MPI.C_FLOAT_COMPLEX


def agree_fits(comm, n_qubits, dtype, *, share=1, what="state vector", amplitudes=None, ranks=None):
    """``check_fits`` on every rank (or on ``ranks``), then the same ``ResourceError`` everywhere if
    any rank failed: memory differs per rank, the decision must not."""
    err = None
    if ranks is None or comm.Get_rank() in ranks:
        try:
            check_fits(n_qubits, dtype, share=share, what=what, amplitudes=amplitudes)
        except ResourceError as e:
            err = str(e)
    first = agree_on_error(comm, err)  # small strings, not amplitudes
    if first is not None:
        raise symmetric(ResourceError(f"rank {first[0]}: {first[1]}"))


class DistributedState:
    """``n_qubits`` qubits over ``comm``'s ranks.  Reads return global values on every rank, except
    ``state_vector()`` (rank 0 only; None elsewhere)."""

    distributed = True

    def __init__(self, runtime, n_qubits: int, exchanger, *, _shard=None, _layout=None):
        fresh = _shard is None
        self.rt = runtime
        self.comm = runtime.comm
        self.rank = runtime.rank
        self.size = runtime.size
        self.n_qubits = n_qubits
        self.g = runtime.global_qubits
        self.L = n_qubits - self.g
        self.precision = runtime.precision
        self.dtype = runtime.dtype
        self.ex = exchanger
        if _shard is None:
            layout = Layout(n_qubits, self.g)
            array = np.zeros(1 << self.L, dtype=self.dtype)
            if layout.prefix_of_rank[self.rank] == 0:
                array[0] = 1
            _shard = StateVector(self.L, self.precision, _array=array)
            _layout = layout
        self.shard = _shard
        self.layout = _layout
        # |0...0>: which qubits are global can still be chosen freely (index 0 stays index 0)
        self._fresh = fresh

    @property
    def prefix(self) -> int:
        return int(self.layout.prefix_of_rank[self.rank])

    def _pbit(self, q) -> int:
        return (self.prefix >> self.layout.prefix_bit(q)) & 1

    def _sum(self, value: float) -> float:
        buf = np.array([value], dtype=np.float64)
        self.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        return float(buf[0])

    def _sum_array(self, out: np.ndarray) -> np.ndarray:
        flat = out.reshape(-1)
        for start in range(0, flat.shape[0], _ALLREDUCE_PIECE):
            self.comm.Allreduce(MPI.IN_PLACE, flat[start:start + _ALLREDUCE_PIECE], op=MPI.SUM)
        return out

    # ----------------------------------------------------------------- evolution
    @collective
    def apply(self, targets, matrix, controls=(), control_states=()):
        self.apply_all([(targets, matrix, controls, control_states)])

    @collective
    def apply_all(self, unitaries):
        """Apply ``(targets, matrix, controls, control_states)`` items in order; the whole list is
        the look-ahead window for choosing which local qubits to evict."""
        ops = [classify(item) for item in unitaries]
        if self._fresh and ops:
            self._choose_initial_layout(ops)
        if self.rt.fusion and len(ops) > 1:
            # Now that the global qubits are known, fuse gates on local qubits into the blocks the
            # single-process state uses; gates touching a global qubit keep their own form.
            lay = self.layout
            globals_now = frozenset(q for q in range(self.n_qubits) if lay.is_global(q))
            ops = [classify(item) for item in fuse_blocks(unitaries, keep_apart=globals_now, precision=self.precision)]
        for i in range(len(ops)):
            self._apply_op(ops, i)

    def _choose_initial_layout(self, ops):
        """Before the first gate, make global the qubits whose first need to be local comes last
        (or never): a relabel of |0...0>, free.  QFT, for one, then exchanges only at its end."""
        self._fresh = False
        lay = self.layout
        first = next_need([op for op in ops if not is_relabel(op, lay)], 0, range(self.n_qubits))
        order = sorted(range(self.n_qubits), key=lambda q: (-first[q], not lay.is_global(q), q))
        chosen = sorted(order[:self.g])
        rest = [q for q in range(self.n_qubits) if q not in chosen]
        for j, q in enumerate(chosen):
            lay.pos[q] = self.n_qubits - 1 - j
        for j, q in enumerate(rest):
            lay.pos[q] = self.L - 1 - j
        for q, p in enumerate(lay.pos):
            lay.qubit_at[p] = q

    def _apply_op(self, ops, i):
        op, lay = ops[i], self.layout
        if op.kind == "swap":
            lay.swap_qubits(*op.targets)
            return
        if op.kind == "diag":
            self._apply_diag(op)
            return
        if is_relabel(op, lay):
            self._relabel(op)
            return
        if global_targets(op, lay):
            bring, evict = choose_swaps(ops, i, lay)
            if evict is None:
                raise symmetric(ValidationError(
                    f"a gate on {len(op.targets)} qubits needs them all in one shard, but each of the "
                    f"{self.size} ranks holds only {self.L} of the {self.n_qubits} qubits; use fewer ranks"))
            self._swap_in(bring, evict)
        if op.kind == "pivot":
            block = op.matrix.fold({q: self._pbit(q) for q in op.matrix.others if lay.is_global(q)})
            pivot.apply(self.shard.array, block, lay.pos[block.pivot], [lay.pos[q] for q in block.others])
            return
        if not self._controls_hold(op):
            return
        local = [(lay.pos[q], v) for q, v in zip(op.controls, op.values) if not lay.is_global(q)]
        apply_unitary(self.shard.array, [lay.pos[q] for q in op.targets], op.matrix, [b for b, _ in local],
                      [v for _, v in local])

    def _controls_hold(self, op) -> bool:
        return all(self._pbit(q) == v for q, v in zip(op.controls, op.values) if self.layout.is_global(q))

    def _apply_diag(self, op):
        """Diagonal on any qubits: global targets select a sub-diagonal (or a factor for this rank),
        global controls a rank predicate.  No data moves."""
        if not self._controls_hold(op):
            return
        lay = self.layout
        d = op.matrix
        k = len(op.targets)
        local_targets = [q for q in op.targets if not lay.is_global(q)]
        if len(local_targets) < k:
            a = np.arange(1 << k)
            keep = np.ones(1 << k, dtype=bool)
            for j, q in enumerate(op.targets):
                if lay.is_global(q):
                    keep &= ((a >> (k - 1 - j)) & 1) == self._pbit(q)
            d = d[keep]
        local = [(lay.pos[q], v) for q, v in zip(op.controls, op.values) if not lay.is_global(q)]
        if not local_targets:
            phase = complex(d[0])
            if phase == 1:
                return
            if not local:
                self.shard.global_phase *= phase
                return
            apply_unitary(self.shard.array, [], np.array([[phase]]), [b for b, _ in local], [v for _, v in local])
            return
        apply_unitary(self.shard.array, [lay.pos[q] for q in local_targets], d, [b for b, _ in local],
                      [v for _, v in local])

    def _relabel(self, op):
        """A permutation (with phases) of global qubits only: renumber the blocks of every rank."""
        lay = self.layout
        k = len(op.targets)
        inv = np.empty(1 << k, dtype=np.int64)
        inv[op.perm] = np.arange(1 << k)
        p = lay.prefix_of_rank
        ok = np.ones(p.shape[0], dtype=bool)
        for q, v in zip(op.controls, op.values):
            ok &= ((p >> lay.prefix_bit(q)) & 1) == v
        a = np.zeros_like(p)
        for j, q in enumerate(op.targets):
            a |= ((p >> lay.prefix_bit(q)) & 1) << (k - 1 - j)
        row = inv[a]
        new = p.copy()
        for j, q in enumerate(op.targets):
            b = lay.prefix_bit(q)
            new = (new & ~(1 << b)) | (((row >> (k - 1 - j)) & 1) << b)
        new = np.where(ok, new, p)
        if ok[self.rank]:
            self.shard.global_phase *= complex(op.phases[row[self.rank]])
        lay.renumber_blocks(new)
        self.ex.relabels += 1

    def _flush_phase(self):
        ph = self.shard.global_phase
        if ph != 1:
            KG.scale(self.shard.array, self.dtype.type(ph))
            self.shard.global_phase = 1.0 + 0.0j

    def _swap_in(self, bring, evict):
        """One batched exchange: global qubits ``bring`` trade bits with local qubits ``evict``."""
        self._fresh = False
        self._flush_phase()
        lay = self.layout
        self.ex.swap_bits(self.shard.array, self.prefix, lay.rank_of_prefix, [lay.prefix_bit(q) for q in bring],
                          [lay.pos[q] for q in evict])
        for q, e in zip(bring, evict):
            lay.swap_qubits(q, e)

    def _make_local(self, qubits, protect) -> bool:
        """Bring ``qubits`` into the shard (for a read), evicting the highest local qubits not in
        ``protect``.  False if the shard has too few qubits to spare."""
        lay = self.layout
        need = [q for q in dict.fromkeys(qubits) if lay.is_global(q)]
        if not need:
            return True
        cands = [lay.qubit_at[p] for p in range(self.L - 1, -1, -1) if lay.qubit_at[p] not in protect]
        if len(cands) < len(need):
            return False
        self._swap_in(need, cands[:len(need)])
        return True

    def _set_layout(self, target_pos):
        """Move data so that ``layout.pos == target_pos``: one batched exchange for the qubits that
        change sides, kernel swaps inside the shard, relabels among the global bits."""
        lay = self.layout
        L = self.L
        leave = [q for q in range(self.n_qubits) if lay.is_global(q) and target_pos[q] < L]
        enter = [q for q in range(self.n_qubits) if not lay.is_global(q) and target_pos[q] >= L]
        if leave:
            pairs = {}
            free = list(enter)
            for q in leave:  # land q where it should end up if an entering qubit sits there
                e = lay.qubit_at[target_pos[q]]
                if e in free:
                    pairs[q] = e
                    free.remove(e)
            for q in leave:
                if q not in pairs:
                    pairs[q] = free.pop()
            self._swap_in(leave, [pairs[q] for q in leave])
        want = [None] * self.n_qubits
        for q, p in enumerate(target_pos):
            want[p] = q
        for p in range(L):
            if lay.qubit_at[p] != want[p]:
                other = lay.pos[want[p]]
                KG.apply_swap(self.shard.array, _offsets([p, other]), _fixed([p, other]), np.int64(0), ())
                lay.swap_qubits(lay.qubit_at[p], want[p])
        for p in range(L, self.n_qubits):
            if lay.qubit_at[p] != want[p]:
                lay.swap_prefix_bits(p - L, lay.pos[want[p]] - L)
                self.ex.relabels += 1

    def _canonical(self):
        self._set_layout([self.n_qubits - 1 - q for q in range(self.n_qubits)])

    @collective
    def prob_one(self, qubit: int) -> float:
        lay = self.layout
        if lay.is_global(qubit):
            local = self.shard.norm_squared() if self._pbit(qubit) else 0.0
        else:
            local = self.shard.prob_one(self.L - 1 - lay.pos[qubit])
        return self._sum(local)

    @collective
    def collapse(self, qubit: int, outcome: int, probability: float) -> None:
        self._fresh = False
        if probability <= 0:
            raise InternalError(f"collapse of qubit {qubit} onto outcome {outcome} of probability {probability}")
        lay = self.layout
        if not lay.is_global(qubit):
            self.shard.collapse(self.L - 1 - lay.pos[qubit], outcome, probability)
        elif self._pbit(qubit) == outcome:
            KG.scale(self.shard.array, self.dtype.type(1.0 / np.sqrt(probability)))
        else:
            self.shard.array.fill(0)

    @collective
    def copy(self) -> "DistributedState":
        agree_fits(self.comm, self.L, self.dtype, share=self.rt.ranks_on_host,
                   what="copy of the shard (for a measurement branch)")
        shard = StateVector(self.L, self.precision, _array=self.shard.array.copy())
        shard.global_phase = self.shard.global_phase
        return DistributedState(self.rt, self.n_qubits, self.ex, _shard=shard, _layout=self.layout.copy())

    @collective
    def same_as(self, other: "DistributedState", atol: float = 1e-12) -> bool:
        """True on every rank iff the two states agree to ``atol`` everywhere (``other``'s layout is
        changed to ours first; the logical state is unchanged)."""
        other._set_layout(list(self.layout.pos))
        self._flush_phase()
        other._flush_phase()
        source = int(other.layout.rank_of_prefix[self.prefix])  # holds our block in `other`
        dest = int(self.layout.rank_of_prefix[other.prefix])  # needs our `other` block
        ok = True
        for start, piece in self.ex.permuted_pieces(other.shard.array, source, dest):
            if ok:
                mine = self.shard.array[start:start + piece.shape[0]]
                ok = bool(np.allclose(mine, piece, rtol=0, atol=atol))
        flag = np.array([1 if ok else 0], dtype=np.int64)
        self.comm.Allreduce(MPI.IN_PLACE, flag, op=MPI.MIN)
        return bool(flag[0])

    # ----------------------------------------------------------------- reading
    @collective
    def norm_squared(self) -> float:
        return self._sum(self.shard.norm_squared())

    @collective
    def probabilities(self, qubits=None) -> np.ndarray:
        """Marginal over ``qubits`` (first = most significant), on every rank: local marginal over
        the local ones placed at this rank's values of the global ones, then Allreduce."""
        qubits = list(range(self.n_qubits)) if qubits is None else list(qubits)
        k = len(qubits)
        if k > 24:
            agree_fits(self.comm, k, np.float64, share=self.rt.ranks_on_host, what="probability vector")
        lay = self.layout
        loc = [(j, q) for j, q in enumerate(qubits) if not lay.is_global(q)]
        part = self.shard.probabilities([self.L - 1 - lay.pos[q] for _, q in loc])
        high = 0
        for j, q in enumerate(qubits):
            if lay.is_global(q):
                high |= self._pbit(q) << (k - 1 - j)
        out = np.zeros(1 << k)
        # scatter the local marginal into place a piece at a time (no index array of the shard's size)
        for lo in range(0, part.shape[0], _SCATTER_PIECE):
            a = np.arange(lo, min(lo + _SCATTER_PIECE, part.shape[0]), dtype=np.int64)
            idx = np.full_like(a, high)
            for t, (j, _) in enumerate(loc):
                idx |= ((a >> (len(loc) - 1 - t)) & 1) << (k - 1 - j)
            out[idx] = part[lo:lo + a.shape[0]]
        return self._sum_array(out)

    def _needs_local_for(self, observable, targets, squared):
        out = []
        pos = 0
        for f in observable.factors:
            qs = list(targets[pos:pos + f.qubit_count])
            pos += f.qubit_count
            if f.name in ("i", "z") or (squared and f.name in ("x", "y")):
                continue
            out += qs
        return out

    @collective
    def expectation(self, observable, targets, squared: bool = False) -> float:
        """Global Z factors give a rank sign; x, y, h and Hermitian factors on global qubits are
        swapped into the shard first (or, if the shard is too small, the state is replicated)."""
        targets = list(targets)
        need = self._needs_local_for(observable, targets, squared)
        if not self._make_local(need, set(targets)):
            return self._replicated().expectation(observable, targets, squared)
        lay = self.layout
        low = (1 << self.L) - 1
        total = 0.0
        for coeff, xmask, zmask, yphase, dense_bits, dense in observable_terms(observable, targets,
                                                                               lambda q: lay.pos[q], squared):
            if xmask >> self.L or any(b >= self.L for b in dense_bits):
                raise InternalError("observable factor left on a global qubit")
            sign = -1.0 if bin(self.prefix & (zmask >> self.L)).count("1") % 2 else 1.0
            s = KM.expectation_sum(self.shard.array, np.int64(xmask), np.int64(zmask & low), complex(yphase),
                                   dense.astype(np.complex128), _offsets(dense_bits), _fixed(dense_bits))
            total += coeff * sign * s.real
        return self._sum(total)

    @collective
    def amplitude(self, index: int) -> complex:
        phys = self.layout.physical_index(int(index))
        owner = int(self.layout.rank_of_prefix[phys >> self.L])
        buf = np.zeros(1, dtype=np.complex128)
        if self.rank == owner:
            buf[0] = complex(self.shard.array[phys & ((1 << self.L) - 1)]) * self.shard.global_phase
        self.comm.Bcast(buf, root=owner)
        return complex(buf[0])

    @collective
    def state_vector(self):
        """The full vector (in the state's precision, program order) on rank 0; None on the other
        ranks.  Rank 0 holds its shard and the gathered vector: (1 + 2^g) shards at its peak."""
        agree_fits(self.comm, self.n_qubits, self.dtype, what="gathered state vector", ranks=(0,))
        self._canonical()
        self._flush_phase()
        out = np.empty(1 << self.n_qubits, dtype=self.dtype) if self.rank == 0 else None
        self.ex.gather_blocks(self.shard.array, self.layout.prefix_of_rank, out, root=0)
        return out

    @collective
    def density_matrix(self, qubits) -> np.ndarray:
        qubits = list(qubits)
        if not self._make_local(qubits, set(qubits)):
            return self._replicated().density_matrix(qubits)
        out = self.shard.density_matrix([self.L - 1 - self.layout.pos[q] for q in qubits])
        return self._sum_array(out)

    def _replicated(self) -> StateVector:
        """The whole state on every rank (Allgatherv): only for small states whose reads need more
        qubits in one place than a shard has."""
        agree_fits(self.comm, self.n_qubits, self.dtype, share=self.rt.ranks_on_host,
                   what="replicated copy of the state (for a read on many qubits)")
        self._canonical()
        self._flush_phase()
        n = 1 << self.L
        full = np.empty(n << self.g, dtype=self.dtype)
        counts = [n] * self.size
        displs = [int(p) * n for p in self.layout.prefix_of_rank]
        self.comm.Allgatherv(self.shard.array, [full, counts, displs, _mpi_type(self.dtype)])
        self.ex.bytes_sent += self.shard.array.nbytes * (self.size - 1)
        return StateVector(self.n_qubits, self.precision, _array=full)

    @collective
    def sample(self, shots: int, rng: np.random.Generator) -> np.ndarray:
        """Exactly what ``StateVector.sample`` returns for the same rng, on every rank: the same
        sorted draws, the same chunks (each within one rank), the same inverse CDF; each rank
        answers the draws that fall in its blocks, then Allgatherv."""
        nchunks = sampling.chunk_count(1 << self.n_qubits)
        if nchunks < self.size:
            return self._replicated().sample(shots, rng)
        draws = sampling.sorted_draws(rng, shots)
        self._canonical()
        per = nchunks // self.size
        weights_mine = KM.chunk_weights(self.shard.array, per)
        gathered = np.empty(per * self.size)
        self.comm.Allgather(weights_mine, gathered)
        weights = np.empty(nchunks)
        for r, p in enumerate(self.layout.prefix_of_rank):
            weights[int(p) * per:(int(p) + 1) * per] = gathered[r * per:(r + 1) * per]
        # the same arithmetic as StateVector.sample, on the same chunk weights in the same order
        starts, total = sampling.cdf_starts(weights)
        scaled = draws * total
        p = self.prefix
        c0 = p * per
        lo = 0 if p == 0 else int(np.searchsorted(scaled, starts[c0], side="left"))
        hi = shots if p == self.size - 1 else int(np.searchsorted(scaled, starts[c0 + per], side="left"))
        mine = np.empty(hi - lo, dtype=np.int64)
        KM.sample_sorted(self.shard.array, weights_mine, np.ascontiguousarray(starts[c0:c0 + per]),
                         np.ascontiguousarray(scaled[lo:hi]), mine)
        mine += p << self.L
        bounds = np.empty(2 * self.size, dtype=np.int64)
        self.comm.Allgather(np.array([lo, hi], dtype=np.int64), bounds)
        counts = [int(bounds[2 * r + 1] - bounds[2 * r]) for r in range(self.size)]
        displs = [int(bounds[2 * r]) for r in range(self.size)]
        out = np.empty(shots, dtype=np.int64)
        self.comm.Allgatherv(mine, [out, counts, displs, MPI.INT64_T])
        return out

    @collective
    def rotate_for_sampling(self, unitaries) -> None:
        self.apply_all(unitaries)

    @collective
    def describe(self) -> dict:
        """Run statistics, reduced over the ranks (collective: every rank calls it)."""
        sent = np.array([self.ex.bytes_sent, self.ex.messages], dtype=np.int64)
        most = sent.copy()
        self.comm.Allreduce(MPI.IN_PLACE, most, op=MPI.MAX)
        self.comm.Allreduce(MPI.IN_PLACE, sent, op=MPI.SUM)
        stats = self.ex.stats()
        stats.pop("bytesSent")
        stats["messages"] = int(most[1])  # the most any rank sent: the same on every rank
        secs = np.array([self.ex.seconds])
        self.comm.Allreduce(MPI.IN_PLACE, secs, op=MPI.MAX)
        stats["exchangeSeconds"] = round(float(secs[0]), 6)
        return {"ranks": self.size, "qubits": self.n_qubits, "localQubits": self.L, "globalQubits": self.g,
                "precision": self.precision, "distributed": True, "replicated": False,
                "bytesSentPerRank": int(most[0]), "bytesSentTotal": int(sent[0]), **stats,
                "exchangeBufferAllocatedBytes": self.ex.allocated_bytes()}
