"""The per-communicator settings of a distributed run: rank count, threads, seed, state factory.

Called by ``qsim.device`` (``DistributedRuntime(comm, precision)``, ``agree_on_seed``,
``state_factory``, ``metadata``) and ``qsim.cli`` (``describe`` for ``python -m qsim info``).
Constructing it is collective: every rank of ``comm`` must do it.
"""

from __future__ import annotations

import os

import numba
import numpy as np

from qsim.distributed.exchange import Exchanger, buffer_bytes_for
from qsim.distributed.spmd import FAULT_ENV, collective, symmetric
from qsim.distributed.state import DistributedState, agree_fits
from qsim.errors import QsimError, ResourceError, ValidationError
from qsim.state.memory import dtype_for
from qsim.state.statevector import StateVector

MIN_DISTRIBUTED_ENV = "QSIM_MIN_DISTRIBUTED_QUBITS"
THREADS_ENV = "QSIM_NUM_THREADS"
DEFAULT_MIN_DISTRIBUTED_QUBITS = 20
MIN_LOCAL_QUBITS = 2


class RankCountError(QsimError):
    """The job was started with a number of ranks the state cannot be split over."""


def _env_int(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"environment variable {name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ValidationError(f"environment variable {name}={value} must be at least {minimum}")
    return value


class ReplicatedState(StateVector):
    """A whole ``StateVector`` on every rank (a state too small to split): identical updates and
    identical results on every rank, no communication."""

    def __init__(self, n_qubits, precision, ranks, *, _array=None):
        super().__init__(n_qubits, precision, _array=_array)
        self.ranks = ranks

    def copy(self):
        out = ReplicatedState(self.n_qubits, self.precision, self.ranks, _array=self.array.copy())
        out.global_phase = self.global_phase
        return out

    def describe(self) -> dict:
        return {**super().describe(), "ranks": self.ranks, "distributed": False, "replicated": True}


def widest_operation(circuit) -> int:
    """The most qubits one operation of ``circuit`` needs in one shard: the targets of its widest
    gate (controls may stay global) or of its widest multi-qubit observable factor."""
    if circuit is None:
        return 0
    widest = 0

    def walk(instructions):
        nonlocal widest
        for op in instructions:
            if hasattr(op, "then_ops"):
                walk(op.then_ops)
                walk(op.else_ops)
            elif hasattr(op, "exponents"):
                widest = max(widest, len(op.targets))
    walk(getattr(circuit, "instructions", ()))
    for r in getattr(circuit, "result_types", ()):
        for f in getattr(getattr(r, "observable", None), "factors", ()):
            widest = max(widest, f.qubit_count)
    return widest


class _StateFactory:
    """``make_state(n)`` for one run: every state and copy of the run shares one ``Exchanger``.
    A state whose shards would be narrower than the run's widest operation is replicated."""

    def __init__(self, runtime, circuit=None):
        self.rt = runtime
        self.comm = runtime.comm
        self.widest = widest_operation(circuit)

    @collective
    def __call__(self, n_qubits: int):
        rt = self.rt
        fault = os.environ.get(FAULT_ENV)
        if fault is not None and fault.strip() == str(rt.rank):
            raise ResourceError(f"fault injected on rank {rt.rank} by {FAULT_ENV} (a test of the abort path)")
        local, distributed = rt.split(n_qubits, self.widest)
        if not distributed:
            agree_fits(self.comm, n_qubits, rt.dtype, share=rt.ranks_on_host,
                       what="state vector (replicated on every rank)")
            return ReplicatedState(n_qubits, rt.precision, rt.size)
        shard_bytes = (1 << local) * rt.dtype.itemsize
        buffer_amps = buffer_bytes_for(shard_bytes) // rt.dtype.itemsize
        agree_fits(self.comm, local, rt.dtype, share=rt.ranks_on_host, amplitudes=(1 << local) + buffer_amps,
                   what=f"shard of a {n_qubits}-qubit state plus its exchange buffer")
        return DistributedState(rt, n_qubits, Exchanger(self.comm, rt.dtype, local))


class DistributedRuntime:
    """Settings shared by every run on ``comm``.

    Raises:
        RankCountError: on every rank alike, if the rank count is not a power of two.
        ValidationError: if ``QSIM_NUM_THREADS`` or ``QSIM_MIN_DISTRIBUTED_QUBITS`` is malformed.
    """

    def __init__(self, comm, precision: str = "double", *, fusion: bool = True):
        size = comm.Get_size()
        if size < 1 or size & (size - 1):
            lower = 1 << (size.bit_length() - 1)
            raise symmetric(RankCountError(
                f"the state vector is split over a power-of-two number of MPI ranks, but this job has "
                f"{size} ranks; run with mpirun -n {lower} or -n {lower * 2}"))
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = size
        self.global_qubits = size.bit_length() - 1
        self.precision = precision
        self.fusion = fusion  # fuse gates on local qubits into 4x4 blocks (DistributedState.apply_all)
        self.dtype = dtype_for(precision)
        self.ranks_on_host = self._ranks_on_host()
        self.min_distributed_qubits = _env_int(MIN_DISTRIBUTED_ENV, DEFAULT_MIN_DISTRIBUTED_QUBITS, 0)
        self.threads = self._set_threads()

    def _ranks_on_host(self) -> int:
        from mpi4py import MPI

        shared = self.comm.Split_type(MPI.COMM_TYPE_SHARED)
        try:
            return shared.Get_size()
        finally:
            shared.Free()

    def _set_threads(self) -> int:
        """(cores of this host) / (ranks on this host), at least 1; ``QSIM_NUM_THREADS`` overrides.
        Capped by the thread pool Numba started with (``NUMBA_NUM_THREADS``)."""
        want = _env_int(THREADS_ENV, max(1, (os.cpu_count() or 1) // self.ranks_on_host), 1)
        threads = max(1, min(want, numba.config.NUMBA_NUM_THREADS))
        numba.set_num_threads(threads)
        return threads

    # ------------------------------------------------------------------ what device.py calls
    def agree_on_seed(self, seed):
        """Rank 0's seed on every rank; if rank 0 has none, it draws one."""
        if self.rank == 0 and seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        return self.comm.bcast(seed if self.rank == 0 else None, root=0)

    def split(self, n_qubits: int, widest: int = 0):
        """(local qubits per rank, whether an ``n_qubits`` state is split rather than replicated).
        Replicated: fewer than ``MIN_LOCAL_QUBITS`` local qubits, or fewer than the ``widest``
        operation needs in one shard, or fewer than ``QSIM_MIN_DISTRIBUTED_QUBITS`` qubits."""
        local = n_qubits - self.global_qubits
        return local, (local >= max(MIN_LOCAL_QUBITS, widest) and n_qubits >= self.min_distributed_qubits)

    def state_factory(self, circuit=None):
        return _StateFactory(self, circuit)

    def metadata(self) -> dict:
        return {"ranks": self.size, "ranksPerHost": self.ranks_on_host, "threadsPerRank": self.threads}

    def describe(self, qubits: int | None = None) -> dict:
        """For ``python -m qsim info``: ranks, threads and, for ``qubits``, the split."""
        out = {"ranks": self.size, "ranksPerHost": self.ranks_on_host, "threadsPerRank": self.threads,
               "globalQubits": self.global_qubits, "minDistributedQubits": self.min_distributed_qubits}
        if qubits is not None:
            local, distributed = self.split(qubits)
            out.update({"qubits": qubits, "distributed": distributed, "replicated": not distributed,
                        "localQubits": local if distributed else qubits,
                        "shardBytes": ((1 << local) if distributed else (1 << qubits)) * self.dtype.itemsize,
                        "exchangeBufferBytes": buffer_bytes_for((1 << local) * self.dtype.itemsize)
                        if distributed else 0})
            if not distributed:
                out["globalQubits"] = 0
        return out
