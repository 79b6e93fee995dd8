"""The examples under examples/jobs run as written (outputs redirected to tmp_path)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.jobs.conftest import assert_no_processes, wait

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "jobs"


def _create(client, tmp_path, name, **hyperparameters):
    spec_path = EXAMPLES / name / "job.json"
    spec = json.loads(spec_path.read_text())
    spec["outputDataConfig"]["s3Path"] = str(tmp_path / "out")
    if "checkpointConfig" in spec:
        spec["checkpointConfig"]["s3Uri"] = str(tmp_path / "ckpt")
    spec.setdefault("hyperParameters", {}).update(hyperparameters)
    return client.create(spec, base_dir=spec_path.parent), spec


@pytest.mark.timeout(60)
def test_braket_style_script_uses_only_the_contract(tmp_path, client):
    source = (EXAMPLES / "braket_style" / "src" / "estimate.py").read_text()
    imports = [ln for ln in source.splitlines() if ln.startswith(("import ", "from "))]
    assert all(ln.split()[1] in ("json", "os", "random", "time") for ln in imports), imports
    arn, spec = _create(client, tmp_path, "braket_style")
    job = wait(client, arn)
    assert job["status"] == "COMPLETED", job.get("failureReason")
    result = client.get_job_result(arn)
    assert result["ranks"] == 2 and result["samples"] == 40000 and abs(result["pi"] - 3.14159) < 0.05
    assert len(client.get_job_metrics(arn)["pi_estimate"]) == 8
    assert_no_processes(client, arn)


@pytest.mark.timeout(170)
def test_qaoa_example_on_two_ranks_with_checkpoints(tmp_path, client):
    arn, spec = _create(client, tmp_path, "qaoa", iterations="3")
    assert spec["instanceConfig"]["instanceCount"] == 2
    job = wait(client, arn, timeout=160)
    assert job["status"] == "COMPLETED", job.get("failureReason")
    result = client.get_job_result(arn)
    assert result["best_cut"] == 8 and result["iterations"] == 3 and 0 < result["expected_cut"] <= 8
    assert client.get_job_metrics(arn)["iteration_number"] == [0, 1, 2]
    ckpt = json.loads((tmp_path / "ckpt" / "qaoa-maxcut.json").read_text())
    assert ckpt["dataDictionary"]["iteration"] == 3
    # A second job with the same checkpoint location resumes where the first stopped.
    arn2, _ = _create(client, tmp_path, "qaoa", iterations="4")
    job2 = wait(client, arn2, timeout=160)
    assert job2["status"] == "COMPLETED", job2.get("failureReason")
    assert "resuming from checkpoint at iteration 3" in client.get_job_log(arn2).read_text()
    assert client.get_job_metrics(arn2)["iteration_number"] == [3]
