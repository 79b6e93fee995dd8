"""The examples run as documented: one process, and SPMD under mpirun (same output)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from qsim.launch import find_mpirun

ROOT = Path(__file__).resolve().parent.parent
VQE = ROOT / "examples" / "python" / "vqe_spmd.py"
ARGS = ["--steps", "3", "--qubits", "4", "--layers", "1"]


def _run(cmd, **env):
    full_env = {**os.environ, "QSIM_MIN_DISTRIBUTED_QUBITS": "0", "QSIM_NUM_THREADS": "1", **env}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=full_env, cwd=ROOT,
                         start_new_session=True)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def _energies(stdout):
    lines = [ln for ln in stdout.splitlines() if "energy" in ln]
    assert lines[-1].startswith("final energy"), stdout
    return [float(ln.split()[-1]) for ln in lines]


def test_vqe_example_one_process_descends():
    energies = _energies(_run([sys.executable, str(VQE), *ARGS]))
    assert len(energies) == 4
    assert energies[-1] < energies[0] - 0.1  # gradient descent lowers the Ising energy


@pytest.mark.mpi
def test_vqe_example_under_mpirun_prints_once_and_matches_one_process():
    mpirun = find_mpirun()
    assert mpirun is not None
    single = _run([sys.executable, str(VQE), *ARGS])
    spmd = _run([mpirun, "-n", "2", sys.executable, "-m", "mpi4py", str(VQE), *ARGS])
    assert spmd.count("final energy") == 1  # only rank 0 prints
    assert _energies(spmd) == pytest.approx(_energies(single), abs=1e-9)


def test_teleport_example_teleports_the_state():
    import json

    out = _run([sys.executable, "-m", "qsim", "run", str(ROOT / "examples" / "qasm" / "teleport.qasm"),
                "--shots", "4000", "--seed", "11", "--compact"])
    result = json.loads(out)
    p1 = result["resultTypes"][0]["value"][1]
    # q[2] ends in ry(0.7)|0>: P(1) = sin(0.35)^2 = 0.1176; 4000 shots give sigma = 0.0051
    assert abs(p1 - 0.11758) < 0.03
    assert result["measuredQubits"] == [0, 1, 2] and len(result["measurements"]) == 4000
