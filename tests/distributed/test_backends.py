"""``qsim.backends``: the one interface of the single-process and the distributed backend, on any
rank count (1 in the normal run, 2 and 4 through tests/test_mpi.py)."""

from __future__ import annotations

import numpy as np

import qsim
from qsim.backends import DistributedBackend, LocalBackend, backend_for
from qsim.circuit import observables as obs
from qsim.state.executor import execute


def test_backend_for_picks_by_rank_count(comm):
    b = backend_for(comm, "single")
    assert isinstance(b, DistributedBackend if comm.Get_size() > 1 else LocalBackend)
    assert b.ranks == comm.Get_size() and b.precision == "single"
    assert isinstance(backend_for(None), LocalBackend)


def test_seed_fusion_and_metadata(comm):
    local = LocalBackend()
    assert local.agree_on_seed(None, shots=0) is None and local.agree_on_seed(5, shots=10) == 5
    assert isinstance(local.agree_on_seed(None, shots=10), int)
    assert local.fusion_options() == {"fusion": True, "absorb_into_two_qubit": True, "precision": "double"}
    b = backend_for(comm)
    seed = b.agree_on_seed(None, shots=10)
    assert comm.allgather(seed) == [seed] * comm.Get_size()  # every rank has rank 0's
    c = qsim.Circuit().h(0).cnot(0, 1).cnot(1, 2).cnot(2, 3).expectation(obs.Z() @ obs.Z(), [0, 3])
    r = execute(c, 0, b.state_factory(c), **b.fusion_options(), extra_metadata=b.metadata())
    assert abs(r.values[0] - 1) < 1e-12
    meta = r.to_dict()["additionalMetadata"]["qsimMetadata"]
    assert meta["ranks"] == comm.Get_size()


def test_device_runs_through_its_backend(comm):
    dev = qsim.device(comm=comm)
    assert dev.backend.ranks == comm.Get_size()
    c = qsim.Circuit().ry(0, 0.3).probability()
    np.testing.assert_allclose(dev.run(c).result().values[0], [np.cos(0.15) ** 2, np.sin(0.15) ** 2], atol=1e-12)


def test_local_backend_reuses_a_small_state_reset_to_zero():
    b = LocalBackend()
    make = b.state_factory()
    s = make(3)
    s.apply((0,), np.array([[0, 1], [1, 0]]))
    s.global_phase = 1j
    again = make(3)
    assert again is s and again.global_phase == 1 and again.array[0] == 1 and not again.array[1:].any()
    assert make(4) is not s
    assert LocalBackend().state_factory()(21) is not None and b.state_factory()(4).n_qubits == 4
