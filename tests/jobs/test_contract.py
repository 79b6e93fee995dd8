"""The runtime contract, checked from inside every rank: AMZN_BRAKET_*, SM_*, files and directories.

The job runs 2 instances x 2 processes per instance = 4 ranks on this 2-core machine (hydra
oversubscribes). The script asserts the contract itself (a failure becomes failureReason) and
writes what it saw to the results directory, which the test checks again from outside.
"""

from __future__ import annotations

import json
import tarfile

import pytest

from tests.jobs.conftest import assert_no_processes, request, wait, write_code

pytestmark = pytest.mark.timeout(90)

CHECKER = r'''
import json, os, sys
from pathlib import Path

env = os.environ
rank, size = int(env["OMPI_COMM_WORLD_RANK"]), int(env["OMPI_COMM_WORLD_SIZE"])
assert size == 4, size
assert env["PMI_RANK"] == str(rank)
names = ["JOB_NAME", "DEVICE_ARN", "JOB_RESULTS_DIR", "CHECKPOINT_DIR", "HP_FILE", "INPUT_DIR", "OUT_S3_BUCKET",
         "TASK_RESULTS_S3_URI", "JOB_RESULTS_S3_PATH", "SCRIPT_S3_URI", "SCRIPT_ENTRY_POINT",
         "SCRIPT_COMPRESSION_TYPE", "JOB_TOKEN"]
amzn = {n: env["AMZN_BRAKET_" + n] for n in names}
assert amzn["JOB_NAME"] == "contract"
assert amzn["DEVICE_ARN"] == "local:acme/fancy-sim"
assert amzn["SCRIPT_ENTRY_POINT"] == "check" and amzn["SCRIPT_COMPRESSION_TYPE"] == "GZIP"
for d in ("JOB_RESULTS_DIR", "CHECKPOINT_DIR", "INPUT_DIR"):
    assert Path(amzn[d]).is_dir(), d
root = Path(amzn["JOB_RESULTS_DIR"]).parent
assert Path(amzn["JOB_RESULTS_DIR"]) == root / "model"
assert Path(amzn["CHECKPOINT_DIR"]) == root / "my" / "ckpts"        # localPath /opt/ml/my/ckpts
assert Path(amzn["HP_FILE"]) == root / "input" / "config" / "hyperparameters.json"
assert Path(amzn["INPUT_DIR"]) == root / "input" / "data"
hps = json.loads(Path(amzn["HP_FILE"]).read_text())
assert hps == {"n_qubits": "4", "Learning-Rate": "0.5", "mode": "fast",
               "sagemaker_mpi_num_of_processes_per_host": "2"}, hps
assert env["SM_HP_N_QUBITS"] == "4" and env["SM_HP_LEARNING-RATE"] == "0.5" and env["SM_HP_MODE"] == "fast"
assert json.loads(env["SM_HPS"]) == {"n_qubits": 4, "Learning-Rate": 0.5, "mode": "fast",
                                     "sagemaker_mpi_num_of_processes_per_host": 2}
hosts = json.loads(env["SM_HOSTS"])
assert hosts == ["algo-1", "algo-2"]
assert env["SM_CURRENT_HOST"] == hosts[rank // 2]
assert json.loads(env["SM_CHANNELS"]) == ["data", "extra"]
assert Path(env["SM_CHANNEL_DATA"]) == root / "input" / "data" / "data"
assert (Path(env["SM_CHANNEL_DATA"]) / "numbers.csv").read_text() == "1,2,3\n"
assert (Path(env["SM_CHANNEL_DATA"]) / "sub" / "deep.txt").read_text() == "deep\n"
assert sorted(p.name for p in Path(env["SM_CHANNEL_EXTRA"]).iterdir()) == ["run-1.txt", "run-2.txt"]
assert env["SM_MODEL_DIR"] == amzn["JOB_RESULTS_DIR"]
assert env["SM_INPUT_DIR"] == str(root / "input")
assert env["SM_INPUT_CONFIG_DIR"] == str(root / "input" / "config")
assert env["SM_OUTPUT_DIR"] == str(root / "output")
assert env["SM_OUTPUT_DATA_DIR"] == str(root / "output" / "data")
assert env["SM_CURRENT_INSTANCE_TYPE"] == "ml.c5.xlarge"
assert env["SM_NUM_GPUS"] == "0" and int(env["SM_NUM_CPUS"]) >= 1
rc = json.loads((root / "input" / "config" / "resourceconfig.json").read_text())
assert rc["hosts"] == hosts and rc["current_host"] == "algo-1"
assert json.loads(env["SM_RESOURCE_CONFIG"])["current_host"] == env["SM_CURRENT_HOST"]
idc = json.loads((root / "input" / "config" / "inputdataconfig.json").read_text())
assert sorted(idc) == ["data", "extra"] and idc["data"]["ContentType"] == "text/csv"
training = json.loads(env["SM_TRAINING_ENV"])
assert training["hosts"] == hosts and training["job_name"] == "contract"
assert Path.cwd() == root / "code" / "extracted"
import pkg.helper  # the archive's package is importable
assert pkg.helper.VALUE == 42
assert os.environ["OMPI_COMM_WORLD_LOCAL_RANK"]
for n in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
    assert n not in env
seen = {"rank": rank, "amzn": amzn, "sm": {k: v for k, v in env.items() if k.startswith("SM_")}}
(Path(amzn["JOB_RESULTS_DIR"]) / f"seen-{rank}.json").write_text(json.dumps(seen))
print(f"rank {rank} checked the contract")
'''


def test_every_rank_sees_the_contract(tmp_path, client):
    code = write_code(tmp_path / "src", {"check.py": CHECKER, "pkg/__init__.py": "", "pkg/helper.py": "VALUE = 42\n"})
    archive = tmp_path / "source.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for p in sorted(code.rglob("*")):
            tar.add(p, arcname=str(p.relative_to(code)), recursive=False)
    data = tmp_path / "data"
    write_code(data, {"numbers.csv": "1,2,3\n", "sub/deep.txt": "deep\n"})
    write_code(tmp_path / "runs", {"run-1.txt": "1", "run-2.txt": "2", "other.txt": "no"})
    req = request(tmp_path, name="contract", instances=2,
                  hyperParameters={"n_qubits": "4", "Learning-Rate": "0.5", "mode": "fast",
                                   "sagemaker_mpi_num_of_processes_per_host": "2"},
                  inputDataConfig=[
                      {"channelName": "data", "contentType": "text/csv",
                       "dataSource": {"s3DataSource": {"s3Uri": f"file://{data}/"}}},
                      {"channelName": "extra", "dataSource": {"s3DataSource": {"s3Uri": str(tmp_path / "runs" / "run-")}}},
                  ],
                  checkpointConfig={"s3Uri": str(tmp_path / "ckpt"), "localPath": "/opt/ml/my/ckpts"})
    req["algorithmSpecification"]["scriptModeConfig"] = {"entryPoint": "check", "s3Uri": str(archive),
                                                         "compressionType": "GZIP"}
    req["instanceConfig"]["instanceType"] = "ml.c5.xlarge"
    req["deviceConfig"]["device"] = "local:acme/fancy-sim"
    arn = client.create_job(**req)["jobArn"]
    job = wait(client, arn)
    assert job["status"] == "COMPLETED", job.get("failureReason")
    root = client.get_job_log(arn).parent
    seen = [json.loads((root / "model" / f"seen-{r}.json").read_text()) for r in range(4)]
    assert [s["sm"]["SM_CURRENT_HOST"] for s in seen] == ["algo-1", "algo-1", "algo-2", "algo-2"]
    out = tmp_path / "out"
    amzn = seen[0]["amzn"]
    assert amzn["OUT_S3_BUCKET"] == str(out)
    job_id = arn.split(":job/", 1)[1]  # outputs are keyed by the job id (unique), never by the name alone
    assert job_id.startswith("contract-")
    assert amzn["JOB_RESULTS_S3_PATH"] == str(out / job_id / "output")
    assert amzn["TASK_RESULTS_S3_URI"] == (out / job_id / "tasks").as_uri()
    assert amzn["SCRIPT_S3_URI"] == str(archive)
    log = client.get_job_log(arn).read_text()
    for r in range(4):
        assert f"[{r}] rank {r} checked the contract" in log
    assert_no_processes(client, arn)


def test_ranks_start_in_the_runtime_directly(tmp_path, client):
    """The launcher starts ``python -m jobs.runtime`` in each rank, not ``python -m qsim job exec``:
    no rank imports qsim's or the jobs package's command line (``job exec`` by hand: test_jobs_cli)."""
    script = "import sys\nprint('detour' if {'qsim.cli', 'jobs.cli'} & set(sys.modules) else 'direct start')\n"
    arn = client.create_job(**request(tmp_path, script, instances=2))["jobArn"]
    job = wait(client, arn)
    assert job["status"] == "COMPLETED", job.get("failureReason")
    log = client.get_job_log(arn).read_text()
    assert " -m jobs.runtime --job-dir " in log and "job exec" not in log
    assert log.count("direct start") == 2 and "detour" not in log


@pytest.mark.parametrize("how", ["env", "config"])
def test_hostfile_is_passed_to_mpirun(tmp_path, client, home, monkeypatch, how):
    hostfile = tmp_path / "hosts"
    hostfile.write_text("localhost:2\n")
    if how == "env":
        monkeypatch.setenv("QSIM_HOSTFILE", str(hostfile))
    else:
        (home / "config.json").write_text(json.dumps({"hostfile": str(hostfile)}))
    arn = client.create_job(**request(tmp_path, "print('on a host')\n", instances=3))["jobArn"]
    job = wait(client, arn)
    assert job["status"] == "COMPLETED", job.get("failureReason")
    log = client.get_job_log(arn).read_text()
    assert f"-f {hostfile} -n 3" in log and log.count("on a host") == 3
