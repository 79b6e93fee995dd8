"""A variational loop on qsim's Python API: minimise <H> of a transverse-field Ising chain.

Runs as one process (`python examples/python/vqe_spmd.py`) or SPMD under MPI
(`mpirun -n 2 python examples/python/vqe_spmd.py`): every rank runs this same script, the device
shards one state vector over the ranks, every rank gets the same expectation values, and only
rank 0 prints.  Each step is one device call: the ``adjoint_gradient`` result type returns <H> and
its gradient with respect to every angle (the adjoint method, exact at shots=0), where the
parameter-shift rule would need 2P + 1 runs for P angles.
"""

from __future__ import annotations

import argparse

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


def energy_and_gradient(dev, circuit, names, values):
    """<H> and d<H>/d(names), in one run of ``circuit`` (which requests their adjoint_gradient; the
    device compiles it once and only rebinds the angles on later calls)."""
    value = dev.run(circuit, shots=0, inputs=dict(zip(names, map(float, values)))).result().values[0]
    return value["expectation"], np.array([value["gradient"][k] for k in names])


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
    circuit.adjoint_gradient(terms, parameters=names)
    rng = np.random.default_rng(7)  # the same on every rank: SPMD
    theta = rng.uniform(-0.1, 0.1, len(names))
    lr = 0.2
    for step in range(args.steps):
        e, grad = energy_and_gradient(dev, circuit, names, theta)
        theta -= lr * grad
        if rank == 0:
            print(f"step {step:3d}  energy {e:+.6f}")
    final, _ = energy_and_gradient(dev, circuit, names, theta)  # every rank runs it (SPMD)
    if rank == 0:
        print(f"final energy {final:+.6f}")


if __name__ == "__main__":
    main()
