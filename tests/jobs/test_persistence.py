"""Persistence functions (Braket names and formats), metrics parsing, and their round trips in jobs."""

from __future__ import annotations

import json
import tarfile

import pytest

import jobs
from jobs.runtime.metrics import columns, parse_line, parse_records
from jobs.runtime.persistence import PersistedJobDataFormat
from tests.jobs.conftest import request, wait

pytestmark = pytest.mark.timeout(90)
HEADER = {"name": "braket.jobs_data.persisted_job_data", "version": "1"}


@pytest.fixture
def job_env(tmp_path, monkeypatch):
    for k in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AMZN_BRAKET_JOB_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("AMZN_BRAKET_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    monkeypatch.setenv("AMZN_BRAKET_JOB_NAME", "unit")
    (tmp_path / "results").mkdir()
    return tmp_path


def test_results_merge_in_braket_format(job_env):
    jobs.save_job_result({"a": 1})
    jobs.save_job_result({"b": [1, 2]})
    jobs.save_job_result(3.5)
    raw = json.loads((job_env / "results" / "results.json").read_text())
    assert raw == {"braketSchemaHeader": HEADER, "dataDictionary": {"a": 1, "b": [1, 2], "result": 3.5},
                   "dataFormat": "plaintext"}
    assert jobs.load_job_result() == {"a": 1, "b": [1, 2], "result": 3.5}
    assert not [p for p in (job_env / "results").iterdir() if p.name.endswith(".tmp")]


def test_pickled_results_need_allow_pickle_and_stay_pickled(job_env):
    jobs.save_job_result({"c": complex(1, 2)}, data_format=PersistedJobDataFormat.PICKLED_V4)
    with pytest.raises(RuntimeError, match="allow_pickle=True"):
        jobs.load_job_result()
    jobs.save_job_result({"d": {1, 2}})
    assert jobs.load_job_result(allow_pickle=True) == {"c": complex(1, 2), "d": {1, 2}}
    with pytest.raises(TypeError, match="pickled_v4"):
        jobs.save_job_result({"e": 1}, data_format="plaintext")


def test_checkpoints_round_trip_and_name_files_like_braket(job_env):
    jobs.save_job_checkpoint({"it": 1, "theta": [0.1]})
    jobs.save_job_checkpoint({"it": 2}, checkpoint_file_suffix="part")
    jobs.save_job_checkpoint({"it": 3})  # replaces
    assert jobs.load_job_checkpoint() == {"it": 3}
    assert jobs.load_job_checkpoint("unit", "part") == {"it": 2}
    assert sorted(p.name for p in (job_env / "ckpt").iterdir() if not p.name.startswith(".")) == \
        ["unit.json", "unit_part.json"]
    with pytest.raises(ValueError, match="cannot be empty"):
        jobs.save_job_checkpoint({})
    with pytest.raises(FileNotFoundError):
        jobs.load_job_checkpoint("other-job")


def test_only_rank_0_writes_unless_asked(job_env, monkeypatch):
    monkeypatch.setenv("PMI_RANK", "1")
    jobs.save_job_result({"x": 1})
    jobs.save_job_checkpoint({"x": 1})
    assert not (job_env / "results" / "results.json").exists()
    assert not (job_env / "ckpt" / "unit.json").exists()
    jobs.save_job_result({"x": 1}, all_ranks=True)
    jobs.save_job_checkpoint({"x": 1}, "rank1", all_ranks=True)
    assert jobs.load_job_result() == {"x": 1} and jobs.load_job_checkpoint("unit", "rank1") == {"x": 1}


def test_getters_have_braket_defaults(monkeypatch):
    for k in ("AMZN_BRAKET_JOB_NAME", "AMZN_BRAKET_DEVICE_ARN", "AMZN_BRAKET_INPUT_DIR",
              "AMZN_BRAKET_JOB_RESULTS_DIR", "AMZN_BRAKET_CHECKPOINT_DIR", "AMZN_BRAKET_HP_FILE"):
        monkeypatch.delenv(k, raising=False)
    assert (jobs.get_job_name(), jobs.get_job_device_arn(), jobs.get_input_data_dir(), jobs.get_results_dir(),
            jobs.get_checkpoint_dir(), jobs.get_hyperparameters()) == ("", "local:none/none", ".", ".", ".", {})
    monkeypatch.setenv("AMZN_BRAKET_INPUT_DIR", "/in")
    assert jobs.get_input_data_dir("train") == "/in/train"


def test_log_metric_prints_braket_line(capsys):
    jobs.log_metric("cost", 0.25, timestamp=12.5, iteration_number=0)
    jobs.log_metric("cost", 3.14e-22, timestamp=1)
    assert capsys.readouterr().out.splitlines() == [
        "Metrics - timestamp=12.5; cost=0.25; iteration_number=0;", "Metrics - timestamp=1; cost=3.14e-22;"]


@pytest.mark.parametrize("line,expected", [
    ("Metrics - timestamp=1; cost=2.5; iteration_number=3;", {"timestamp": 1.0, "cost": 2.5, "iteration_number": 3}),
    ("[0] Metrics - timestamp=1; cost=2;", {"timestamp": 1.0, "cost": 2.0, "node_id": "0"}),
    ("[1,mpirank:4,algo-1]<stdout>:Metrics - cost=5;", {"cost": 5.0, "node_id": "1,mpirank:4,algo-1"}),
    ("[proxy:0@host] noise Metrics - a=1; b=notanumber;", {"a": 1.0, "node_id": "proxy:0@host"}),
    ("no metrics here", None),
    ("Metrics - timestamp=1;", None),
])
def test_metric_lines_are_found_anywhere(line, expected):
    assert parse_line(line) == expected


def test_metrics_pivot_on_iteration_and_node():
    recs = parse_records(["[0] Metrics - timestamp=1; cost=1; iteration_number=0;",
                          "[0] Metrics - timestamp=2; cost=3; iteration_number=0;",
                          "[1] Metrics - timestamp=1; cost=2; iteration_number=0;"])
    assert columns(recs) == {"timestamp": [1.0, 1.0], "iteration_number": [0, 0], "node_id": ["0", "1"],
                             "cost": [3.0, 2.0]}
    assert columns(recs, "min")["cost"] == [1.0, 2.0]


def test_results_checkpoints_metrics_round_trip_through_a_job(tmp_path, client):
    script = """
from jobs import save_job_result, save_job_checkpoint, log_metric, load_job_checkpoint
for i in range(3):
    log_metric("energy", -i * 0.5, iteration_number=i)
save_job_checkpoint({"done": 3})
save_job_result({"energy": -1.0, "state": [1, 0]})
"""
    req = request(tmp_path, script, instances=2, checkpointConfig={"s3Uri": str(tmp_path / "ckpts")})
    arn = client.create_job(**req)["jobArn"]
    assert wait(client, arn)["status"] == "COMPLETED"
    assert client.get_job_result(arn) == {"energy": -1.0, "state": [1, 0]}
    archive = tmp_path / "out" / arn.split(":job/", 1)[1] / "output" / "model.tar.gz"
    with tarfile.open(archive) as tar:
        assert tar.getnames() == ["results.json"]
    stored = json.loads((tmp_path / "ckpts" / "test-job.json").read_text())
    assert stored == {"braketSchemaHeader": HEADER, "dataDictionary": {"done": 3}, "dataFormat": "plaintext"}
    m = client.get_job_metrics(arn)
    # Both ranks log; their lines interleave in the log in whatever order the OS delivers them.
    rows = sorted(zip(m["node_id"], m["iteration_number"], m["energy"]))
    assert rows == [(node, i, -i * 0.5) for node in ("0", "1") for i in range(3)]


def test_resume_from_checkpoint_after_failure(tmp_path, client):
    script = """
from jobs import load_job_checkpoint, save_job_checkpoint, save_job_result
try:
    state = load_job_checkpoint()
except FileNotFoundError:
    state = {"step": 0, "resumed": False}
else:
    state["resumed"] = True
while state["step"] < 6:
    state["step"] += 1
    save_job_checkpoint(state)
    if state["step"] == 3 and not state["resumed"]:
        raise RuntimeError("crash at step 3")
save_job_result(state)
"""
    ckpt = {"s3Uri": f"file://{tmp_path / 'ckpts'}"}
    first = client.create_job(**request(tmp_path, script, checkpointConfig=ckpt))["jobArn"]
    job = wait(client, first)
    assert job["status"] == "FAILED" and job["failureReason"] == "RuntimeError: crash at step 3"
    second = client.create_job(**request(tmp_path, script, checkpointConfig=ckpt))["jobArn"]
    assert wait(client, second)["status"] == "COMPLETED"
    assert client.get_job_result(second) == {"step": 6, "resumed": True}


def test_function_entry_point_binds_typed_hyperparameters(tmp_path, client):
    script = """
def main(n: int, rate: float, flag: bool, name, sizes: list, extra: str = "d"):
    from jobs import save_job_result
    save_job_result({"n": n, "rate": rate, "flag": flag, "name": name, "sizes": sizes, "extra": extra,
                     "types": [type(v).__name__ for v in (n, rate, flag, name, sizes)]})
    return None

def returns():
    return {"answer": 42}
"""
    hps = {"n": "3", "rate": "0.5", "flag": "false", "name": "x", "sizes": "[1, 2]",
           "sagemaker_mpi_num_of_processes_per_host": "1"}
    arn = client.create_job(**request(tmp_path, script, entry="script:main", hyperParameters=hps))["jobArn"]
    assert wait(client, arn)["status"] == "COMPLETED"
    assert client.get_job_result(arn) == {"n": 3, "rate": 0.5, "flag": False, "name": "x", "sizes": [1, 2],
                                          "extra": "d", "types": ["int", "float", "bool", "str", "list"]}
    arn = client.create_job(**request(tmp_path, script, entry="script:returns", name="ret"))["jobArn"]
    assert wait(client, arn)["status"] == "COMPLETED"
    assert client.get_job_result(arn) == {"answer": 42}
    bad = client.create_job(**request(tmp_path, script, entry="script:main", name="bad",
                                      hyperParameters={**hps, "n": "three"}))["jobArn"]
    assert wait(client, bad)["failureReason"] == "TypeError: hyperparameter n='three' cannot be converted to int: " \
                                                "invalid literal for int() with base 10: 'three'"


@pytest.mark.parametrize("layout", ["file", "dir-module", "dir-package"])
def test_code_locations(tmp_path, client, layout):
    if layout == "file":
        src = tmp_path / "solo.py"
        src.write_text("from jobs import save_job_result\nsave_job_result({'ok': 'file'})\n")
        entry = "solo"
    else:
        src = tmp_path / "mycode"
        (src / "lib").mkdir(parents=True)
        (src / "lib" / "__init__.py").write_text("X = 'dir'\n")
        (src / "run.py").write_text("from lib import X\nfrom jobs import save_job_result\nsave_job_result({'ok': X})\n")
        entry = "run" if layout == "dir-module" else "mycode.run"
    req = request(tmp_path)
    req["algorithmSpecification"]["scriptModeConfig"] = {"entryPoint": entry, "s3Uri": str(src)}
    arn = client.create_job(**req)["jobArn"]
    assert wait(client, arn)["status"] == "COMPLETED"
    assert client.get_job_result(arn) == {"ok": "file" if layout == "file" else "dir"}


def test_code_is_snapshotted_at_create(tmp_path, client, monkeypatch):
    started = []
    monkeypatch.setattr("jobs.lifecycle.supervisor.spawn", lambda home, job_id: started.append(job_id))
    req = request(tmp_path, "from jobs import save_job_result\nsave_job_result({'v': 1})\n")
    arn = client.create_job(**req)["jobArn"]
    src = req["algorithmSpecification"]["scriptModeConfig"]["s3Uri"]
    (tmp_path / src / "script.py").write_text("raise SystemExit(9)\n")
    from jobs.lifecycle.supervisor import supervise

    assert supervise(client.store, started[0]) == "COMPLETED"
    assert client.get_job_result(arn) == {"v": 1}
