"""Fixtures for the distributed suite: the same test bodies run on 1 rank (in the normal
``python -m pytest`` run) and on 2 and 4 ranks (``tests/test_mpi.py`` launches
``mpirun -n N python -m pytest tests/distributed``, setting ``QSIM_MPI_TESTS=1``).

* Under ``QSIM_MPI_TESTS=1`` the suite refuses to run on a single rank: a mis-launch must not pass
  vacuously.
* Every rank draws the same random data (generators seeded from the test id, as in ../conftest.py).
* Ranks other than 0 write their report to a file that is shown only if that rank fails.
* ``QSIM_MIN_DISTRIBUTED_QUBITS`` defaults to 0 here, so even 4-qubit registers are split.
"""

from __future__ import annotations

import io
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))

from mpi4py import MPI  # noqa: E402

COMM = MPI.COMM_WORLD
UNDER_MPI = os.environ.get("QSIM_MPI_TESTS") == "1"
_captured = None


def pytest_configure(config):
    global _captured
    if UNDER_MPI and COMM.Get_size() < 2:
        pytest.exit("tests/distributed under QSIM_MPI_TESTS=1 needs mpirun -n 2 or more "
                    "(one rank would only test the single-process path)", returncode=4)
    if COMM.Get_rank() != 0:
        _captured = io.StringIO()
        sys.stdout = _captured


def pytest_sessionfinish(session, exitstatus):
    if _captured is not None:
        sys.stdout = sys.__stdout__
        if exitstatus not in (0, 5):
            sys.stderr.write(f"---- output of rank {COMM.Get_rank()} ----\n{_captured.getvalue()}\n")


@pytest.fixture
def comm():
    return COMM


@pytest.fixture
def runtime(monkeypatch):
    from qsim.distributed import DistributedRuntime

    monkeypatch.setenv("QSIM_MIN_DISTRIBUTED_QUBITS", os.environ.get("QSIM_MIN_DISTRIBUTED_QUBITS", "0"))
    return DistributedRuntime(COMM, "double")


@pytest.fixture
def rng(request):
    seed = sum(ord(c) * (i + 1) for i, c in enumerate(request.node.nodeid)) % (2**32)
    return np.random.default_rng(seed)
