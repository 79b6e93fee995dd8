"""The command line: `python -m jobs ...` (the same handlers as `python -m qsim job ...`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from jobs.client import JobsClient
from qsim.launch import find_mpirun
from tests.jobs.conftest import request, wait

pytestmark = pytest.mark.timeout(120)


def run(home, *args, check=False):
    env = {**os.environ, "QSIM_HOME": str(home)}
    p = subprocess.run([sys.executable, "-m", "jobs", *args], capture_output=True, text=True, env=env, timeout=90)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def spec_file(tmp_path, script, **kw):
    req = request(tmp_path, script, **kw)
    # Paths in a spec are relative to the spec file.
    code = req["algorithmSpecification"]["scriptModeConfig"]["s3Uri"]
    req["algorithmSpecification"]["scriptModeConfig"]["s3Uri"] = os.path.relpath(code, tmp_path)
    req["outputDataConfig"]["s3Path"] = "out"
    path = tmp_path / f"{req['jobName']}.json"
    path.write_text(json.dumps(req))
    return path


def test_create_wait_get_logs_result_metrics(tmp_path, home):
    script = ("from jobs import log_metric, save_job_result\n"
              "for i in range(3):\n    log_metric('cost', 1.0 / (i + 1), iteration_number=i)\n"
              "save_job_result({'best': 0.333})\n")
    p = run(home, "create", "--spec", str(spec_file(tmp_path, script, instances=2)), "--wait")
    assert p.returncode == 0, p.stderr
    job = json.loads(p.stdout)
    assert job["status"] == "COMPLETED"
    assert "RUNNING" in p.stderr and "COMPLETED" in p.stderr and "[1] Metrics - " in p.stderr
    arn = job["jobArn"]
    assert (tmp_path / "out" / arn.split(":job/", 1)[1] / "output" / "model.tar.gz").exists()
    assert json.loads(run(home, "get", arn, check=True).stdout)["jobArn"] == arn
    assert json.loads(run(home, "get", "test-job", check=True).stdout)["jobArn"] == arn
    assert "[0] Metrics - " in run(home, "logs", arn, check=True).stdout
    assert "[1] Metrics - " in run(home, "logs", arn, "--follow", check=True).stdout
    assert json.loads(run(home, "result", arn, check=True).stdout) == {"best": 0.333}
    table = run(home, "metrics", arn, check=True).stdout.splitlines()
    assert table[0].split() == ["timestamp", "iteration_number", "node_id", "cost"] and len(table) == 7
    cols = json.loads(run(home, "metrics", arn, "--json", check=True).stdout)
    # two ranks' lines interleave in the log in whatever order they arrive: compare per node
    rows = sorted(zip(cols["node_id"], cols["iteration_number"], cols["cost"]))
    assert rows == [(node, i, 1.0 / (i + 1)) for node in ("0", "1") for i in range(3)]
    import matplotlib  # noqa: F401  (a test dependency: the plot path must run)
    png = tmp_path / "m.png"
    run(home, "metrics", arn, "--plot", str(png), check=True)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    found = json.loads(run(home, "search", "--status", "COMPLETED", check=True).stdout)
    assert [j["jobArn"] for j in found["jobs"]] == [arn]


def test_wait_exits_non_zero_on_failure(tmp_path, home):
    p = run(home, "create", "--spec", str(spec_file(tmp_path, "raise KeyError('boom')\n")), "--wait", "--quiet")
    assert p.returncode == 1
    assert json.loads(p.stdout)["failureReason"] == "KeyError: 'boom'"
    assert "failureReason: KeyError: 'boom'" in p.stderr


def test_logs_follow_until_the_job_ends(tmp_path, home):
    spec = spec_file(tmp_path, "import time\nfor i in range(3):\n    print('tick', i, flush=True)\n    time.sleep(0.3)\n")
    arn = json.loads(run(home, "create", "--spec", str(spec), check=True).stdout)["jobArn"]
    out = run(home, "logs", arn, "--follow", check=True).stdout
    assert [ln for ln in out.splitlines() if ln.startswith("tick")] == ["tick 0", "tick 1", "tick 2"]


def test_cancel_from_cli(tmp_path, home):
    spec = spec_file(tmp_path, "import time\ntime.sleep(300)\n")
    arn = json.loads(run(home, "create", "--spec", str(spec), check=True).stdout)["jobArn"]
    assert json.loads(run(home, "cancel", arn, check=True).stdout)["cancellationStatus"] == "CANCELLING"
    assert wait(JobsClient(home), arn)["status"] == "CANCELLED"


@pytest.mark.parametrize("args,message", [
    (["get", "arn:aws:braket:local:000000000000:job/nope"], "ResourceNotFoundException: no job"),
    (["create", "--spec", "/no/such/spec.json"], "/no/such/spec.json"),
    (["search", "--max-results", "0"], "maxResults: must be >= 1"),
])
def test_bad_input_is_one_line_without_traceback(home, args, message):
    p = run(home, *args)
    assert p.returncode == 2
    assert message in p.stderr and len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


def test_bad_spec_names_the_field(tmp_path, home):
    spec = spec_file(tmp_path, "pass\n")
    req = json.loads(spec.read_text())
    req["jobName"] = "no_underscores"
    spec.write_text(json.dumps(req))
    p = run(home, "create", "--spec", str(spec))
    assert p.returncode == 2 and p.stderr.strip() == (
        "error: ValidationException: jobName: 'no_underscores' does not match the pattern "
        "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,50} (whole value)")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    p = run(home, "create", "--spec", str(bad))
    assert p.returncode == 2 and "is not valid JSON" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.parametrize("form", ["spec", "no-start"])
def test_exec_by_hand_under_mpirun(tmp_path, home, form):
    script = ("import os\nfrom jobs import save_job_result, log_metric\n"
              "log_metric('x', 1.0, iteration_number=int(os.environ['PMI_RANK']))\n"
              "save_job_result({'ranks': os.environ['OMPI_COMM_WORLD_SIZE']})\n")
    spec = spec_file(tmp_path, script, instances=2)
    env = {**os.environ, "QSIM_HOME": str(home)}
    if form == "spec":
        target = ["--spec", str(spec)]
    else:
        arn = json.loads(run(home, "create", "--spec", str(spec), "--no-start", check=True).stdout)["jobArn"]
        assert JobsClient(home).get_job(jobArn=arn)["status"] == "QUEUED"
        target = [arn]
    # Both documented spellings of the in-rank runner: qsim's CLI and the jobs package's own.
    command = ["-m", "qsim", "job", "exec"] if form == "spec" else ["-m", "jobs", "exec"]
    p = subprocess.run([find_mpirun(), "-n", "2", sys.executable, *command, *target], capture_output=True,
                       text=True, env=env, timeout=90)
    assert p.returncode == 0, p.stderr + p.stdout
    assert "[0] Metrics - " in p.stdout and "[1] Metrics - " in p.stdout  # also shown on the terminal
    client = JobsClient(home)
    arn = client.search_jobs(filters=[])["jobs"][0]["jobArn"]
    job = client.get_job(jobArn=arn)
    assert job["status"] == "COMPLETED" and job["events"][-1]["eventType"] == "COMPLETED"
    assert client.get_job_result(arn) == {"ranks": "2"}
    assert len(client.get_job_metrics(arn)["x"]) == 2


def test_exec_by_hand_refuses_a_supervised_job(tmp_path, home):
    arn = json.loads(run(home, "create", "--spec", str(spec_file(tmp_path, "pass\n")), check=True).stdout)["jobArn"]
    wait(JobsClient(home), arn)
    p = run(home, "exec", arn)
    assert p.returncode == 2 and "only a QUEUED job" in p.stderr


def test_register_adds_job_command():
    import argparse

    from jobs.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["job", "get", "some-arn"])
    assert args.func.__name__ == "cmd_get" and args.arn == "some-arn"


def test_wait_progress_counts_every_rank(tmp_path):
    """`--wait`'s progress line counts instances x processes per instance (it said instances)."""
    from jobs.cli import _phase

    log = tmp_path / "log.txt"
    log.write_text("[qsim-jobs] launching: mpirun ...\n")
    job = {"status": "RUNNING", "events": [{"eventType": "RUNNING"}],
           "instanceConfig": {"instanceType": "ml.m5.large", "volumeSizeInGb": 1, "instanceCount": 2},
           "hyperParameters": {"sagemaker_mpi_num_of_processes_per_host": "3"}}
    assert _phase(job, log).startswith("starting 6 rank(s): importing Python packages")
