"""Jobs that complete, fail, run out of time and are cancelled, with 1 and 2 instances.

Each checks status, the event sequence, failureReason and that no process of the job is left.
"""

from __future__ import annotations

import pytest

from jobs.client import JobsClient
from tests.jobs.conftest import assert_no_processes, event_flow, event_types, request, wait, wait_for_file
from tests.jobs.conftest import request as job_request

pytestmark = pytest.mark.timeout(90)

COMPLETED_EVENTS = ["QUEUED_FOR_EXECUTION", "STARTING_INSTANCE", "DOWNLOADING_DATA", "RUNNING",
                    "UPLOADING_RESULTS", "COMPLETED"]
FAILED_EVENTS = COMPLETED_EVENTS[:-1] + ["FAILED"]

SLEEPER = """
import os, pathlib, time
rank = int(os.environ["OMPI_COMM_WORLD_RANK"])
pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], f"started-{rank}").touch()
time.sleep(300)
"""

# A rank that starts a child ignoring TERM: only KILL stops it, and it must not outlive the job.
STUBBORN = """
import os, pathlib, signal, subprocess, sys, time
rank = int(os.environ["OMPI_COMM_WORLD_RANK"])
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"])
signal.signal(signal.SIGTERM, signal.SIG_IGN)
pathlib.Path(os.environ["AMZN_BRAKET_JOB_RESULTS_DIR"], f"started-{rank}").touch()
time.sleep(300)
"""


@pytest.mark.parametrize("instances", [1, 2])
def test_completes(tmp_path, client, instances):
    arn = client.create_job(**request(tmp_path, "print('hello')\n", instances=instances))["jobArn"]
    job = wait(client, arn)
    assert job["status"] == "COMPLETED", job.get("failureReason")
    assert event_flow(job) == COMPLETED_EVENTS
    assert job["createdAt"] <= job["startedAt"] <= job["endedAt"]
    assert job["billableDuration"] == round((job["endedAt"] - job["startedAt"]).total_seconds() * 1000)
    assert "failureReason" not in job
    times = [e["timeOfEvent"] for e in job["events"]]
    assert times == sorted(times)
    assert_no_processes(client, arn)
    log = client.get_job_log(arn).read_text()
    assert log.count("hello") == instances


@pytest.mark.parametrize("instances", [1, 2])
def test_exception_fails_with_reason_and_no_hang(tmp_path, client, instances):
    # With 2 ranks, rank 1 raises while rank 0 waits in a barrier: MPI Abort must end both.
    script = """
import os
rank = int(os.environ["OMPI_COMM_WORLD_RANK"])
if int(os.environ["OMPI_COMM_WORLD_SIZE"]) > 1:
    from mpi4py import MPI
    if rank == 0:
        MPI.COMM_WORLD.Barrier()
raise ValueError("bad angle 3.2")
"""
    arn = client.create_job(**request(tmp_path, script, instances=instances))["jobArn"]
    job = wait(client, arn)
    assert job["status"] == "FAILED"
    assert job["failureReason"] == "ValueError: bad angle 3.2"
    assert event_flow(job) == FAILED_EVENTS
    assert_no_processes(client, arn)
    assert "Traceback" in client.get_job_log(arn).read_text()


def test_failure_reason_is_at_most_1024_characters(tmp_path, client):
    arn = client.create_job(**request(tmp_path, "raise RuntimeError('x' * 5000)\n"))["jobArn"]
    job = wait(client, arn)
    assert job["failureReason"].startswith("RuntimeError: xxx") and len(job["failureReason"]) == 1024


@pytest.mark.parametrize("instances", [1, 2])
def test_bad_exit_code_fails(tmp_path, client, instances):
    script = "import os, sys\nif os.environ['OMPI_COMM_WORLD_RANK'] == str(%d - 1):\n    sys.exit(3)\n" % instances
    arn = client.create_job(**request(tmp_path, script, instances=instances))["jobArn"]
    job = wait(client, arn)
    assert job["status"] == "FAILED"
    assert job["failureReason"] == "SystemExit: 3"
    assert_no_processes(client, arn)


@pytest.mark.parametrize("entry,reason", [
    ("missing_module", "ModuleNotFoundError: entry point 'missing_module': no module named 'missing_module' "
                       "in the job's code"),
    ("script:nothere", "AttributeError: entry point 'script:nothere': module 'script' has no function 'nothere'"),
])
def test_missing_entry_point_fails(tmp_path, client, entry, reason):
    arn = client.create_job(**request(tmp_path, "x = 1\n", entry=entry))["jobArn"]
    job = wait(client, arn)
    assert job["status"] == "FAILED"
    assert job["failureReason"] == reason


SLEEPERS = {"1-instance": (1, SLEEPER), "2-instances": (2, SLEEPER), "ignores-TERM": (2, STUBBORN)}


EARLY = ("test_max_runtime_exceeded", "test_cancel_running_job")


@pytest.fixture(scope="module", autouse=True)
def started_early(request, tmp_path_factory):
    """The jobs of ``test_max_runtime_exceeded`` and ``test_cancel_running_job`` mostly wait (on the
    max-runtime clock, for a cancel): those of the selected cases are created when the module starts,
    each in a home of its own, and run while the module's other tests do; each test then checks its
    own job as if it had just created it (``started_early(test, case)`` gives (client, arn)).
    Whatever is still running at the end of the module is cancelled."""
    jobs = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QSIM_JOBS_KILL_GRACE", "1")  # as the home fixture sets it; the supervisor inherits it
        for item in request.session.items:
            if item.module is not request.module or item.originalname not in EARLY:
                continue
            name, case = item.originalname, item.callspec.params["case"]
            root = tmp_path_factory.mktemp(f"{name}-{case}")
            mp.setenv("QSIM_HOME", str(root / "qsim-home"))
            client = JobsClient(root / "qsim-home")
            instances, script = SLEEPERS[case]
            extra = {"stoppingCondition": {"maxRuntimeInSeconds": 3}} if name == "test_max_runtime_exceeded" else {}
            jobs[name, case] = client, client.create_job(**job_request(root, script, instances=instances,
                                                                       **extra))["jobArn"]
    yield lambda name, case: jobs[name, case]
    for client, arn in jobs.values():
        if client.get_job(jobArn=arn)["status"] not in ("COMPLETED", "FAILED", "CANCELLED"):
            client.cancel_job(jobArn=arn)
            wait(client, arn, timeout=40)


@pytest.mark.parametrize("case", list(SLEEPERS))
def test_max_runtime_exceeded(started_early, case):
    client, arn = started_early("test_max_runtime_exceeded", case)
    job = wait(client, arn, timeout=40)
    assert job["status"] == "FAILED"
    types = event_types(job)
    assert types[-2:] == ["MAX_RUNTIME_EXCEEDED", "FAILED"]
    assert "UPLOADING_RESULTS" in types
    assert "maxRuntimeInSeconds of 3 seconds" in job["failureReason"]
    assert 3000 <= job["billableDuration"] < 20000
    assert_no_processes(client, arn)


@pytest.mark.parametrize("case", list(SLEEPERS))
def test_cancel_running_job(started_early, case):
    client, arn = started_early("test_cancel_running_job", case)
    instances = SLEEPERS[case][0]
    row_dir = client.get_job_log(arn).parent
    for r in range(instances):
        wait_for_file(row_dir / "model" / f"started-{r}")
    assert client.get_job(jobArn=arn)["status"] == "RUNNING"
    assert client.cancel_job(jobArn=arn) == {"jobArn": arn, "cancellationStatus": "CANCELLING"}
    assert client.cancel_job(jobArn=arn)["cancellationStatus"] in ("CANCELLING", "CANCELLED")
    job = wait(client, arn, timeout=40)
    assert job["status"] == "CANCELLED"
    assert event_types(job)[-1] == "CANCELLED"
    assert "failureReason" not in job
    assert client.cancel_job(jobArn=arn) == {"jobArn": arn, "cancellationStatus": "CANCELLED"}
    assert_no_processes(client, arn)


def test_cancel_queued_job_never_runs(tmp_path, client, monkeypatch):
    started = []
    monkeypatch.setattr("jobs.lifecycle.supervisor.spawn", lambda home, job_id: started.append(job_id))
    arn = client.create_job(**request(tmp_path, "print('ran')\n"))["jobArn"]
    assert client.get_job(jobArn=arn)["status"] == "QUEUED"
    assert client.cancel_job(jobArn=arn)["cancellationStatus"] == "CANCELLING"
    from jobs.lifecycle.supervisor import supervise

    assert supervise(client.store, started[0]) == "CANCELLED"
    job = client.get_job(jobArn=arn)
    assert job["status"] == "CANCELLED" and "ran" not in client.get_job_log(arn).read_text()


def test_cannot_cancel_finished_job(tmp_path, client):
    from jobs.errors import ConflictException

    arn = client.create_job(**request(tmp_path, "pass\n"))["jobArn"]
    wait(client, arn)
    with pytest.raises(ConflictException, match="is COMPLETED"):
        client.cancel_job(jobArn=arn)


def test_cancel_no_start_job_ends_cancelled(tmp_path, client):
    """Nothing runs a --no-start job until `job exec`: cancelling it ends it, not CANCELLING forever."""
    from jobs.errors import ConflictException

    arn = client.create(request(tmp_path, "print('ran')\n"), start=False)
    assert client.get_job(jobArn=arn)["status"] == "QUEUED"
    assert client.cancel_job(jobArn=arn) == {"jobArn": arn, "cancellationStatus": "CANCELLED"}
    job = client.get_job(jobArn=arn)
    assert job["status"] == "CANCELLED" and event_types(job)[-1] == "CANCELLED" and "endedAt" in job
    with pytest.raises(ConflictException, match="only a QUEUED job"):
        client.claim_for_hand_run(arn=arn)  # and it can no longer be run by hand
    assert "ran" not in client.get_job_log(arn).read_text()


def test_job_logs_streams_in_bounded_memory(tmp_path, client, home):
    """`job logs` on a 256 MiB log: its peak memory stays far below the log's size."""
    import os
    import subprocess
    import sys

    arn = client.create_job(**request(tmp_path, "print('first line')\n"))["jobArn"]
    wait(client, arn)
    log = client.get_job_log(arn)
    size = log.stat().st_size
    with open(log, "r+b") as f:  # sparse: instant to make, 256 MiB to read
        f.truncate(size + (256 << 20))
        f.seek(0, 2)
        f.write(b"\nlast line\n")
    total = log.stat().st_size
    # Peak RSS of the reader's own image: VmHWM belongs to the process's memory after exec, whereas
    # getrusage's ru_maxrss also counts the forking parent's (pytest's, hundreds of MiB in a full run).
    reader = ("import re, sys, jobs.cli; code = jobs.cli.main(['logs', sys.argv[1]]); "
              "hwm = re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1); "
              "sys.stderr.write(hwm); sys.exit(code)")
    with open(os.devnull, "wb") as null:
        p = subprocess.run([sys.executable, "-c", reader, arn], stdout=null, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "QSIM_HOME": str(home)}, timeout=120)
    assert p.returncode == 0, p.stderr
    peak_kib = int(p.stderr.strip().splitlines()[-1])
    assert peak_kib < 120 * 1024, f"peak RSS {peak_kib} KiB reading a {total >> 20} MiB log"
    out = subprocess.run([sys.executable, "-m", "jobs", "logs", arn], capture_output=True,
                         env={**os.environ, "QSIM_HOME": str(home)}, timeout=120).stdout
    assert len(out) == total and b"first line\n" in out[:size] and out.endswith(b"\nlast line\n")
