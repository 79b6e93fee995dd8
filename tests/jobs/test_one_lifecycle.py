"""One lifecycle: the endpoint, the CLI and hand-run jobs go through one driver, and one module
spells the job directory's files.

Static checks read the jobs package's source (ast), so they fail as soon as a module writes a
status or spells a file name of its own; the shared-driver check runs each front end in-process
with the supervisor's spawn replaced (no process is started).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import jobs
from jobs.errors import ConflictException
from jobs.lifecycle import driver, supervisor
from jobs.store import layout
from tests.jobs.conftest import request

PACKAGE = Path(jobs.__file__).parent
# (module, name): a name that is spelled elsewhere on purpose, with the reason.
ALLOWED = {
    # A quantum task's result object in the local S3, named as the Braket service writes it
    # (<prefix>/<task id>/results.json): not a file of any job directory.
    ("endpoint/tasks.py", "results.json"),
}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(), str(path))


def _docstrings(tree) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def test_no_module_but_the_layout_spells_a_job_file():
    names = set(layout.NAMES)
    assert {"job.json", "log.txt", "no-start", "processes.json", "results.json"} <= names
    found = []
    for rel, tree in _modules():
        if rel == "store/layout.py":
            continue
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
                parts = set(node.value.split("/")) | {node.value}
                for name in sorted(parts & names):
                    if (rel, name) not in ALLOWED:
                        found.append(f"jobs/{rel}:{node.lineno}: {node.value!r}")
    assert found == [], "job-directory names spelled outside jobs/store/layout.py:\n" + "\n".join(found)


def test_only_the_driver_writes_a_jobs_status_or_events():
    writers = {"transition", "add_event", "insert"}
    found = []
    for rel, tree in _modules():
        if rel in ("lifecycle/driver.py", "store/db.py"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in writers:
                receiver = ast.unparse(node.func.value)
                if node.func.attr != "insert" or receiver.endswith("store"):
                    found.append(f"jobs/{rel}:{node.lineno}: {ast.unparse(node.func)}")
    assert found == [], "job state written outside jobs/lifecycle/driver.py:\n" + "\n".join(found)


def _spy(calls: list, phase: list, name: str, func):
    def spy(*args, **kwargs):
        calls.append((name, phase[0]))
        return func(*args, **kwargs)

    return spy


def test_endpoint_cli_and_exec_share_the_driver(tmp_path, home, monkeypatch, capsys):
    from jobs import cli
    from jobs.client import JobsClient
    from jobs.endpoint.server import Endpoint

    calls, phase = [], ["endpoint"]
    for name in ("create", "cancel", "claim", "stage", "finish"):
        monkeypatch.setattr(driver, name, _spy(calls, phase, name, getattr(driver, name)))
    monkeypatch.setattr(supervisor, "spawn", lambda home, job_id: None)  # nothing is started

    braket = Endpoint(home).handlers["braket"]
    arn = braket.CreateJob(**request(tmp_path, name="via-endpoint"))["jobArn"]
    assert braket.CancelJob(jobArn=arn)["cancellationStatus"] == "CANCELLING"

    phase[0] = "cli"
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(request(tmp_path, name="via-cli")))
    assert cli.main(["create", "--spec", str(spec), "--no-start"]) == 0
    arn = json.loads(capsys.readouterr().out)["jobArn"]
    assert cli.main(["cancel", arn]) == 0
    assert json.loads(capsys.readouterr().out)["cancellationStatus"] == "CANCELLED"

    phase[0] = "exec"  # rank 0 of `mpirun ... job exec --spec`: the lifecycle part, without ranks
    spec.write_text(json.dumps(request(tmp_path, name="via-exec")))
    client = JobsClient(home)
    job_dir = client.claim_for_hand_run(spec=str(spec))
    assert driver.finish_by_hand(client.store, Path(job_dir), 0) == "COMPLETED"

    assert calls == [("create", "endpoint"), ("cancel", "endpoint"), ("create", "cli"), ("cancel", "cli"),
                     ("create", "exec"), ("claim", "exec"), ("stage", "exec"), ("finish", "exec")]
    statuses = {j["jobName"]: j["status"] for j in client.search_jobs(filters=[])["jobs"]}
    assert statuses == {"via-endpoint": "CANCELLING", "via-cli": "CANCELLED", "via-exec": "COMPLETED"}


def test_exec_by_hand_refuses_a_job_its_supervisor_will_run(tmp_path, client, monkeypatch):
    """A QUEUED job whose supervisor has not claimed it yet is not a --no-start job: run by hand it
    would have two supervisors (the late one then recorded it CANCELLED while the ranks ran)."""
    monkeypatch.setattr(supervisor, "spawn", lambda home, job_id: None)  # the supervisor is slow to start
    arn = client.create_job(**request(tmp_path))["jobArn"]
    with pytest.raises(ConflictException, match="only a QUEUED job that has no supervisor"):
        client.claim_for_hand_run(arn=arn)
    row = client.store.get(arn.split(":job/", 1)[1])
    assert row.status == "QUEUED" and row.supervisor_pid is None


def test_front_ends_reach_the_lifecycle_through_the_api():
    """The CLI and the endpoint import no lifecycle step: they call JobsClient, as users do."""
    steps = {"jobs.lifecycle.driver", "jobs.lifecycle.supervisor", "jobs.lifecycle.reconcile"}
    found = []
    for rel, tree in _modules():
        if rel != "cli.py" and not rel.startswith("endpoint/"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                names = {a.name for a in node.names}
            else:
                continue
            found += [f"jobs/{rel}:{node.lineno}: {n}" for n in sorted(names & steps)]
    assert found == [], "front ends importing a lifecycle step:\n" + "\n".join(found)
