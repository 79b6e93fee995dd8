"""Fault injection: kill the supervisor, a rank, the launcher, the creator; orphans that call setsid;
a full disk (a small tmpfs as QSIM_HOME); concurrent creates.

Every case checks the job's final status, that no process of the job is left (marker, launcher
group, supervisor, recorded ranks and registry) and ``PRAGMA integrity_check`` of jobs.db.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobs.lifecycle import processes
from jobs.client import JobsClient
from jobs.errors import StorageFullException
from tests.jobs.conftest import assert_no_processes, event_types, job_row, request, wait

pytestmark = pytest.mark.timeout(120)

RANKS_READY = """
import os, time
ready = os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], f"ready-{os.environ.get('OMPI_COMM_WORLD_RANK', '0')}")
open(ready + ".tmp", "w").write(str(os.getpid()))
os.replace(ready + ".tmp", ready)
time.sleep(60)
"""


def integrity(home: Path) -> str:
    con = sqlite3.connect(home / "jobs.db")
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def assert_nothing_left(client: JobsClient, arn: str, pids=()) -> None:
    assert_no_processes(client, arn)
    row = job_row(client, arn)
    root = Path(row.job_dir)
    recorded = [(p, st) for p, st in processes.read_registry(root / "ranks" / "processes.json")]
    for f in (root / "ranks").glob("[0-9]*.json"):
        info = json.loads(f.read_text())
        recorded.append((info["pid"], info["start"]))
    deadline = time.monotonic() + 5
    while any(processes.alive(p, st) for p, st in recorded) or any(processes.alive(p) for p in pids):
        assert time.monotonic() < deadline, f"left running: {recorded} {pids}"
        time.sleep(0.05)
    assert integrity(client.home) == "ok"


def _ready(client, arn, ranks: int) -> list[int]:
    """The ranks' pids once each has started (fails at once, with the reason, if the job ended)."""
    data = client.get_job_log(arn).parent / "output" / "data"
    deadline = time.monotonic() + 60
    while not all((data / f"ready-{r}").exists() for r in range(ranks)):
        row = job_row(client, arn)
        assert row.status in ("QUEUED", "RUNNING"), (row.status, row.failure_reason)
        assert time.monotonic() < deadline, "the ranks never started"
        time.sleep(0.05)
    return [int((data / f"ready-{r}").read_text()) for r in range(ranks)]


def _stored_status(client, arn) -> str:
    """The status as stored, without the reconciliation a read would do."""
    return job_row(client, arn).status


def _supervisor_processes(job_id: str) -> list[int]:
    """The supervisor and its watchdog (same command line, the watchdog in a session of its own)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"jobs.lifecycle.supervisor" in cmd and job_id.encode() in cmd and processes.start_time(int(entry)):
                found.append(int(entry))
    return found


def test_killed_supervisor_is_noticed_by_its_watchdog(tmp_path, client):
    arn = client.create_job(**request(tmp_path, RANKS_READY, instances=2))["jobArn"]
    pids = _ready(client, arn, 2)
    os.kill(job_row(client, arn).supervisor_pid, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while _stored_status(client, arn) not in ("FAILED",):  # nobody reads the job: the watchdog acts
        assert time.monotonic() < deadline, _stored_status(client, arn)
        time.sleep(0.1)
    job = client.get_job(jobArn=arn)
    assert "supervisor" in job["failureReason"] and "crashed or was killed" in job["failureReason"]
    assert_nothing_left(client, arn, pids)


def _age(client, arn, seconds: float) -> None:
    """Move the job's start back by ``seconds`` (time passing, without waiting for it)."""
    row = job_row(client, arn)
    client.store.transition(row.job_id, None, ("RUNNING",), started_at=row.started_at - seconds)


def test_max_runtime_holds_when_supervisor_and_watchdog_are_killed(tmp_path, client, home):
    req = request(tmp_path, RANKS_READY, instances=2, stoppingCondition={"maxRuntimeInSeconds": 30})
    arn = client.create_job(**req)["jobArn"]
    pids = _ready(client, arn, 2)
    row = job_row(client, arn)
    for pid in sorted(_supervisor_processes(row.job_id), key=lambda p: p != row.supervisor_pid, reverse=True):
        os.kill(pid, signal.SIGKILL)  # the watchdog first, then the supervisor
    _age(client, arn, 31)  # now past its maxRuntimeInSeconds
    time.sleep(1)
    assert _stored_status(client, arn) == "RUNNING"  # nothing is left to notice: the ranks still run
    assert all(processes.alive(p) for p in pids)
    JobsClient(home)  # the next start of any job command reconciles
    job = client.get_job(jobArn=arn)
    assert job["status"] == "FAILED" and "MAX_RUNTIME_EXCEEDED" in event_types(job)
    assert "exceeded its maxRuntimeInSeconds of 30 seconds" in job["failureReason"]
    assert_nothing_left(client, arn, pids)


def test_hung_supervisor_is_stopped_by_its_watchdog_at_the_deadline(tmp_path, client, monkeypatch):
    monkeypatch.setenv("QSIM_JOBS_OVERDUE_SLACK", "0.5")
    req = request(tmp_path, RANKS_READY, instances=2, stoppingCondition={"maxRuntimeInSeconds": 30})
    arn = client.create_job(**req)["jobArn"]
    pids = _ready(client, arn, 2)
    os.kill(job_row(client, arn).supervisor_pid, signal.SIGSTOP)  # alive, but enforcing nothing
    _age(client, arn, 31)  # its deadline has passed; the stopped supervisor cannot act on it
    deadline = time.monotonic() + 20
    while _stored_status(client, arn) != "FAILED":
        assert time.monotonic() < deadline, _stored_status(client, arn)
        time.sleep(0.1)
    job = client.get_job(jobArn=arn)
    assert "MAX_RUNTIME_EXCEEDED" in event_types(job) and "still running" in job["failureReason"]
    assert_nothing_left(client, arn, pids)


def test_killed_rank_fails_the_job(tmp_path, client):
    arn = client.create_job(**request(tmp_path, RANKS_READY, instances=2))["jobArn"]
    pids = _ready(client, arn, 2)
    os.kill(pids[1], signal.SIGKILL)
    job = wait(client, arn)
    assert job["status"] == "FAILED", job
    assert "rank 1" in job["failureReason"] or "code" in job["failureReason"], job["failureReason"]
    assert_nothing_left(client, arn, pids)


def test_killed_launcher_fails_the_job_and_its_ranks_die(tmp_path, client):
    arn = client.create_job(**request(tmp_path, RANKS_READY, instances=2))["jobArn"]
    pids = _ready(client, arn, 2)
    os.kill(job_row(client, arn).launcher_pgid, signal.SIGKILL)
    job = wait(client, arn)
    assert job["status"] == "FAILED" and "code -9" in job["failureReason"], job.get("failureReason")
    assert_nothing_left(client, arn, pids)


def test_setsid_grandchild_does_not_survive_the_job(tmp_path, client):
    script = """
import os, subprocess, sys
pid = os.fork()
if pid == 0:  # an orphan in a session of its own, without the job's environment marker
    os.setsid()
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], env={}, start_new_session=True)
    with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "grandchild"), "w") as f:
        f.write(str(p.pid))
    os._exit(0)
os.waitpid(pid, 0)
"""
    arn = client.create_job(**request(tmp_path, script))["jobArn"]
    job = wait(client, arn)
    assert job["status"] == "COMPLETED", job.get("failureReason")
    grandchild = int((client.get_job_log(arn).parent / "output" / "data" / "grandchild").read_text())
    assert_nothing_left(client, arn, [grandchild])


def test_killed_create_leaves_no_staging_directory(tmp_path, home):
    code = tmp_path / "code"
    code.mkdir()
    (code / "script.py").write_text("pass\n")
    with open(code / "big.bin", "wb") as f:  # long enough to copy that the create can be killed mid-way
        f.write(os.urandom(1 << 20) * 48)
    req = request(tmp_path)
    req["algorithmSpecification"]["scriptModeConfig"]["s3Uri"] = str(code)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(req))
    JobsClient(home)
    jobs_dir = home / "jobs"
    proc = subprocess.Popen([sys.executable, "-m", "jobs", "create", "--spec", str(spec)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".staging-") for p in jobs_dir.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, "staging never seen"
        time.sleep(0.001)
    proc.kill()
    proc.wait()
    left = [p for p in jobs_dir.iterdir() if p.name.startswith(".staging-")]
    assert left  # what the probe found: kill -9 mid-staging leaves the directory
    client = JobsClient(home)  # the next start of a job command cleans it
    assert [p for p in jobs_dir.iterdir() if p.name.startswith(".staging-")] == []
    assert client.search_jobs(filters=[])["jobs"] == []
    # A live creator's staging directory is left alone.
    from jobs.lifecycle.driver import staging_name
    from jobs.lifecycle.reconcile import clean_stale_staging

    mine = jobs_dir / staging_name("x-000000000000")
    mine.mkdir()
    assert clean_stale_staging(client.store) == [] and mine.exists()
    assert integrity(home) == "ok"


def test_concurrent_creates_from_processes(tmp_path, client, home):
    specs = []
    for i in range(4):
        spec = tmp_path / f"spec-{i}.json"
        spec.write_text(json.dumps(request(tmp_path, f"print('job {i}')\n", name=f"conc-{i}")))
        specs.append(spec)
    procs = [subprocess.Popen([sys.executable, "-m", "jobs", "create", "--spec", str(s)], stdout=subprocess.PIPE,
                              text=True) for s in specs]
    arns = [json.loads(p.communicate(timeout=90)[0])["jobArn"] for p in procs]
    assert len(set(arns)) == 4
    for i, arn in enumerate(arns):
        job = wait(client, arn)
        assert job["status"] == "COMPLETED", job.get("failureReason")
        assert f"job {i}" in client.get_job_log(arn).read_text()
        assert_nothing_left(client, arn)


# --- a full disk ------------------------------------------------------------------------------------


@pytest.fixture
def small_home(tmp_path, monkeypatch):
    """QSIM_HOME on an 8 MiB tmpfs (needs root and mount; skipped with the reason otherwise)."""
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {p.stderr.strip()}")
    home = mnt / "home"
    monkeypatch.setenv("QSIM_HOME", str(home))
    try:
        yield home
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(path: Path) -> Path:
    filler = path / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * (64 << 10))
                f.flush()
        except OSError:
            pass
    return filler


def test_full_disk_during_a_job_is_said_and_recorded(tmp_path, small_home):
    client = JobsClient(small_home)
    script = "import sys\nfor i in range(200000):\n    print('x' * 60, i)\n"  # ~13 MB of log on an 8 MiB disk
    arn = client.create_job(**request(tmp_path, script))["jobArn"]
    job = wait(client, arn)
    assert job["status"] == "FAILED"
    reason = job["failureReason"]
    assert f"no space left on device under {small_home}" in reason, reason
    assert "the job log" in reason and "is truncated" in reason and "bytes of output were lost" in reason
    assert "rank 0" in reason and "No space left on device" in reason
    assert client.get_job(jobArn=arn)["status"] == "FAILED"  # reads still work on the full disk
    assert_nothing_left(client, arn)


def test_full_disk_at_create_is_a_user_error(tmp_path, small_home):
    client = JobsClient(small_home)
    filler = _fill(small_home)
    with pytest.raises(StorageFullException) as err:
        client.create_job(**request(tmp_path, "pass\n"))
    assert str(err.value).startswith(f"ServiceQuotaExceededException: no space left on device under {small_home}")
    assert client.search_jobs(filters=[])["jobs"] == []
    assert [p for p in (small_home / "jobs").iterdir()] == []
    assert integrity(small_home) == "ok"
    p = subprocess.run([sys.executable, "-m", "jobs", "create", "--spec", str(_spec(tmp_path))],
                       capture_output=True, text=True, env={**os.environ, "QSIM_HOME": str(small_home)})
    assert p.returncode == 2 and "error: ServiceQuotaExceededException: no space left on device under" in p.stderr
    assert "Traceback" not in p.stderr
    filler.unlink()
    arn = client.create_job(**request(tmp_path, "pass\n"))["jobArn"]
    assert wait(client, arn)["status"] == "COMPLETED"
    assert integrity(small_home) == "ok"


def _spec(tmp_path: Path) -> Path:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(request(tmp_path, "pass\n", name="cli-full")))
    return spec


# A launcher that fails the way MPICH's UCX start-up sometimes does on a loaded host (inside
# MPI_Init, before any rank runs the job's code) for its first `fails` calls, then runs the rank.
FLAKY_LAUNCHER = """#!{python}
import os, sys
if "--version" in sys.argv:  # the launcher's own probe (Open MPI or not)
    sys.exit(0)
calls = int(open({state!r}).read()) if os.path.exists({state!r}) else 0
open({state!r}, "w").write(str(calls + 1))
if calls < {fails}:
    print("Abort(406470671) on node 0: Fatal error in internal_Init_thread: Other MPI error", flush=True)
    sys.exit(15)
args = sys.argv[1:]
program = args[args.index("-n") + 2:]
os.execv(program[0], program)
"""


def flaky_launcher(tmp_path: Path, fails: int) -> tuple[Path, Path]:
    state, launcher = tmp_path / "launches", tmp_path / "flaky" / "mpirun"
    launcher.parent.mkdir()
    launcher.write_text(FLAKY_LAUNCHER.format(python=sys.executable, state=str(state), fails=fails))
    launcher.chmod(0o755)
    return launcher, state


@pytest.mark.parametrize("fails, status, launches", [(2, "COMPLETED", 3), (9, "FAILED", 3)])
def test_mpi_start_up_failure_is_retried(tmp_path, client, monkeypatch, fails, status, launches):
    """MPI failing inside MPI_Init (no rank ran the job's code) starts the ranks again, up to three
    attempts in all; the job's own code then runs once."""
    launcher, state = flaky_launcher(tmp_path, fails)
    monkeypatch.setenv("QSIM_MPIRUN", str(launcher))
    script = "from jobs import save_job_result\nsave_job_result({'ran': 1})\n"
    arn = client.create_job(**request(tmp_path, script))["jobArn"]
    job = wait(client, arn)
    assert job["status"] == status, job.get("failureReason")
    assert int(state.read_text()) == launches
    assert event_types(job).count("RUNNING") == launches
    log = Path(job_row(client, arn).job_dir, "log.txt").read_text()
    assert log.count("MPI failed to start (Fatal error in internal_Init_thread)") == launches - 1
    assert_nothing_left(client, arn)


def test_a_failure_after_start_up_is_not_retried(tmp_path, client, monkeypatch):
    """Once a rank is past MPI_Init the job's code may have run: a failure then is the job's."""
    launcher, state = flaky_launcher(tmp_path, 0)
    monkeypatch.setenv("QSIM_MPIRUN", str(launcher))
    script = "print('Fatal error in internal_Init_thread (the job printed it)')\nraise SystemExit(3)\n"
    job = wait(client, client.create_job(**request(tmp_path, script))["jobArn"])
    assert job["status"] == "FAILED" and int(state.read_text()) == 1
