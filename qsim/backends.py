"""The two ways a run gets its state: one process, or one state sharded over MPI ranks.

Both backends have the same small interface, used by ``qsim.device``, the tests, the benchmarks and
the PennyLane device:

* ``make_state`` / ``state_factory(circuit=None)``: ``n -> state`` for the executor;
* ``agree_on_seed(seed, shots)``: the run's seed (every rank gets rank 0's; one is drawn if none is
  given and the run samples);
* ``fusion_options()``: the keyword arguments of ``lower``/``CompiledCircuit`` for this backend (the
  distributed state fuses on local qubits itself, once it knows which qubits are global);
* ``metadata()``: what the run's ``qsimMetadata`` reports about the backend;
* ``ranks``, ``distributed``.

``backend_for(comm, precision, fusion)`` picks one: ``comm`` with more than one rank gives the
distributed backend (constructing it is collective), anything else the single process one.  The
SPMD agreement and abort rules themselves live in ``qsim.distributed.spmd``.
"""

from __future__ import annotations

import numpy as np

from qsim.state.memory import dtype_for


REUSE_MAX_QUBITS = 20  # states of at most 16 MiB (complex128) are kept for the next run


class LocalBackend:
    """One process, one ``StateVector``."""

    distributed = False
    ranks = 1

    def __init__(self, precision: str = "double", *, fusion: bool = True):
        dtype_for(precision)
        self.precision = precision
        self.fusion = fusion
        self._last = None

    def state_factory(self, circuit=None):
        """``n -> |0...0>``.  The state of the previous run is reset and reused when it has the same
        size and is small (a variational loop on a small state would otherwise spend a fifth of a
        call allocating and checking memory); runs are sequential, so it is free by then."""
        from qsim.state.statevector import StateVector

        def make(n):
            last = self._last
            if last is not None and last.n_qubits == n and type(last) is StateVector:
                last.array.fill(0)
                last.array[0] = 1
                last.global_phase = 1.0 + 0.0j
                return last
            state = StateVector(n, self.precision)
            self._last = state if n <= REUSE_MAX_QUBITS else None
            return state

        return make

    def agree_on_seed(self, seed, shots=1):
        if seed is None and shots:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        return seed

    def fusion_options(self) -> dict:
        return {"fusion": self.fusion, "absorb_into_two_qubit": True, "precision": self.precision}

    def metadata(self) -> dict:
        return {}


class DistributedBackend:
    """One state over the ranks of ``comm`` (``qsim.distributed.DistributedRuntime``)."""

    distributed = True

    def __init__(self, comm, precision: str = "double", *, fusion: bool = True):
        from qsim.distributed import DistributedRuntime

        self.runtime = DistributedRuntime(comm, precision, fusion=fusion)
        self.comm = comm
        self.precision = precision
        self.fusion = fusion
        self.ranks = comm.Get_size()

    def state_factory(self, circuit=None):
        return self.runtime.state_factory(circuit)

    def agree_on_seed(self, seed, shots=1):
        return self.runtime.agree_on_seed(seed)

    def fusion_options(self) -> dict:
        return {"fusion": self.fusion, "absorb_into_two_qubit": False, "precision": self.precision}

    def metadata(self) -> dict:
        return self.runtime.metadata()


def backend_for(comm=None, precision: str = "double", *, fusion: bool = True):
    if comm is not None and comm.Get_size() > 1:
        return DistributedBackend(comm, precision, fusion=fusion)
    return LocalBackend(precision, fusion=fusion)
