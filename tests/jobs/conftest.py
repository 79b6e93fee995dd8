"""Shared helpers for the jobs tests: a QSIM_HOME per test, request builders, waiting, leak checks.

Scripts here use only the standard library (and ``jobs``), never qsim's simulator, so a job costs
about half a second; each rank runs ``python -m jobs.runtime`` (what the supervisor's launcher starts).
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest

from jobs.lifecycle import processes
from jobs.client import JobsClient

ROLE = "arn:aws:iam::000000000000:role/local-tests"


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "qsim-home"
    monkeypatch.setenv("QSIM_HOME", str(h))
    monkeypatch.setenv("QSIM_JOBS_KILL_GRACE", "1")
    return h


@pytest.fixture
def client(home):
    return JobsClient(home)


def write_code(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return root


def request(tmp_path: Path, script: str | None = None, *, entry: str = "script", name: str = "test-job",
            instances: int = 1, files: dict | None = None, **extra) -> dict:
    """A valid CreateJob request running ``script`` (as script.py) from a code directory."""
    code = write_code(tmp_path / f"code-{name}-{time.monotonic_ns()}", files or {"script.py": script or "pass\n"})
    req = {
        "jobName": name,
        "roleArn": ROLE,
        "algorithmSpecification": {"scriptModeConfig": {"entryPoint": entry, "s3Uri": str(code)}},
        "outputDataConfig": {"s3Path": str(tmp_path / "out")},
        "instanceConfig": {"instanceType": "ml.m5.large", "volumeSizeInGb": 1, "instanceCount": instances},
        "deviceConfig": {"device": "local:qsim/statevector"},
    }
    req.update(extra)
    return req


def wait(client: JobsClient, arn: str, timeout: float = 60) -> dict:
    return client.wait_for_job(arn, timeout=timeout, poll=0.1)


def wait_status(client: JobsClient, arn: str, status: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get_job(jobArn=arn)
        if job["status"] == status:
            return job
        time.sleep(0.05)
    raise AssertionError(f"{arn} never reached {status}; last {job['status']}")


def wait_for_file(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.05)


def job_row(client: JobsClient, arn: str):
    return client.store.get(arn.split(":job/", 1)[1])


def assert_no_processes(client: JobsClient, arn: str) -> None:
    """Nothing of the job is left: not the launcher's group, no marked process, no supervisor."""
    row = job_row(client, arn)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = processes.job_processes(row.job_id)
        if not left and not processes.group_alive(row.launcher_pgid) and not processes.alive(
                row.supervisor_pid, row.supervisor_start):
            return
        time.sleep(0.05)
    raise AssertionError(f"processes left behind: {left}, group {row.launcher_pgid}, "
                         f"supervisor {row.supervisor_pid}")


def event_types(job: dict) -> list[str]:
    return [e["eventType"] for e in job["events"]]


def event_flow(job: dict) -> list[str]:
    """``event_types`` with a repeated RUNNING collapsed: the supervisor starts the ranks again when
    MPI fails inside MPI_Init (each start is a RUNNING event), which the MPICH wheel's UCX does
    now and then; tests of the lifecycle's shape should not depend on that."""
    flow = event_types(job)
    return [t for i, t in enumerate(flow) if not (t == "RUNNING" and i and flow[i - 1] == "RUNNING")]


def results(client: JobsClient, arn: str) -> dict:
    return client.get_job_result(arn)


def read_json(path: Path):
    return json.loads(Path(path).read_text())
