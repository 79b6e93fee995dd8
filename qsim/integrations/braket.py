"""qsim as a Braket local simulator: ``LocalSimulator("qsim")`` in the Braket SDK.

Registered through the ``braket.simulators`` entry point (see pyproject.toml), so with
``amazon-braket-sdk`` installed a Braket script can say::

    from braket.devices import LocalSimulator
    device = LocalSimulator("qsim")            # or "qsim_sv"
    result = device.run(circuit, shots=100).result()

Under ``mpirun`` the underlying qsim device shards the state across ranks; every rank must run the
same script (SPMD).  This module is the only place qsim imports Braket packages, and nothing in
qsim imports this module.
"""

from __future__ import annotations

from braket.device_schema.simulators import GateModelSimulatorDeviceCapabilities
from braket.ir.openqasm import Program as OpenQASMProgram
from braket.simulator import BraketSimulator
from braket.task_result import GateModelTaskResult

import qsim
from qsim.errors import ValidationError
from qsim.integrations.capabilities import gate_model_capabilities


class QsimBraketSimulator(BraketSimulator):
    """A ``BraketSimulator`` running OpenQASM programs on ``local:qsim/statevector``."""

    DEVICE_ID = "qsim"

    def __init__(self, **device_options):
        self._device = qsim.device("local:qsim/statevector", **device_options)

    def run(self, ir, *args, shots: int = 0, seed: int | None = None, **kwargs) -> GateModelTaskResult:
        if not isinstance(ir, OpenQASMProgram):
            raise ValidationError(f"qsim runs OpenQASM programs (braket.ir.openqasm.Program); got {type(ir).__name__}")
        result = self._device.run(ir.source, shots=shots or 0, inputs=ir.inputs or {}, seed=seed).result()
        payload = result.to_dict(arrays=True)  # no list form of a large value: it is set below
        for entry in payload["resultTypes"]:
            entry["value"] = []
        if "measurements" in payload:
            payload["measurements"] = payload["measurements"].astype(int).tolist()
        payload["taskMetadata"]["deviceId"] = self.DEVICE_ID
        payload["additionalMetadata"] = {"action": ir.dict()}
        task_result = GateModelTaskResult.parse_obj(payload)
        # Values as numpy arrays / complex numbers, as Braket's own local simulators return them
        # (the JSON form has [re, im] pairs, which the SDK does not convert back for local results).
        for entry, value in zip(task_result.resultTypes or [], result.values):
            entry.value = value
        return task_result

    def run_multiple(self, programs, max_parallel=None, *args, **kwargs):
        """Runs one after another in this process: a process pool would fork MPI ranks and
        oversubscribe Numba's threads."""
        return [self.run(p, *args, **kwargs) for p in programs]

    @property
    def properties(self) -> GateModelSimulatorDeviceCapabilities:
        return GateModelSimulatorDeviceCapabilities.parse_obj(gate_model_capabilities(self._device.properties))
