"""Devices by ARN: the front door of the simulator.

    dev = qsim.device("local:qsim/statevector")
    result = dev.run(openqasm_source_or_circuit, shots=0, inputs={"theta": 0.3}).result()
    result.values, result.measurement_counts, result.to_dict()

Under ``mpirun -n N`` (N > 1) the device shards one state vector over all ranks of
``MPI.COMM_WORLD`` (or the ``comm`` you pass); every rank must call ``run`` with the same program,
shots and inputs (SPMD), and gets the same result.  See ``qsim.distributed`` for what is global.
"""

from __future__ import annotations

import sys
import types
import uuid

import numpy as np

from qsim.circuit import Circuit
from qsim.errors import ValidationError
from qsim.launch import launched_under_mpi  # noqa: F401  (re-exported: qsim.device.launched_under_mpi)
from qsim.state.memory import dtype_for

STATEVECTOR_ARN = "local:qsim/statevector"
KNOWN_DEVICES = {STATEVECTOR_ARN: "state-vector simulator (Numba kernels; sharded over MPI ranks under mpirun)"}

def world_comm():
    """``MPI.COMM_WORLD`` if this process runs under mpirun with more than one rank, else None."""
    if not launched_under_mpi():
        return None
    from mpi4py import MPI

    return MPI.COMM_WORLD if MPI.COMM_WORLD.Get_size() > 1 else None


class Task:
    """A finished local task (runs are synchronous); ``result()`` returns its ``Result``."""

    def __init__(self, result):
        self.id = result.task_metadata.get("id", str(uuid.uuid4()))
        self._result = result

    def result(self):
        return self._result

    def state(self) -> str:
        return "COMPLETED"


class StateVectorDevice:
    """qsim's state-vector simulator.

    Args:
        precision: 'double' (complex128, default) or 'single' (complex64).
        seed: default seed for sampling; a run's own ``seed=`` overrides it.
        comm: an mpi4py communicator to shard over; default: COMM_WORLD when launched under mpirun.
        fusion: merge gates into fewer, larger unitaries (exact up to rounding).
    """

    arn = STATEVECTOR_ARN

    def __init__(self, *, precision: str = "double", seed: int | None = None, comm=None, fusion: bool = True):
        dtype_for(precision)
        self.precision = precision
        self.seed = seed
        self.fusion = fusion
        self.comm = comm if comm is not None else world_comm()
        self._factory = None
        if self.comm is not None and self.comm.Get_size() > 1:
            from qsim.distributed import DistributedRuntime

            self._factory = DistributedRuntime(self.comm, precision, fusion=fusion)

    @property
    def name(self) -> str:
        return "qsim statevector"

    @property
    def properties(self) -> dict:
        from qsim.circuit.gates import GATES
        from qsim.state.memory import max_qubits

        ranks = 1 if self.comm is None else self.comm.Get_size()
        return {
            "deviceArn": self.arn,
            "precision": self.precision,
            "ranks": ranks,
            "qubitCount": max_qubits(dtype_for(self.precision)) + (ranks.bit_length() - 1),
            "supportedOperations": sorted(set(GATES) | {"unitary"}),
            "supportedModifiers": ["ctrl", "negctrl", "pow", "inv"],
            "supportedResultTypes": ["expectation", "variance", "probability", "sample", "statevector",
                                     "densitymatrix", "amplitude", "adjoint_gradient"],
            "shotsRange": [0, 2 ** 63 - 1],
        }

    def to_circuit(self, program, inputs=None) -> Circuit:
        """An OpenQASM string or a Circuit, with ``inputs`` bound."""
        if isinstance(program, Circuit):
            return program.bind(inputs)
        source = program if isinstance(program, str) else getattr(program, "source", None)
        if isinstance(source, str):  # a braket.ir.openqasm.Program (or alike): its inputs, then ours
            from qsim import qasm

            if not isinstance(program, str):
                inputs = {**(getattr(program, "inputs", None) or {}), **(inputs or {})}
            if "adjoint_gradient" in source:
                # the gradient is taken through the gate angles' expressions of the inputs
                return qasm.parse(source, inputs or {}, symbolic_inputs=True).bind(inputs or {})
            return qasm.parse(source, inputs or {})
        raise ValidationError(f"a program must be an OpenQASM 3 string, a qsim.Circuit or an object with an OpenQASM "
                              f"`source` (braket.ir.openqasm.Program), got {type(program).__name__}")

    def run(self, program, shots: int = 0, inputs: dict | None = None, *, seed: int | None = None) -> Task:
        """Run ``program`` and return a finished task."""
        from qsim.state.executor import execute

        circuit = self.to_circuit(program, inputs)
        seed = self.seed if seed is None else seed
        if self._factory is not None:
            seed = self._factory.agree_on_seed(seed)
            make_state, extra = self._factory.state_factory(circuit), self._factory.metadata()
            fusion_kwargs = dict(absorb_into_two_qubit=False)
        else:
            if seed is None and shots:
                seed = int(np.random.SeedSequence().generate_state(1)[0])
            from qsim.state.statevector import StateVector

            make_state, extra = (lambda n: StateVector(n, self.precision)), {}
            fusion_kwargs = {}
        result = execute(circuit, shots, make_state, seed=seed, fusion=self.fusion, device_id=self.arn,
                         extra_metadata=extra, **fusion_kwargs)
        return Task(result)


def get_device(arn: str = STATEVECTOR_ARN, **options):
    if arn not in KNOWN_DEVICES:
        known = ", ".join(f"'{k}'" for k in KNOWN_DEVICES)
        raise ValidationError(f"unknown device ARN {arn!r}; known devices: {known}")
    return StateVectorDevice(**options)


class _CallableModule(types.ModuleType):
    """``qsim.device`` is both this module and the function ``qsim.device(arn, **options)``."""

    def __call__(self, arn: str = STATEVECTOR_ARN, **options):
        return get_device(arn, **options)


sys.modules[__name__].__class__ = _CallableModule
