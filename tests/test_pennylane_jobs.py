"""Issue 8 from the command line, as a user runs it (``python -m qsim job ...`` in a subprocess):

* the PennyLane job example (``qml.device(AMZN_BRAKET_DEVICE_ARN.split("/")[1], wires=n)`` with
  ``local:qsim/qsim.qubit``) runs unchanged at instanceCount 1 and 2 and gives the same numbers;
* a job that failed looks failed: warnings for a COMPLETED job without results whose log shows an
  error, ``job result`` without results exits 1 and says so, ``--wait`` shows progress with the
  elapsed time, and a job name used twice picks the newest job (said on stderr).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "jobs" / "pennylane_qubit"
ROLE = "arn:aws:iam::000000000000:role/local-tests"


def _job_env(home, env_vars):
    return {**os.environ, "QSIM_HOME": str(home), "QSIM_NUM_THREADS": "1", **env_vars}


def qsim_job(home, *args, timeout=240, **env_vars):
    return subprocess.run([sys.executable, "-m", "qsim", "job", *args], capture_output=True, text=True,
                          env=_job_env(home, env_vars), timeout=timeout, cwd=ROOT)


def qsim_job_started(home, *args, **env_vars) -> subprocess.Popen:
    """``qsim_job`` started in the background (``finish`` collects it), for a job that mostly waits
    to run while the test does something else."""
    return subprocess.Popen([sys.executable, "-m", "qsim", "job", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_job_env(home, env_vars), cwd=ROOT)


def finish(proc: subprocess.Popen, timeout: float) -> subprocess.CompletedProcess:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"`{' '.join(proc.args)}` did not finish in {timeout} s\n{err[-4000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def jobs_in(home) -> int:
    from jobs.client import JobsClient

    return len(JobsClient(home).store.all_jobs()) if (Path(home) / "jobs.db").exists() else 0


def spec(tmp_path, name, script=None, *, instances=1, device="local:qsim/statevector", **extra):
    if script is not None:
        code = tmp_path / f"code-{name}"
        code.mkdir(exist_ok=True)
        (code / "script.py").write_text(script)
        entry = {"entryPoint": "script", "s3Uri": str(code)}
    else:
        entry = {"entryPoint": "vqe_ising:main", "s3Uri": str(EXAMPLE / "src")}
    req = {"jobName": name, "roleArn": ROLE, "algorithmSpecification": {"scriptModeConfig": entry},
           "outputDataConfig": {"s3Path": str(tmp_path / "out")},
           "instanceConfig": {"instanceType": "ml.m5.large", "volumeSizeInGb": 1, "instanceCount": instances},
           "deviceConfig": {"device": device}, **extra}
    path = tmp_path / f"{name}-{instances}.json"
    path.write_text(json.dumps(req))
    return str(path)


@pytest.mark.mpi
@pytest.mark.timeout(300)
def test_pennylane_job_example_on_one_and_two_ranks(tmp_path):
    shipped = json.loads((EXAMPLE / "job.json").read_text())
    assert shipped["deviceConfig"]["device"] == "local:qsim/qsim.qubit"
    assert 'qml.device(device_name, wires=n_qubits)' in (EXAMPLE / "src" / "vqe_ising.py").read_text()
    home = tmp_path / "home"
    # 8 qubits, sharded over 2 ranks all the same (qsim shards from 20 qubits by default; the QSIM_*
    # environment reaches the ranks).  Both jobs run at once (the second created once the first
    # exists, so it is the newest of the name): together they take little more than the two-rank one.
    hps = dict(shipped["hyperParameters"], n_qubits="8", steps="2")
    procs = {}
    for ranks in (1, 2):
        procs[ranks] = qsim_job_started(home, "create", "--spec", spec(
            tmp_path, "pl-vqe", instances=ranks, device=shipped["deviceConfig"]["device"], hyperParameters=hps),
            "--wait", QSIM_MIN_DISTRIBUTED_QUBITS="4")
        deadline = time.monotonic() + 60
        while ranks == 1 and jobs_in(home) < 1 and procs[1].poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    results, arns = {}, {}
    for ranks, proc in procs.items():
        p = finish(proc, 300)
        assert p.returncode == 0, p.stderr[-4000:]
        job = json.loads(p.stdout)
        assert job["status"] == "COMPLETED"
        arns[ranks] = job["jobArn"]
    r = qsim_job(home, "result", "pl-vqe")  # a name used twice: the newest job
    assert r.returncode == 0, r.stderr
    assert "2 jobs are named 'pl-vqe'; using the newest" in r.stderr and arns[2] in r.stderr
    results[2] = json.loads(r.stdout)
    r = qsim_job(home, "result", arns[1])
    assert r.returncode == 0, r.stderr
    results[1] = json.loads(r.stdout)
    one, two = results[1], results[2]
    assert (one["qsim"]["distributed"], two["qsim"]["distributed"], two["qsim"]["ranks"]) == (False, True, 2)
    assert len(one["history"]) == 2 and one["history"][1] < one["history"][0]
    for key in ("energy", "history", "params"):
        assert json.dumps(two[key]) == json.dumps(one[key]) or \
            max(abs(a - b) for a, b in zip(_flat(two[key]), _flat(one[key]))) < 1e-9, key


def _flat(x):
    if isinstance(x, list):
        return [v for item in x for v in _flat(item)]
    return [x]


SWALLOWING_SCRIPT = """\
import traceback
try:
    raise ValueError("Device statevector does not exist")
except Exception:
    traceback.print_exc()   # as Braket's example scripts do: the job still ends COMPLETED
"""


@pytest.mark.timeout(120)
def test_a_job_that_failed_looks_failed(tmp_path):
    home = tmp_path / "home"
    p = qsim_job(home, "create", "--spec", spec(tmp_path, "swallow", SWALLOWING_SCRIPT), "--wait")
    assert p.returncode == 0 and json.loads(p.stdout)["status"] == "COMPLETED", p.stderr
    assert "warning: job swallow is COMPLETED but saved no results" in p.stderr
    assert "Traceback (most recent call last)" in p.stderr.split("warning:")[1]
    g = qsim_job(home, "get", "swallow")
    assert g.returncode == 0 and json.loads(g.stdout)["status"] == "COMPLETED"
    assert "warning: job swallow is COMPLETED but saved no results" in g.stderr
    r = qsim_job(home, "result", "swallow")
    assert r.returncode == 1 and r.stdout == ""
    assert "saved no results" in r.stderr and "ValueError" not in r.stdout
    assert re.search(r"its log says something failed at line \d+: .*Traceback", r.stderr), r.stderr


@pytest.mark.timeout(120)
def test_quiet_success_and_no_false_alarm(tmp_path):
    home = tmp_path / "home"
    script = "from jobs import save_job_result\nprint('all good, 0 errors')\nsave_job_result({'x': 1})\n"
    p = qsim_job(home, "create", "--spec", spec(tmp_path, "fine", script), "--wait")
    assert p.returncode == 0 and "warning" not in p.stderr, p.stderr
    # Elapsed time on every event line.
    assert re.search(r"^\[\d\d:\d\d:\d\d \+\d+\.\ds\] RUNNING: Running 1 rank", p.stderr, re.M), p.stderr
    assert json.loads(qsim_job(home, "result", "fine").stdout) == {"x": 1}
    # A job without results and without errors in its log: `result` says so, `get` does not warn.
    p = qsim_job(home, "create", "--spec", spec(tmp_path, "nothing", "print('done')\n"), "--wait")
    assert p.returncode == 0 and "warning" not in p.stderr
    r = qsim_job(home, "result", "nothing")
    assert r.returncode == 1 and "job nothing (COMPLETED) saved no results" in r.stderr and "line" not in r.stderr


# A script that is slow to print its first line, as a first run compiling kernels is.
SLOW_SCRIPT = "import time\ntime.sleep(7)\nfrom jobs import save_job_result\nsave_job_result({'ok': True})\n"


@pytest.fixture(scope="module", autouse=True)
def slow_job(request, tmp_path_factory):
    """``test_wait_shows_what_a_starting_job_is_doing``'s ``create --wait``, started when the module
    starts (if that test is selected): its job sleeps for 7 s, while the module's other tests run."""
    if not any(item.module is request.module and item.originalname == "test_wait_shows_what_a_starting_job_is_doing"
               for item in request.session.items):
        yield None
        return
    tmp = tmp_path_factory.mktemp("slow-job")
    proc = qsim_job_started(tmp / "home", "create", "--spec", spec(tmp, "slow", SLOW_SCRIPT, instances=2), "--wait")
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


@pytest.mark.timeout(120)
def test_wait_shows_what_a_starting_job_is_doing(slow_job):
    p = finish(slow_job, 110)
    assert p.returncode == 0, p.stderr
    assert re.search(r"^\[\+\d+s\] starting 2 rank\(s\): importing Python packages", p.stderr, re.M), p.stderr


@pytest.mark.timeout(120)
def test_commands_by_name_pick_the_newest_job(tmp_path):
    home = tmp_path / "home"
    arns = []
    for value in (1, 2):
        script = f"from jobs import save_job_result, log_metric\nlog_metric('v', {value}.0, iteration_number=0)\n" \
                 f"print('run {value}')\nsave_job_result({{'run': {value}}})\n"
        p = qsim_job(home, "create", "--spec", spec(tmp_path, "twice", script), "--wait", "--quiet")
        assert p.returncode == 0, p.stderr
        arns.append(json.loads(p.stdout)["jobArn"])
    for command, check in (("result", lambda out: json.loads(out) == {"run": 2}),
                           ("get", lambda out: json.loads(out)["jobArn"] == arns[1]),
                           ("logs", lambda out: "run 2" in out and "run 1" not in out),
                           ("metrics", lambda out: "2" in out.splitlines()[-1])):
        p = qsim_job(home, command, "twice")
        assert p.returncode == 0, (command, p.stderr)
        assert check(p.stdout), (command, p.stdout)
        assert f"2 jobs are named 'twice'; using the newest, {arns[1]}" in p.stderr, (command, p.stderr)
    # An ARN still picks exactly that job, silently.
    p = qsim_job(home, "result", arns[0])
    assert json.loads(p.stdout) == {"run": 1} and "note" not in p.stderr
