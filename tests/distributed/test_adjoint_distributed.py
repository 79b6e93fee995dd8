"""Adjoint gradients on the distributed state: the same values as the single-process state and as
the dense oracle, on whatever rank count this runs under (1 in the normal run, 2 and 4 through
``tests/test_mpi.py``).  Inner products are reduced over the ranks; the state is never gathered."""

from __future__ import annotations

import numpy as np
import pytest

from adjoint_cases import NAMES, oracle_gradient, random_circuit, random_terms
from qsim.state.executor import execute
from qsim.state.statevector import StateVector


@pytest.mark.parametrize("seed", range(3))
def test_adjoint_gradient_distributed_equals_single_and_oracle(runtime, seed):
    rng = np.random.default_rng(1000 + seed)
    n = 5
    c = random_circuit(rng, n, 12)
    terms = random_terms(rng, n)
    values = {p: float(rng.uniform(-np.pi, np.pi)) for p in NAMES}
    c.adjoint_gradient(terms)
    bound = c.bind(values)
    result = execute(bound, 0, runtime.state_factory(bound), absorb_into_two_qubit=False,
                     extra_metadata=runtime.metadata())
    meta = result.to_dict()["additionalMetadata"]["qsimMetadata"]
    assert meta["distributed"] and meta["ranks"] == runtime.size  # one rank: a 0-global-qubit shard
    dist = result.values[0]
    single = execute(bound, 0, lambda k: StateVector(k)).values[0]
    assert abs(dist["expectation"] - single["expectation"]) < 1e-11
    assert dist["gradient"].keys() == single["gradient"].keys()
    for p in single["gradient"]:
        assert abs(dist["gradient"][p] - single["gradient"][p]) < 1e-10, p
    if seed == 0:
        ref = oracle_gradient(c, values, terms, list(single["gradient"]))
        for p, g in dist["gradient"].items():
            assert abs(g - ref[p]) < 1e-7, (p, g, ref[p])


@pytest.mark.parametrize("precision", ["double", "single"])
def test_rotation_layers_with_a_cnot_ladder_and_z_sums(runtime, precision):
    """The fast paths of the sweep on shards (a run of one-qubit gates in one pass with its sums
    reduced once at the end, cnots undone on both states, a sum of Z products in one pass), on
    local and global qubits alike: equal to the single-process sweep (which tests/test_adjoint.py
    checks against the oracle)."""
    from qsim import Circuit, FreeParameter
    from qsim.circuit import observables as obs
    from qsim.distributed import DistributedRuntime

    if precision != "double":
        runtime = DistributedRuntime(runtime.comm, precision)
    rng = np.random.default_rng(77)
    n = 5
    c = Circuit()
    names = []
    for layer in range(2):
        for q in range(n):
            a, b = FreeParameter(f"a{layer}{q}"), FreeParameter(f"b{layer}{q}")
            names += [a.name, b.name]
            c.ry(q, a).rz(q, b if q % 2 else 0.5 * b + a)
        for q in range(n - 1):
            c.cnot(q, q + 1) if layer == 0 else c.cnot(q + 1, q)
        c.cz(0, n - 1)
    terms = [(1.0, obs.Z(), [q]) for q in range(n)] + [(-0.7, obs.Z() @ obs.Z(), [0, n - 1])]
    c.adjoint_gradient(terms)
    values = {p: float(rng.uniform(-np.pi, np.pi)) for p in names}
    bound = c.bind(values)
    dist = execute(bound, 0, runtime.state_factory(bound), absorb_into_two_qubit=False,
                   extra_metadata=runtime.metadata()).values[0]
    single = execute(bound, 0, lambda k: StateVector(k, precision)).values[0]
    tol = 1e-10 if precision == "double" else 1e-4
    assert abs(dist["expectation"] - single["expectation"]) < tol
    for p in names:
        assert abs(dist["gradient"][p] - single["gradient"][p]) < tol, p
