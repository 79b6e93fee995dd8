"""A state too small to shard for its widest gate runs replicated, never an error (issue 10, item 11);
and the SPMD agreement point (``qsim.distributed.spmd``) on 1, 2 and 4 ranks.

Runs in the normal pytest run (one rank) and under ``mpirun -n 2`` / ``-n 4`` (tests/test_mpi.py),
where 4 qubits on 4 ranks leave 2 local qubits per rank: a 3-qubit gate cannot be sharded."""

from __future__ import annotations

import numpy as np
import pytest

from oracle import full_operator, gate_matrix, random_unitary
from qsim.circuit import Circuit
from qsim.distributed import spmd
from qsim.state.executor import execute
from qsim.state.statevector import StateVector


def _meta(result):
    return result.additional_metadata["qsimMetadata"]


def _oracle_state(n, gates):
    psi = np.zeros(1 << n, dtype=complex)
    psi[0] = 1
    for targets, matrix in gates:
        psi = full_operator(n, targets, matrix) @ psi
    return psi


@pytest.mark.parametrize("n", [3, 4, 5])
def test_three_qubit_gate_on_a_small_state_runs(runtime, comm, rng, n):
    u = random_unitary(3, rng)
    h = gate_matrix("h")
    c = Circuit()
    gates = [((q,), h) for q in range(n)]  # every qubit is used (only used qubits are simulated)
    for q in range(n):
        c.h(q)
    c.ccnot(0, n - 1, 1)
    gates.append(((0, n - 1, 1), gate_matrix("ccnot")))
    c.unitary(u, [n - 1, 1, 0])
    gates.append(((n - 1, 1, 0), u))
    c.probability()
    result = execute(c, 0, runtime.state_factory(c), absorb_into_two_qubit=False)
    probs = np.abs(_oracle_state(n, gates)) ** 2
    np.testing.assert_allclose(result.values[0], probs, atol=1e-12)
    local = n - (comm.Get_size().bit_length() - 1)
    m = _meta(result)
    if comm.Get_size() > 1 and local < 3:
        assert m["distributed"] is False and m["replicated"] is True
    elif comm.Get_size() > 1:
        assert m["distributed"] is True


def test_widest_operation_counts_targets_not_controls():
    from qsim.distributed.runtime import widest_operation

    c = Circuit().h(0).x(2, control=[0, 1])
    assert widest_operation(c) == 1  # controls may stay global: one target
    c.ccnot(0, 1, 2)
    assert widest_operation(c) == 3  # its own 8x8 matrix: three targets
    c.unitary(random_unitary(3, np.random.default_rng(1)), [0, 1, 2])
    assert widest_operation(c) == 3
    assert widest_operation(None) == 0


def test_split_replicates_below_the_widest_gate(runtime, comm):
    g = comm.Get_size().bit_length() - 1
    assert runtime.split(g + 2, widest=3)[1] is False
    assert runtime.split(g + 3, widest=3) == (3, True)


def test_settle_agrees_on_one_exit_code(comm, capfd):
    """Every rank fails alike: one message (from rank 0), the same code everywhere; some ranks
    fail: the first one prints, tagged with its rank; nobody failed: 0."""
    agree = spmd.agreement_comm(comm)
    rank, size = comm.Get_rank(), comm.Get_size()
    assert spmd.settle(agree, None, 2) == 0
    assert spmd.settle(agree, "bad program", 2) == 2
    err = capfd.readouterr().err
    assert err.count("qsim: error: bad program") == (1 if rank == 0 else 0)
    code = spmd.settle(agree, "rank-local trouble" if rank == size - 1 else None, 5)
    assert code == 5
    err = capfd.readouterr().err
    if size > 1:
        expected = f"qsim: error: rank {size - 1}: rank-local trouble"
        assert err.count(expected) == (1 if rank == size - 1 else 0), err
    assert spmd.agree_on_error(comm, "x" if rank == 0 else None) == (0, "x")
    if agree is not comm and agree is not None:
        agree.Free()


def test_single_process_state_is_unchanged_for_small_circuits():
    c = Circuit().h(0).cnot(0, 1)
    c.state_vector()
    res = execute(c, 0, lambda k: StateVector(k))
    np.testing.assert_allclose(res.values[0], [2 ** -0.5, 0, 0, 2 ** -0.5], atol=1e-12)


def test_device_run_replicates_for_the_widest_gate(comm, rng, monkeypatch):
    """Through ``qsim.device`` (what the CLI and Braket's LocalSimulator use), not the factory alone."""
    import qsim

    monkeypatch.setenv("QSIM_MIN_DISTRIBUTED_QUBITS", "0")
    dev = qsim.device("local:qsim/statevector", comm=comm if comm.Get_size() > 1 else None)
    u = random_unitary(3, rng)
    c = Circuit()
    for q in range(4):
        c.h(q)
    c.unitary(u, [3, 1, 0])
    c.probability()
    result = dev.run(c, shots=0).result()
    gates = [((q,), gate_matrix("h")) for q in range(4)] + [((3, 1, 0), u)]
    np.testing.assert_allclose(result.values[0], np.abs(_oracle_state(4, gates)) ** 2, atol=1e-12)
