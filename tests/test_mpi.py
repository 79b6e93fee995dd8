"""The MPI part of the suite: runs ``tests/distributed`` under ``mpirun -n 2`` and ``-n 4``
(oversubscribed on small machines), and the failure modes of ``python -m qsim run`` under mpirun,
each as a subprocess with a timeout so that a hang fails instead of blocking CI.

The single-process instantiation of ``tests/distributed`` runs in the normal pytest run before
this file (alphabetical order), which also fills Numba's cache; ``test_cold_numba_cache_under_4_ranks``
checks that 4 ranks compiling into an empty cache at once do not break each other.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap

import pytest

from qsim.launch import MPI_START_FAILURE, find_mpirun

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MPIRUN = find_mpirun()

# mpich is a dependency, so a missing mpirun is a broken install: these tests fail rather than skip.
pytestmark = [pytest.mark.mpi]


def test_mpirun_is_installed():
    assert MPIRUN is not None, "mpirun not found beside this Python or on PATH: is the 'mpich' wheel installed?"

GOOD_PROGRAM = textwrap.dedent("""\
    OPENQASM 3.0;
    qubit[5] q;
    h q[0];
    cnot q[0], q[4];
    ry(0.3) q[2];
    #pragma braket result probability q[0], q[4]
    """)


def mpirun(n, args, *, timeout, env=None, cwd=ROOT):
    """Run ``mpirun -n n python args...``; kill the whole process group on timeout. A start that MPI
    itself fails (inside MPI_Init, before any rank ran ``args``) is tried again, twice at most, as
    the jobs supervisor does (``qsim.launch.MPI_START_FAILURE``)."""
    full_env = dict(os.environ)
    full_env.update({"QSIM_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"})
    full_env.pop("QSIM_TRACEBACK", None)
    full_env.update(env or {})
    cmd = [MPIRUN, "-n", str(n), sys.executable, *args]
    for attempt in range(3):
        proc = subprocess.Popen(cmd, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            pytest.fail(f"`{' '.join(cmd)}` hung for {timeout} s\n--- stdout\n{out}\n--- stderr\n{err}")
        if proc.returncode == 0 or not re.search(MPI_START_FAILURE, out + err):
            break
    return proc.returncode, out, err


# The ranks' pytest loads no plugin from entry points: tests/distributed uses none, and the installed
# ones (hypothesis, benchmark, mock, flaky, timeout) cost each rank about a second to start
# (-n 4 on 2 cores: 10.7 -> 6.1 s for the whole run).
RANK_PYTEST = {"QSIM_MPI_TESTS": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


@pytest.mark.parametrize("ranks", [2, 4])
def test_distributed_suite(ranks):
    code, out, err = mpirun(ranks, ["-m", "pytest", "tests/distributed", "-q", "-p", "no:cacheprovider"],
                            timeout=240, env={**RANK_PYTEST, "QSIM_MIN_DISTRIBUTED_QUBITS": "0"})
    assert code == 0, f"mpirun -n {ranks} pytest tests/distributed failed\n--- stdout\n{out}\n--- stderr\n{err}"
    assert " passed" in out


def test_suite_refuses_one_rank():
    code, out, err = mpirun(1, ["-m", "pytest", "tests/distributed", "-q", "-p", "no:cacheprovider"],
                            timeout=120, env=RANK_PYTEST)
    assert code != 0 and "needs mpirun -n 2" in out + err


def _errors(text):
    return [line for line in text.splitlines() if line.startswith("qsim: error:")]


def test_rank_count_not_a_power_of_two(tmp_path):
    prog = tmp_path / "good.qasm"
    prog.write_text(GOOD_PROGRAM)
    code, out, err = mpirun(3, ["-m", "qsim", "run", str(prog)], timeout=120)
    assert code != 0
    errors = _errors(err)
    assert len(errors) == 1, err
    assert "power-of-two number of MPI ranks" in errors[0] and "3 ranks" in errors[0]
    assert out.strip() == ""


def test_bad_program_one_message(tmp_path):
    prog = tmp_path / "bad.qasm"
    prog.write_text("OPENQASM 3.0;\nqubit[3] q;\nh q[7];\n")
    code, out, err = mpirun(2, ["-m", "qsim", "run", str(prog)], timeout=120)
    assert code == 2
    assert len(_errors(err)) == 1, err
    assert out.strip() == ""


def test_failure_on_one_rank_aborts_the_job(tmp_path):
    """A rank that fails alone (here: an injected fault when its state is created) must end the
    whole job with its message, not leave rank 0 waiting in a collective."""
    prog = tmp_path / "good.qasm"
    prog.write_text(GOOD_PROGRAM)
    code, out, err = mpirun(2, ["-m", "qsim", "run", str(prog)], timeout=120,
                            env={"QSIM_FAULT_RANK": "1", "QSIM_MIN_DISTRIBUTED_QUBITS": "0"})
    assert code != 0
    errors = _errors(err)
    assert len(errors) == 1 and "rank 1" in errors[0] and "fault injected" in errors[0], err


def test_run_prints_once_and_matches_single_process(tmp_path):
    import json

    prog = tmp_path / "good.qasm"
    prog.write_text(GOOD_PROGRAM)
    code, out, err = mpirun(2, ["-m", "qsim", "run", str(prog), "--compact"], timeout=120,
                            env={"QSIM_MIN_DISTRIBUTED_QUBITS": "0"})
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1
    result = json.loads(lines[0])
    meta = result["additionalMetadata"]["qsimMetadata"]
    assert meta["ranks"] == 2 and meta["distributed"] and meta["threadsPerRank"] == 1
    single = subprocess.run([sys.executable, "-m", "qsim", "run", str(prog), "--compact"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    expected = json.loads(single.stdout)
    got = result["resultTypes"][0]["value"] if "resultTypes" in result else None
    want = expected["resultTypes"][0]["value"] if "resultTypes" in expected else None
    assert got == pytest.approx(want, abs=1e-12)


def test_info_shows_the_split():
    import json

    code, out, err = mpirun(4, ["-m", "qsim", "info", "--qubits", "30"], timeout=120)
    assert code == 0, err
    info = json.loads(out)
    assert (info["ranks"], info["threadsPerRank"], info["globalQubits"], info["localQubits"]) == (4, 1, 2, 28)


def test_cold_numba_cache_under_4_ranks(tmp_path):
    """4 ranks compiling the same kernels into one empty cache directory at once, then loading it."""
    prog = tmp_path / "good.qasm"
    # Kernels quick to compile (permutations, a diagonal, a reduction): the test is about four
    # processes writing one cache at once, and the dense kernels' builds cost 7 s each on 2 cores.
    prog.write_text("OPENQASM 3.0;\nqubit[6] q;\nx q[0];\ncnot q[0], q[5];\ncz q[0], q[3];\n"
                    "swap q[2], q[5];\n#pragma braket result expectation z(q[0]) @ z(q[2])\n")
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "numba-cache"), "QSIM_MIN_DISTRIBUTED_QUBITS": "0"}
    for attempt in range(2):
        code, out, err = mpirun(4, ["-m", "qsim", "run", str(prog), "--compact"], timeout=180, env=env)
        assert code == 0, f"attempt {attempt}\n{err}"
        assert '"distributed": true' in out
        # x, cnot, swap carry |1> to qubits 0 and 2; the cz sees qubit 3 at 0: <Z0 Z2> = (-1)(-1)
        assert json.loads(out)["resultTypes"][0]["value"] == pytest.approx(1.0)
    assert any(name.endswith(".nbi") for _, _, files in os.walk(tmp_path / "numba-cache") for name in files)
