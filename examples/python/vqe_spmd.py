"""A variational loop on qsim's Python API: minimise <H> of a transverse-field Ising chain.

Runs as one process (`python examples/python/vqe_spmd.py`) or SPMD under MPI
(`mpirun -n 2 python examples/python/vqe_spmd.py`): every rank runs this same script, the device
shards one state vector over the ranks, every rank gets the same expectation values, and only
rank 0 prints.  Gradients use the parameter-shift rule (exact for rx/ry/rz rotations).
"""

from __future__ import annotations

import argparse
import math

import numpy as np

import qsim
from qsim import Circuit, FreeParameter, observables as obs


def ansatz(n: int, layers: int):
    params = []
    c = Circuit()
    for layer in range(layers):
        for q in range(n):
            t = FreeParameter(f"t_{layer}_{q}")
            params.append(t.name)
            c.ry(q, t)
        for q in range(n - 1):
            c.cnot(q, q + 1)
    return c, params


def hamiltonian_terms(n: int, field: float):
    """H = -sum Z_i Z_{i+1} - field * sum X_i, as (coefficient, observable, targets)."""
    terms = [(-1.0, obs.Z() @ obs.Z(), [q, q + 1]) for q in range(n - 1)]
    terms += [(-field, obs.X(), [q]) for q in range(n)]
    return terms


def energy(dev, circuit, names, values, terms):
    # X and ZZ terms cannot share one sampled run, but with shots=0 every term is exact.
    c = Circuit(circuit.instructions)
    for _, o, t in terms:
        c.expectation(o, t)
    result = dev.run(c, shots=0, inputs=dict(zip(names, values))).result()
    return sum(coef * v for (coef, _, _), v in zip(terms, result.values))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--qubits", type=int, default=6)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--field", type=float, default=1.0)
    args = parser.parse_args()
    dev = qsim.device("local:qsim/statevector")
    rank = 0 if dev.comm is None else dev.comm.Get_rank()
    circuit, names = ansatz(args.qubits, args.layers)
    terms = hamiltonian_terms(args.qubits, args.field)
    rng = np.random.default_rng(7)  # the same on every rank: SPMD
    theta = rng.uniform(-0.1, 0.1, len(names))
    lr = 0.2
    for step in range(args.steps):
        e = energy(dev, circuit, names, theta, terms)
        grad = np.zeros_like(theta)
        for i in range(len(theta)):
            shift = np.zeros_like(theta)
            shift[i] = math.pi / 2
            grad[i] = 0.5 * (energy(dev, circuit, names, theta + shift, terms)
                             - energy(dev, circuit, names, theta - shift, terms))
        theta -= lr * grad
        if rank == 0:
            print(f"step {step:3d}  energy {e:+.6f}")
    final = energy(dev, circuit, names, theta, terms)  # every rank runs it (SPMD); rank 0 prints
    if rank == 0:
        print(f"final energy {final:+.6f}")


if __name__ == "__main__":
    main()
