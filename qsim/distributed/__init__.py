"""One state vector sharded over MPI ranks (``mpirun -n N``, N a power of two).

Layers (each calls only the ones below it)::

    runtime.DistributedRuntime   per communicator: rank count check, threads, seed, state factory
    state.DistributedState       the StateVector interface, globally; decides what each gate needs
      plan                       classify gates, look-ahead choice of qubits to swap   (no MPI)
      layout.Layout              which qubit is on which bit, which rank holds which block (no MPI)
      exchange.Exchanger         every MPI call that moves amplitudes; bounded buffer
    qsim.state.apply / qsim.kernels   the single-process code, run on each rank's shard (no MPI)

SPMD rules (see README.md in this directory for the user-facing version):

* Every rank parses and runs the same program with the same shots, inputs and options.  Seeds
  agree: rank 0's seed is broadcast (rank 0 draws one if none was given), so samples are the same
  on every rank and the same for any N, including a single process.
* Results available on every rank: probabilities and marginals, expectation values, variances,
  samples and measurement counts, amplitudes, density matrices, and the run metadata.
* On rank 0 only: the full state vector (``state_vector`` result type), gathered after checking it
  fits; the other ranks get ``None`` in its place.  Only rank 0 prints (the CLI does this).
* A state with fewer local qubits per rank than its widest gate needs (at least 2), or fewer than
  ``QSIM_MIN_DISTRIBUTED_QUBITS`` qubits (default 20), is replicated: every rank simulates it
  whole (metadata ``"replicated": True``).
* Errors: a rank count that is not a power of two raises ``RankCountError`` on every rank.  Errors
  decided from shared data are raised on every rank alike and reported once (``spmd.settle``);
  an error on one rank only (memory, a bug) prints one line from that rank and aborts the whole
  job (``MPI_Abort``) if the others cannot come to agree, never a hang.
* Threads: each rank uses (cores of its host / ranks on its host) Numba threads, at least 1;
  ``QSIM_NUM_THREADS`` overrides.
"""

__all__ = ["DistributedRuntime", "DistributedState", "RankCountError", "ReplicatedState"]


def __getattr__(name):
    # Lazy: importing a light submodule (``qsim.distributed.spmd``, used by the CLI in a single
    # process too) must not import mpi4py, which initialises MPI.
    if name in ("DistributedRuntime", "RankCountError", "ReplicatedState"):
        from qsim.distributed import runtime

        return getattr(runtime, name)
    if name == "DistributedState":
        from qsim.distributed.state import DistributedState

        return DistributedState
    raise AttributeError(f"module 'qsim.distributed' has no attribute {name!r}")
