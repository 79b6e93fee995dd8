"""Hybrid jobs through the endpoint with the unchanged Braket SDK: AwsQuantumJob.create and
@hybrid_job round trips, logs, metrics, cancel, a server restart mid-job, and the SV1-style example
created both through the endpoint and with ``python -m qsim job create``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import boto3
import numpy as np
import pytest
from braket.aws import AwsQuantumJob
from braket.jobs import hybrid_job

from tests.endpoint.conftest import wait_for

SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "jobs" / "sv1_style"
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")


def finished(job, timeout=120):
    wait_for(lambda: job.state() in TERMINAL, timeout, 0.2, f"{job.arn} to end")
    return job.state()


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "qsim", "job", *args], capture_output=True, text=True, env=env,
                          timeout=180)


def cli_json(*args):
    done = cli(*args)
    assert done.returncode == 0, (args, done.returncode, done.stderr)
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def launched(endpoint, tmp_path_factory):
    """Every job of the round-trip tests, all created before any is awaited (and one by the CLI in
    the background), so that they run side by side."""

    tmp = tmp_path_factory.mktemp("jobs")
    out = {}
    spec = json.loads((EXAMPLE / "job.json").read_text())
    spec["algorithmSpecification"]["scriptModeConfig"]["s3Uri"] = str(EXAMPLE / "src" / "vqe_sv1.py")
    spec["outputDataConfig"]["s3Path"] = str(tmp / "outputs")
    spec["hyperParameters"]["iterations"] = "1"
    (tmp / "job.json").write_text(json.dumps(spec))
    cli_create = subprocess.Popen([sys.executable, "-m", "qsim", "job", "create", "--spec", str(tmp / "job.json")],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    src = tmp / "algo"
    src.mkdir()
    (src / "__init__.py").write_text("")
    (src / "train.py").write_text(textwrap.dedent("""
        import json, os
        from braket.jobs import get_hyperparameters, get_input_data_dir, save_job_result
        from braket.jobs.metrics import log_metric
        hp = get_hyperparameters()
        with open(os.path.join(get_input_data_dir("numbers"), "numbers.json")) as f:
            numbers = json.load(f)
        print("hello from the job", flush=True)
        for i, x in enumerate(numbers):
            log_metric(metric_name="value", value=x * float(hp["scale"]), iteration_number=i)
        save_job_result({"total": sum(numbers) * float(hp["scale"])})
    """))
    data = tmp / "numbers.json"
    data.write_text("[1, 2, 3]")
    gate = tmp / "go"  # the restart test's job: it waits for this file, then creates a task
    script = tmp / "waits.py"
    script.write_text(textwrap.dedent(f"""
        import os, time
        from braket.aws import AwsDevice
        from braket.circuits import Circuit
        from braket.jobs import save_job_result
        while not os.path.exists({str(gate)!r}):
            time.sleep(0.1)
        probs = AwsDevice(os.environ["AMZN_BRAKET_DEVICE_ARN"]).run(Circuit().h(0).probability(), shots=0)
        save_job_result({{"p": probs.result().values[0].tolist()}})
    """))
    # One after another: the SDK's entry-point check appends the source's folder to sys.path and then
    # pops the *last* entry, so creates from several threads remove each other's folders. The jobs
    # still run side by side (wait_until_complete=False).
    out["sdk_example"] = AwsQuantumJob.create(device=SV1, source_module=str(EXAMPLE / "src" / "vqe_sv1.py"),
                                              hyperparameters={"iterations": 1}, wait_until_complete=False)
    out["round_trip"] = AwsQuantumJob.create(device=SV1, source_module=str(src), entry_point="algo.train",
                                             hyperparameters={"scale": 2}, input_data={"numbers": str(data)},
                                             tags={"project": "endpoint"}, wait_until_complete=False)
    out["gated"] = (AwsQuantumJob.create(device=SV1, source_module=str(script), wait_until_complete=False), gate)

    @hybrid_job(device="local:qsim/statevector", wait_until_complete=False)
    def bell_job(shots=100):
        from braket.circuits import Circuit
        from braket.devices import LocalSimulator
        from braket.jobs.metrics import log_metric

        counts = LocalSimulator("qsim").run(Circuit().h(0).cnot(0, 1), shots=shots).result().measurement_counts
        log_metric(metric_name="agree", value=counts["00"] + counts["11"], iteration_number=0)
        return {"counts": dict(counts)}

    @hybrid_job(device=SV1, wait_until_complete=False)
    def sleeper():
        import time

        time.sleep(120)

    out["bell"] = bell_job(shots=50)
    out["sleeper"] = sleeper()
    stdout, stderr = cli_create.communicate(timeout=180)
    assert cli_create.returncode == 0, stderr
    out["cli_example"] = json.loads(stdout)["jobArn"]
    return out


def test_sv1_style_example_through_the_endpoint_and_the_cli(launched):
    """The example's ``AwsDevice(os.environ["AMZN_BRAKET_DEVICE_ARN"])`` runs its tasks on the
    endpoint in both cases, with nothing set up by the user inside the job."""
    sdk_job, cli_arn = launched["sdk_example"], launched["cli_example"]
    assert finished(sdk_job) == "COMPLETED", sdk_job.metadata().get("failureReason")
    result = sdk_job.result()
    assert result["device"] == "SV1"
    # One parameter-shift step from (0.3, -0.2) at rate 0.4, recomputed with Braket's own simulator.
    sys.path.insert(0, str(EXAMPLE / "src"))
    try:
        import vqe_sv1
    finally:
        sys.path.pop(0)
    from braket.devices import LocalSimulator

    reference = LocalSimulator("braket_sv")
    p0, grad = np.array([0.3, -0.2]), np.zeros(2)
    for k in range(2):
        shift = np.pi / 2 * np.eye(2)[k]
        grad[k] = (vqe_sv1.energy(reference, p0 + shift, 0) - vqe_sv1.energy(reference, p0 - shift, 0)) / 2
    assert result["params"] == pytest.approx((p0 - 0.4 * grad).tolist(), abs=1e-12)
    assert result["energy"] == pytest.approx(vqe_sv1.energy(reference, p0 - 0.4 * grad, 0), abs=1e-12)
    assert sdk_job.metrics()["energy"] == pytest.approx([result["energy"]], abs=1e-12)
    tasks = sdk_job.get_tasks()  # the job's tasks are the endpoint's, tied to the job by its token
    assert len(tasks) == 5 and all(t.state() == "COMPLETED" for t in tasks)

    wait_for(lambda: cli_json("get", cli_arn)["status"] in TERMINAL, 120, 0.3, "the CLI job")
    job = cli_json("get", cli_arn)
    assert job["status"] == "COMPLETED", job.get("failureReason")
    cli_result = cli_json("result", cli_arn)
    assert cli_result["device"] == "SV1"
    assert cli_result["energy"] == pytest.approx(result["energy"], abs=1e-12)  # exact results both ways
    arn = cli_arn.replace(":local:", ":us-east-1:")
    by_job = boto3.client("braket").search_quantum_tasks(
        filters=[{"name": "jobArn", "operator": "EQUAL", "values": [arn]}])
    assert len(by_job["quantumTasks"]) == 5


def test_aws_quantum_job_round_trip_with_input_data_logs_and_tags(launched, capsys):
    job = launched["round_trip"]
    assert job.arn.startswith("arn:aws:braket:us-east-1:000000000000:job/")
    job.logs(wait=True, poll_interval_seconds=0.2)
    assert "hello from the job" in capsys.readouterr().out
    assert job.state() == "COMPLETED", job.metadata().get("failureReason")
    assert job.result() == {"total": 12.0}
    assert job.metrics()["value"] == [2.0, 4.0, 6.0]
    md = job.metadata()
    assert md["hyperParameters"]["scale"] == "2" and md["deviceConfig"]["device"] == SV1
    assert md["algorithmSpecification"]["scriptModeConfig"]["s3Uri"].startswith("s3://amazon-braket-us-east-1-")
    braket = boto3.client("braket")
    assert braket.list_tags_for_resource(resourceArn=job.arn)["tags"] == {"project": "endpoint"}
    names = [j["jobName"] for j in braket.search_jobs(filters=[{"name": "jobArn", "operator": "EQUAL",
                                                                  "values": [job.arn]}])["jobs"]]
    assert names == [job.name]
    every = [j["jobArn"] for j in braket.search_jobs(filters=[])["jobs"]]
    pages = list(braket.get_paginator("search_jobs").paginate(filters=[], PaginationConfig={"PageSize": 2}))
    assert len(pages) >= 3 and [j["jobArn"] for p in pages for j in p["jobs"]] == every


def test_hybrid_job_decorator_and_cancel(launched):
    job, slow = launched["bell"], launched["sleeper"]
    wait_for(lambda: slow.state() == "RUNNING", 60, 0.2, "the sleeper to run")
    assert slow.cancel() in ("CANCELLING", "CANCELLED")
    assert finished(slow) == "CANCELLED"
    assert finished(job) == "COMPLETED", job.metadata().get("failureReason")
    counts = job.result()["counts"]
    assert sum(counts.values()) == 50 and set(counts) <= {"00", "11"}
    assert job.metrics()["agree"] == [50.0]


def test_restart_mid_job_loses_nothing(endpoint, launched):
    job, gate = launched["gated"]
    before = {j["jobArn"] for j in boto3.client("braket").search_jobs(filters=[])["jobs"]}
    wait_for(lambda: job.state() == "RUNNING", 60, 0.2, "the job to run")
    braket = boto3.client("braket")
    action = json.dumps({"braketSchemaHeader": {"name": "braket.ir.openqasm.program", "version": "1"},
                         "source": "OPENQASM 3.0;\nqubit[3] q;\nh q[0];\n#pragma braket result probability q[0]"})
    bucket = f"amazon-braket-us-east-1-{boto3.client('sts').get_caller_identity()['Account']}"
    tasks = [braket.create_quantum_task(action=action, deviceArn=SV1, shots=0, outputS3Bucket=bucket,
                                        outputS3KeyPrefix="restart")["quantumTaskArn"] for _ in range(4)]
    endpoint.stop()  # tasks may be queued, running or done: none may be lost
    endpoint.start()
    assert job.state() == "RUNNING"  # the job went on while the endpoint was down
    braket = boto3.client("braket")
    for arn in tasks:
        wait_for(lambda: braket.get_quantum_task(quantumTaskArn=arn)["status"] == "COMPLETED", 60, 0.1,
                 f"task {arn}")
        key = braket.get_quantum_task(quantumTaskArn=arn)["outputS3Directory"] + "/results.json"
        body = json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
        assert body["resultTypes"][0]["value"] == pytest.approx([0.5, 0.5], abs=1e-12)
    gate.write_text("")
    assert finished(job) == "COMPLETED", job.metadata().get("failureReason")
    assert job.result()["p"] == pytest.approx([0.5, 0.5], abs=1e-12)
    after = {j["jobArn"] for j in boto3.client("braket").search_jobs(filters=[])["jobs"]}
    assert before <= after and job.arn in after
    assert len(job.get_tasks()) == 1
