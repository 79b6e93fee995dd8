"""QAOA for MaxCut on a small graph, as a Braket-style hybrid job on qsim's embedded simulator.

Entry point ``qaoa_maxcut:main``: the hyperparameters are bound to ``main``'s keyword arguments
(cast to their annotations). Every rank runs this same loop (SPMD); under ``instanceCount: 2`` the
device shards one state vector over both ranks and every rank gets the same values. Rank 0 alone
logs metrics and writes checkpoints and results (``jobs.runtime.persistence`` does that by default).

The optimiser is plain gradient ascent on the expected cut. Each iteration is one device call: the
``adjoint_gradient`` result type returns the expectation of the cost Hamiltonian and its gradient
with respect to every angle (the adjoint method: one forward pass and one backward sweep, exact at
shots=0), where finite differences would need 2P + 1 runs for P angles. A checkpoint is written every iteration; a job created with the same
checkpoint location resumes from the last one (a finished run's checkpoint starts a fresh run).
"""

from __future__ import annotations

import itertools
import json
import os

import numpy as np

import qsim
from jobs import (get_device, get_input_data_dir, get_job_name, load_job_checkpoint, log_metric,
                  save_job_checkpoint, save_job_result)
from qsim import Circuit, FreeParameter, observables as obs


def load_graph() -> tuple[int, list[tuple[int, int]]]:
    with open(os.path.join(get_input_data_dir("graph"), "graph.json")) as f:
        g = json.load(f)
    return g["nodes"], [tuple(e) for e in g["edges"]]


def qaoa_circuit(n: int, edges, layers: int) -> tuple[Circuit, list[str]]:
    """The QAOA ansatz with the gradient of H = sum over edges of -Z_i Z_j / 2 requested: the
    expected cut is len(edges) / 2 + <H>."""
    c = Circuit()
    for q in range(n):
        c.h(q)
    names = []
    for layer in range(layers):
        gamma, beta = FreeParameter(f"gamma_{layer}"), FreeParameter(f"beta_{layer}")
        names += [gamma.name, beta.name]
        for i, j in edges:  # exp(-i gamma Z_i Z_j)
            c.cnot(i, j).rz(j, 2 * gamma).cnot(i, j)
        for q in range(n):
            c.rx(q, 2 * beta)
    c.adjoint_gradient([(-0.5, obs.Z() @ obs.Z(), [i, j]) for i, j in edges], parameters=names)
    return c, names


def cut_and_gradient(dev, circuit, names, edges, theta) -> tuple[float, np.ndarray]:
    """The expected cut and its gradient with respect to ``theta`` (in the order of ``names``)."""
    value = dev.run(circuit, shots=0, inputs=dict(zip(names, map(float, theta)))).result().values[0]
    return 0.5 * len(edges) + value["expectation"], np.array([value["gradient"][k] for k in names])


def best_cut(n: int, edges) -> int:
    return max(sum(bits[i] != bits[j] for i, j in edges) for bits in itertools.product((0, 1), repeat=n))


def main(layers: int = 2, iterations: int = 25, learning_rate: float = 0.02, seed: int = 7):
    dev = get_device()
    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", "0"))
    n, edges = load_graph()
    circuit, names = qaoa_circuit(n, edges, layers)

    start, theta = 0, np.random.default_rng(seed).uniform(0.0, 0.5, len(names))  # same on every rank
    try:
        ckpt = load_job_checkpoint(get_job_name())
        if ckpt["iteration"] < iterations:
            start, theta = ckpt["iteration"], np.array(ckpt["theta"])
            print(f"resuming from checkpoint at iteration {start}")
    except FileNotFoundError:
        pass

    for it in range(start, iterations):
        cut, grad = cut_and_gradient(dev, circuit, names, edges, theta)
        theta = theta + learning_rate * grad
        if rank == 0:
            log_metric("expected_cut", cut, iteration_number=it)
        save_job_checkpoint({"iteration": it + 1, "theta": theta.tolist()})

    final, _ = cut_and_gradient(dev, circuit, names, edges, theta)
    optimum = best_cut(n, edges)
    if rank == 0:
        print(f"expected cut {final:.4f} of the best {optimum} (ratio {final / optimum:.3f}); "
              f"{qsim.__name__} on {dev.arn}")
    save_job_result({"expected_cut": final, "best_cut": optimum, "approximation_ratio": final / optimum,
                     "theta": theta.tolist(), "parameter_names": names, "iterations": iterations})
