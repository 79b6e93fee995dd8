"""clientToken idempotency (threads and processes), state that outlives its creator, crash reconciliation."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from jobs.client import JobsClient
from jobs.errors import ConflictException
from tests.jobs.conftest import assert_no_processes, job_row, request, wait, wait_for_file

pytestmark = pytest.mark.timeout(120)


def test_same_token_same_request_returns_same_job(tmp_path, client):
    req = request(tmp_path, "pass\n", clientToken="tok-1")
    a = client.create_job(**req)["jobArn"]
    b = client.create_job(**req)["jobArn"]
    assert a == b
    with pytest.raises(ConflictException, match="tok-1"):
        client.create_job(**{**req, "hyperParameters": {"x": "1"}})
    wait(client, a)
    assert len(client.search_jobs(filters=[])["jobs"]) == 1
    assert len(list((client.home / "jobs").iterdir())) == 1


def test_missing_token_is_filled_in(tmp_path, client):
    req = request(tmp_path, "pass\n")
    a = client.create_job(**req)["jobArn"]
    b = client.create_job(**req)["jobArn"]
    assert a != b
    wait(client, a), wait(client, b)


def test_concurrent_creates_in_threads_make_one_job(tmp_path, client):
    req = request(tmp_path, "pass\n", clientToken="threads")
    arns, errors = [], []
    barrier = threading.Barrier(8)

    def create():
        barrier.wait()
        try:
            arns.append(JobsClient(client.home).create_job(**req)["jobArn"])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(arns)) == 1 and len(arns) == 8
    wait(client, arns[0])
    assert len(client.search_jobs(filters=[])["jobs"]) == 1
    assert len(list((client.home / "jobs").iterdir())) == 1


def _create_in_process(home, req, start, queue):
    os.environ["QSIM_HOME"] = str(home)
    while time.time() < start:
        time.sleep(0.001)
    try:
        queue.put(JobsClient(home).create_job(**req)["jobArn"])
    except Exception as e:
        queue.put(f"error: {e}")


def test_concurrent_creates_in_processes_make_one_job(tmp_path, client):
    req = request(tmp_path, "pass\n", clientToken="processes")
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    start = time.time() + 1.5
    procs = [ctx.Process(target=_create_in_process, args=(client.home, req, start, queue)) for _ in range(4)]
    for p in procs:
        p.start()
    arns = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join()
    assert len(set(arns)) == 1 and arns[0].startswith("arn:aws:braket:local:"), arns
    wait(client, arns[0])
    assert len(client.search_jobs(filters=[])["jobs"]) == 1


def test_state_outlives_the_creating_process(tmp_path, client, home):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(request(tmp_path, "print('from a dead parent')\n")))
    out = subprocess.run([sys.executable, "-m", "jobs", "create", "--spec", str(spec)], capture_output=True,
                         text=True, check=True, env={**os.environ, "QSIM_HOME": str(home)})
    arn = json.loads(out.stdout)["jobArn"]
    job = wait(JobsClient(home), arn)
    assert job["status"] == "COMPLETED"
    assert "from a dead parent" in client.get_job_log(arn).read_text()


@pytest.mark.parametrize("instances", [1, 2])
def test_crashed_supervisor_is_reconciled_to_failed(tmp_path, client, instances):
    script = ("import os, pathlib, time\n"
              "pathlib.Path(os.environ['AMZN_BRAKET_JOB_RESULTS_DIR'], 'started-' + os.environ['PMI_RANK']).touch()\n"
              "time.sleep(300)\n")
    arn = client.create_job(**request(tmp_path, script, instances=instances))["jobArn"]
    root = client.get_job_log(arn).parent
    for r in range(instances):
        wait_for_file(root / "model" / f"started-{r}")
    row = job_row(client, arn)
    os.kill(row.supervisor_pid, signal.SIGKILL)
    deadline = time.time() + 10
    while time.time() < deadline:
        job = client.get_job(jobArn=arn)
        if job["status"] == "FAILED":
            break
        time.sleep(0.1)
    assert job["status"] == "FAILED"
    assert "supervisor" in job["failureReason"] and "crashed or was killed" in job["failureReason"]
    assert job["events"][-1]["eventType"] == "FAILED"
    assert_no_processes(client, arn)


def test_search_filters_and_pages(tmp_path, client):
    arns = [client.create_job(**request(tmp_path, "pass\n", name=f"s{i}"))["jobArn"] for i in range(3)]
    for a in arns:
        wait(client, a)
    page = client.search_jobs(filters=[], maxResults=2)
    assert len(page["jobs"]) == 2 and "nextToken" in page
    rest = client.search_jobs(filters=[], maxResults=2, nextToken=page["nextToken"])
    assert len(rest["jobs"]) == 1 and "nextToken" not in rest
    assert {j["jobArn"] for j in page["jobs"] + rest["jobs"]} == set(arns)
    summary = rest["jobs"][0]
    assert set(summary) == {"status", "jobArn", "jobName", "device", "createdAt", "startedAt", "endedAt"}
    one = client.search_jobs(filters=[{"name": "jobArn", "operator": "EQUAL", "values": [arns[1]]}])["jobs"]
    assert [j["jobArn"] for j in one] == [arns[1]]
    created = client.get_job(jobArn=arns[1])["createdAt"]
    after = client.search_jobs(filters=[{"name": "createdAt", "operator": "GT",
                                         "values": [created.isoformat()]}])["jobs"]
    assert [j["jobName"] for j in after] == ["s2"]
    between = client.search_jobs(filters=[{"name": "createdAt", "operator": "BETWEEN",
                                           "values": ["0", str(created.timestamp())]}])["jobs"]
    assert sorted(j["jobName"] for j in between) == ["s0", "s1"]
    contains = client.search_jobs(filters=[{"name": "jobArn", "operator": "CONTAINS", "values": ["job/s0-"]}])
    assert [j["jobName"] for j in contains["jobs"]] == ["s0"]


def test_get_job_shape(tmp_path, client):
    req = request(tmp_path, "pass\n", tags={"team": "q"}, hyperParameters={"a": "b"})
    arn = client.create_job(**req)["jobArn"]
    job = wait(client, arn)
    required = {"status", "jobArn", "roleArn", "jobName", "outputDataConfig", "algorithmSpecification",
                "instanceConfig", "createdAt"}
    assert required <= set(job)
    assert job["tags"] == {"team": "q"} and job["hyperParameters"] == {"a": "b"}
    assert job["instanceConfig"]["instanceCount"] == 1
    assert job["stoppingCondition"] == {"maxRuntimeInSeconds": 432000}
    assert "clientToken" not in job
    assert job["createdAt"].tzinfo is not None
    assert all(set(e) == {"eventType", "timeOfEvent", "message"} for e in job["events"])
