"""A hybrid job in the style of Braket's examples: a small variational loop on the managed simulator.

The device comes from the job (``AMZN_BRAKET_DEVICE_ARN``, here SV1's ARN) and every circuit is a
quantum task created with ``AwsDevice(...).run``. Under qsim's local endpoint (``python -m qsim
serve``) the same script runs unchanged: SV1's ARN is served by qsim, tasks run on this machine.

The loop minimises <Z0 Z1> + <X0> for the ansatz RY(a) on qubit 0, CNOT, RY(b) on qubit 1 with
parameter-shift gradients, logs the energy each iteration and saves the final parameters.
"""

import os

import numpy as np
from braket.aws import AwsDevice
from braket.circuits import Circuit, FreeParameter
from braket.circuits.observables import X, Z
from braket.jobs import get_job_device_arn, get_hyperparameters, save_job_result
from braket.jobs.metrics import log_metric

alpha, beta = FreeParameter("alpha"), FreeParameter("beta")


def ansatz() -> Circuit:
    circuit = Circuit().ry(0, alpha).cnot(0, 1).ry(1, beta)
    circuit.expectation(observable=Z() @ Z(), target=[0, 1])
    circuit.expectation(observable=X(), target=[0])
    return circuit


def energy(device, params, shots) -> float:
    values = device.run(ansatz(), shots=shots, inputs={"alpha": params[0], "beta": params[1]}).result().values
    return float(sum(values))


def main():
    hp = get_hyperparameters()
    iterations, shots, rate = int(hp.get("iterations", "6")), int(hp.get("shots", "0")), float(hp.get("rate", "0.4"))
    device = AwsDevice(os.environ["AMZN_BRAKET_DEVICE_ARN"])
    print(f"Running on {device.name} ({get_job_device_arn()})")
    params = np.array([0.3, -0.2])
    for it in range(iterations):
        grad = np.zeros_like(params)
        for k in range(len(params)):
            shift = np.zeros_like(params)
            shift[k] = np.pi / 2
            grad[k] = (energy(device, params + shift, shots) - energy(device, params - shift, shots)) / 2
        params = params - rate * grad
        e = energy(device, params, shots)
        log_metric(metric_name="energy", value=e, iteration_number=it)
    save_job_result({"params": params.tolist(), "energy": e, "device": device.name})


if __name__ == "__main__":
    main()
