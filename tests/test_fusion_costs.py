"""The fusion planner's cost model (``qsim.kernels.costs``): per-machine cache, fallback, and the
planner's choice of block size from the costs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qsim.kernels import costs as KC
from qsim.state import fusion as F
from qsim.state.lowering import gate_items
from qsim.state.statevector import StateVector
from test_fusion_blocks import _qft_items, _random_circuit


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("QSIM_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("QSIM_CALIBRATE", "1")  # the suite runs with calibration off (tests/conftest.py)
    monkeypatch.setattr(KC, "_memo", {})
    return tmp_path


def test_small_circuit_uses_the_fallback_and_writes_nothing(cache, monkeypatch):
    monkeypatch.setattr(KC, "calibrate", lambda *a, **k: pytest.fail("calibrated for a small circuit"))
    assert KC.dense_costs("double", width=KC.CALIBRATE_MIN_QUBITS - 1) == KC.FALLBACK["double"]
    assert not list(cache.iterdir())


def test_wide_circuit_calibrates_once_and_caches_per_machine(cache, monkeypatch):
    calls = []

    def fake(precision, n=None, reps=3):
        calls.append(precision)
        return {k: 1.0 + k for k in range(1, KC.MAX_K + 1)}

    monkeypatch.setattr(KC, "calibrate", fake)
    got = KC.dense_costs("single", width=KC.CALIBRATE_MIN_QUBITS)
    assert got == {k: 1.0 + k for k in range(1, KC.MAX_K + 1)} and calls == ["single"]
    path = cache / f"costs-{KC.machine_key()}.json"
    assert json.loads(path.read_text())["machine"] == KC.machine_key()
    KC._memo.clear()  # a new process: read from the file, no second calibration
    assert KC.dense_costs("single", width=30) == got and calls == ["single"]


def test_unreadable_cache_falls_back(cache, monkeypatch):
    monkeypatch.setenv("QSIM_CALIBRATE", "0")
    (cache / f"costs-{KC.machine_key()}.json").write_text("{not json")
    assert KC.dense_costs("double", width=30) == KC.FALLBACK["double"]
    (cache / f"costs-{KC.machine_key()}.json").write_text(json.dumps({"dense": {"double": {"1": -1}}}))
    assert KC.dense_costs("double", width=30) == KC.FALLBACK["double"]


def test_busy_calibration_is_provisional_until_a_quiet_one(cache, monkeypatch):
    """Figures timed while other processes shared the cores are cached as provisional: a later
    process uses them while the machine is still busy, and measures again once it is quiet."""
    calls = []
    load = [8.0]

    def fake(precision, n=None, reps=3):
        calls.append(precision)
        out = KC.Calibration({k: 9.0 if load[0] > 1 else 2.0 for k in range(1, KC.MAX_K + 1)})
        out.busy = load[0] > 1
        return out

    monkeypatch.setattr(KC, "calibrate", fake)
    monkeypatch.setattr(KC.os, "getloadavg", lambda: (load[0],) * 3)
    busy = {k: 9.0 for k in range(1, KC.MAX_K + 1)}
    assert KC.dense_costs("double", width=30) == busy and calls == ["double"]
    KC._memo.clear()  # a new process, still busy: the provisional figures, no new calibration
    assert KC.dense_costs("double", width=30) == busy and calls == ["double"]
    KC._memo.clear()
    load[0] = 0.0  # quiet now: measure again, and the new figures are final
    quiet = {k: 2.0 for k in range(1, KC.MAX_K + 1)}
    assert KC.dense_costs("double", width=30) == quiet and calls == ["double", "double"]
    KC._memo.clear()
    load[0] = 8.0
    assert KC.dense_costs("double", width=30) == quiet and calls == ["double", "double"]


def test_calibration_flags_a_busy_machine(monkeypatch):
    """Either signal marks a calibration busy: a load average above the cores, or the timed
    runs' threads getting no CPU time (as when another process holds the cores)."""
    monkeypatch.setattr(KC.os, "getloadavg", lambda: (8.0, 8.0, 8.0))
    assert KC.calibrate("double", n=16, reps=1).busy
    monkeypatch.setattr(KC.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    monkeypatch.setattr(KC.time, "process_time", lambda: 0.0)
    assert KC.calibrate("double", n=16, reps=1).busy


def test_calibration_measures_every_block_size():
    table = KC.calibrate("double", n=12, reps=1)
    assert sorted(table) == list(range(1, KC.MAX_K + 1))
    assert all(np.isfinite(v) and v >= 1.0 for v in table.values())


def test_planner_picks_the_block_size_the_costs_favour():
    """Cheap large blocks: the plan uses 4- or 5-qubit blocks; expensive ones: at most 2 qubits.
    Either plan gives the gate-by-gate state."""
    n = F.K_BLOCKS_MIN_QUBITS
    items = [gate_items(op) for op in _random_circuit(n, 120, 4).instructions] + _qft_items(n)
    shapes = [F.shape_of(it) for it in items]
    cheap = {1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0, 5: 1.0}
    dear = {1: 1.0, 2: 1.0, 3: 50.0, 4: 80.0, 5: 100.0}
    k_cheap, e_cheap = F.choose_block_size(shapes, n, costs=cheap)
    k_dear, e_dear = F.choose_block_size(shapes, n, costs=dear)
    assert k_cheap >= 4 and k_dear == 2

    def widest(entries):
        return max(len(e.qubits) for e in entries if isinstance(e, F.Block) and e.ops[0][0] != "ones")

    assert widest(e_cheap) >= 4 and widest(e_dear) <= 3  # 3: a block a three-qubit gate started
    assert F.plan_cost(shapes, e_cheap, cheap) <= F.plan_cost(shapes, e_dear, cheap)
    assert F.plan_cost(shapes, e_dear, dear) <= F.plan_cost(shapes, e_cheap, dear)
    ref = StateVector(n)
    ref.apply_all(items)
    for entries in (e_cheap, e_dear):
        sv = StateVector(n)
        sv.apply_all(F.Plan(shapes, entries).bind([it[1] for it in items]))
        np.testing.assert_allclose(sv.state_vector(), ref.state_vector(), atol=1e-10)


def test_under_mpi_every_rank_uses_the_fallback(cache, monkeypatch):
    """Ranks must fuse alike: no calibration, no cache file, under an MPI launcher."""
    (cache / f"costs-{KC.machine_key()}.json").write_text(
        json.dumps({"dense": {"double": {str(k): 9.0 for k in range(1, KC.MAX_K + 1)}}}))
    monkeypatch.setattr(KC, "launched_under_mpi", lambda: True)
    assert KC.dense_costs("double", width=30) == KC.FALLBACK["double"]


def test_compile_paths_plan_with_their_precision(monkeypatch):
    """A complex64 device chooses its blocks by complex64's measured costs, on both paths (a
    circuit lowered per run and a compiled one), and complex128 by its own."""
    import qsim
    from qsim.state.compile import CompiledCircuit
    from qsim.state.lowering import lower

    asked = []

    def costs(precision="double", width=0):
        asked.append(precision)
        return KC.FALLBACK[precision]

    monkeypatch.setattr(KC, "dense_costs", costs)
    n = F.COST_MODEL_MIN_QUBITS
    c = _random_circuit(n, 40, 7)
    for precision in ("single", "double"):
        asked.clear()
        lower(list(c.instructions), precision=precision)
        CompiledCircuit(c, precision=precision)
        assert asked and set(asked) == {precision}
    assert qsim.device(precision="single").backend.fusion_options()["precision"] == "single"
