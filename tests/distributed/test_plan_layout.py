"""The no-MPI parts of the distributed layer: gate classification, look-ahead, layout relabels,
and the runtime's settings.  Same on every rank."""

from __future__ import annotations

import numpy as np
import pytest

from qsim.distributed.layout import Layout
from qsim.distributed.plan import choose_swaps, classify, is_relabel
from qsim.errors import ValidationError

X = np.array([[0, 1], [1, 0]])
H = np.array([[1, 1], [1, -1]]) / np.sqrt(2)
CNOT = np.eye(4)[[0, 1, 3, 2]]
SWAP = np.eye(4)[[0, 2, 1, 3]]


def test_classify_kinds():
    assert classify(((0, 1), np.diag([1, 1, 1, -1]), (), ())).kind == "diag"  # cz: a phase under controls
    cn = classify(((0, 1), CNOT, (), ()))
    assert (cn.kind, cn.targets, cn.controls, cn.values) == ("mono", [1], [0], [1])
    assert classify(((2, 5), SWAP, (), ())).kind == "swap"
    assert classify(((2, 5), SWAP, (1,), (1,))).kind == "mono"  # cswap moves data
    assert classify(((3,), H, (), ())).kind == "dense"
    assert classify(((), np.array([[1j]]), (), ())).kind == "diag"


def test_relabel_only_when_every_qubit_is_global():
    lay = Layout(6, 2)  # qubits 0 and 1 global
    assert is_relabel(classify(((0, 1), CNOT, (), ())), lay)
    assert not is_relabel(classify(((0, 2), CNOT, (), ())), lay)  # target local: a local x
    assert not is_relabel(classify(((2, 0), CNOT, (), ())), lay)  # local control, global target


def test_swap_prefix_bits_renumbers_blocks():
    lay = Layout(5, 2)
    lay.swap_prefix_bits(0, 1)
    assert list(lay.prefix_of_rank) == [0, 2, 1, 3]
    assert lay.pos[0] == 3 and lay.pos[1] == 4
    assert lay.physical_index(0b10000) == 1 << 3


def test_lookahead_batches_and_picks_farthest_use():
    lay = Layout(6, 2)
    ops = [classify(((0,), H, (), ())), classify(((2,), H, (), ())), classify(((1,), H, (), ())),
           classify(((2, 4), CNOT, (), ())), classify(((5,), H, (), ()))]
    bring, evict = choose_swaps(ops, 0, lay)
    assert bring == [0, 1]  # the h on qubit 1 two gates later rides along
    assert evict == [3, 5]  # never needed again, then the farthest next need (Belady); not 2 or 4


def test_runtime_rejects_bad_environment(monkeypatch, comm):
    from qsim.distributed import DistributedRuntime

    monkeypatch.setenv("QSIM_MIN_DISTRIBUTED_QUBITS", "-1")
    with pytest.raises(ValidationError, match="QSIM_MIN_DISTRIBUTED_QUBITS"):
        DistributedRuntime(comm)
    monkeypatch.setenv("QSIM_MIN_DISTRIBUTED_QUBITS", "20")
    monkeypatch.setenv("QSIM_NUM_THREADS", "many")
    with pytest.raises(ValidationError, match="QSIM_NUM_THREADS"):
        DistributedRuntime(comm)


def test_seed_agrees_and_threads_default(runtime, comm):
    seed = runtime.agree_on_seed(None if comm.Get_rank() else 12345)
    assert seed == 12345
    drawn = runtime.agree_on_seed(None)
    assert comm.allgather(drawn) == [drawn] * comm.Get_size()
    assert runtime.threads >= 1
