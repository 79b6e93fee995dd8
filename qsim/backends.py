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


class LocalBackend:
    """One process, one ``StateVector``."""

    distributed = False
    ranks = 1

    def __init__(self, precision: str = "double", *, fusion: bool = True):
        dtype_for(precision)
        self.precision = precision
        self.fusion = fusion

    def state_factory(self, circuit=None):
        from qsim.state.statevector import StateVector

        precision = self.precision
        return lambda n: StateVector(n, precision)

    def agree_on_seed(self, seed, shots=1):
        if seed is None and shots:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        return seed

    def fusion_options(self) -> dict:
        return {"fusion": self.fusion, "absorb_into_two_qubit": True}

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
        return {"fusion": self.fusion, "absorb_into_two_qubit": False}

    def metadata(self) -> dict:
        return self.runtime.metadata()


def backend_for(comm=None, precision: str = "double", *, fusion: bool = True):
    if comm is not None and comm.Get_size() > 1:
        return DistributedBackend(comm, precision, fusion=fusion)
    return LocalBackend(precision, fusion=fusion)
