"""VQE for a transverse-field Ising chain, written as Braket's embedded-simulator job examples are.

The script picks its simulator from the job's device string, ``local:<provider>/<name>``, exactly as
Braket's examples do (``qml.device(device_string.split("/")[1], wires=n)``), so the same file runs
with ``local:pennylane/lightning.qubit`` on Braket and ``local:qsim/qsim.qubit`` on qsim. It uses the
Braket SDK's ``save_job_result`` and ``log_metric`` (the runtime contract: results directory and
metrics lines) and nothing from qsim.

Under ``instanceCount: 2`` every rank runs this same loop (SPMD) and qsim.qubit shards one state
vector over the ranks; the initial parameters come from a fixed seed so that every rank starts from
the same point. Only rank 0 logs metrics and saves the result.
"""

import json
import os

import pennylane as qml
from braket.jobs import save_job_result
from braket.jobs.metrics import log_metric
from pennylane import numpy as np


def ising_hamiltonian(n, h=1.0):
    coeffs = [-1.0] * (n - 1) + [-h] * n
    terms = [qml.Z(i) @ qml.Z(i + 1) for i in range(n - 1)] + [qml.X(i) for i in range(n)]
    return qml.Hamiltonian(coeffs, terms)


def main():
    with open(os.environ["AMZN_BRAKET_HP_FILE"]) as f:
        hyperparameters = json.load(f)
    n_qubits = int(hyperparameters.get("n_qubits", "4"))
    layers = int(hyperparameters.get("layers", "1"))
    steps = int(hyperparameters.get("steps", "3"))
    stepsize = float(hyperparameters.get("stepsize", "0.2"))
    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("PMI_RANK", "0")))

    device_string = os.environ["AMZN_BRAKET_DEVICE_ARN"]
    prefix, device_name = device_string.split("/")[0], device_string.split("/")[1]
    if prefix != "local:qsim" and not prefix.startswith("local"):
        raise ValueError(f"this example runs on an embedded simulator, not {device_string}")
    dev = qml.device(device_name, wires=n_qubits)
    hamiltonian = ising_hamiltonian(n_qubits)

    @qml.qnode(dev)
    def energy(params):
        for layer in range(layers):
            for q in range(n_qubits):
                qml.RY(params[layer, q], wires=q)
            for q in range(n_qubits - 1):
                qml.CNOT(wires=[q, q + 1])
        return qml.expval(hamiltonian)

    params = np.array(np.random.default_rng(1234).uniform(0, np.pi, size=(layers, n_qubits)), requires_grad=True)
    opt = qml.GradientDescentOptimizer(stepsize=stepsize)
    history = []
    for step in range(steps):
        params, value = opt.step_and_cost(energy, params)
        history.append(float(value))
        if rank == 0:
            log_metric(metric_name="energy", value=float(value), iteration_number=step)
    final = float(energy(params))
    if rank == 0:
        save_job_result({"energy": final, "history": history, "params": params.tolist(),
                         "device": device_string, "n_qubits": n_qubits,
                         "qsim": getattr(dev, "last_run_metadata", {})})
