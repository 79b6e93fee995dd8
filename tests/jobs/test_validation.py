"""CreateJob/GetJob/SearchJobs request validation: every rule names its field; nothing is created."""

from __future__ import annotations

import copy
import os
import tarfile

import pytest

from jobs.errors import ValidationException
from tests.jobs.conftest import request

pytestmark = pytest.mark.timeout(60)


def _set(req: dict, path: str, value):
    keys = path.split(".")
    d = req
    for k in keys[:-1]:
        d = d[int(k)] if isinstance(d, list) else d.setdefault(k, {})
    if value is _DELETE:
        del d[keys[-1]]
    else:
        d[keys[-1]] = value


_DELETE = object()

CASES = [
    # (path, value, substring the message must contain)
    ("clientToken", "x" * 65, "clientToken: must be at most 64"),
    ("clientToken", "", "clientToken: must be at least 1"),
    ("jobName", _DELETE, "jobName: is required"),
    ("jobName", "bad_name", "jobName: 'bad_name' does not match"),
    ("jobName", "-leading", "jobName: '-leading' does not match"),
    ("jobName", "trailing-", "does not match"),
    ("jobName", "a" * 51, "jobName: must be at most 50"),
    ("jobName", 7, "jobName: must be a string"),
    ("roleArn", _DELETE, "roleArn: is required"),
    ("roleArn", "not-an-arn", "roleArn: 'not-an-arn' does not match"),
    ("algorithmSpecification", _DELETE, "algorithmSpecification: is required"),
    ("algorithmSpecification.scriptModeConfig.entryPoint", _DELETE, "entryPoint: is required"),
    ("algorithmSpecification.scriptModeConfig.entryPoint", "bad entry", "entryPoint: 'bad entry' does not match"),
    ("algorithmSpecification.scriptModeConfig.s3Uri", _DELETE, "s3Uri: is required"),
    ("algorithmSpecification.scriptModeConfig.s3Uri", "s3://bucket/code.tar.gz", "local path or a file:// URI"),
    ("algorithmSpecification.scriptModeConfig.s3Uri", "https://h/x", "https:// locations are not supported"),
    ("algorithmSpecification.scriptModeConfig.s3Uri", "ftp://h/x", "unsupported scheme 'ftp'"),
    ("algorithmSpecification.scriptModeConfig.s3Uri", "/no/such/dir", "does not exist"),
    ("algorithmSpecification.scriptModeConfig.s3Uri", "/" + "x" * 1024, "at most 1024"),
    ("algorithmSpecification.scriptModeConfig.compressionType", "ZIP", "compressionType: 'ZIP' is not one of NONE, GZIP"),
    ("algorithmSpecification.scriptModeConfig.compressionType", "GZIP", "is not a tar.gz archive"),
    ("algorithmSpecification.containerImage", {"uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"},
     "containerImage: container images are not supported"),
    ("algorithmSpecification.bogus", 1, "algorithmSpecification.bogus: unknown parameter"),
    ("inputDataConfig", {"not": "a list"}, "inputDataConfig: must be a list"),
    ("inputDataConfig", [{"channelName": "c", "dataSource": {"s3DataSource": {"s3Uri": "/no/such/data"}}}],
     "no data found for channel 'c'"),
    ("inputDataConfig", [{"channelName": "bad name", "dataSource": {"s3DataSource": {"s3Uri": "/tmp"}}}],
     "inputDataConfig[0].channelName: 'bad name' does not match"),
    ("inputDataConfig", [{"channelName": "c" * 65, "dataSource": {"s3DataSource": {"s3Uri": "/tmp"}}}],
     "channelName: must be at most 64"),
    ("inputDataConfig", [{"channelName": "c", "dataSource": {"s3DataSource": {"s3Uri": "/tmp"}}}] * 2,
     "duplicate channel name 'c'"),
    ("inputDataConfig", [{"channelName": f"c{i}", "dataSource": {"s3DataSource": {"s3Uri": "/tmp"}}}
                         for i in range(21)], "at most 20 channels"),
    ("inputDataConfig", [{"channelName": "c"}], "inputDataConfig[0].dataSource: is required"),
    ("inputDataConfig", [{"channelName": "c", "contentType": "", "dataSource": {"s3DataSource": {"s3Uri": "/tmp"}}}],
     "contentType: must be at least 1"),
    ("inputDataConfig", [{"channelName": "c", "dataSource": {"s3DataSource": {"s3Uri": "s3://b/k"}}}],
     "inputDataConfig[0].dataSource.s3DataSource.s3Uri"),
    ("outputDataConfig", _DELETE, "outputDataConfig: is required"),
    ("outputDataConfig.s3Path", "s3://bucket/out", "outputDataConfig.s3Path: 's3://bucket/out': s3://"),
    ("outputDataConfig.kmsKeyId", "", "kmsKeyId: must be at least 1"),
    ("checkpointConfig", {"localPath": "/opt/x"}, "checkpointConfig.s3Uri: is required"),
    ("checkpointConfig", {"s3Uri": "s3://b/c"}, "checkpointConfig.s3Uri"),
    ("checkpointConfig", {"s3Uri": "/tmp/c", "localPath": "../escape"}, "must not contain '..'"),
    ("stoppingCondition.maxRuntimeInSeconds", 0, "maxRuntimeInSeconds: must be >= 1"),
    ("stoppingCondition.maxRuntimeInSeconds", 432001, "maxRuntimeInSeconds: must be <= 432000"),
    ("stoppingCondition.maxRuntimeInSeconds", "60", "maxRuntimeInSeconds: must be an integer"),
    ("stoppingCondition.maxRuntimeInSeconds", True, "maxRuntimeInSeconds: must be an integer"),
    ("instanceConfig", _DELETE, "instanceConfig: is required"),
    ("instanceConfig.instanceType", "ml.huge", "instanceType: 'ml.huge' is not one of"),
    ("instanceConfig.instanceType", _DELETE, "instanceConfig.instanceType: is required"),
    ("instanceConfig.volumeSizeInGb", 0, "volumeSizeInGb: must be >= 1"),
    ("instanceConfig.volumeSizeInGb", _DELETE, "volumeSizeInGb: is required"),
    ("instanceConfig.instanceCount", 0, "instanceCount: must be >= 1"),
    ("instanceConfig.instanceCount", 1.5, "instanceCount: must be an integer"),
    ("hyperParameters", {"k": 1}, "hyperParameters.k: must be a string"),
    ("hyperParameters", {"k": ""}, "hyperParameters.k: must be at least 1"),
    ("hyperParameters", {"k": "v" * 2501}, "hyperParameters.k: must be at most 2500"),
    ("hyperParameters", {"k" * 257: "v"}, "hyperParameters key: must be at most 256"),
    ("hyperParameters", {f"k{i}": "v" for i in range(101)}, "at most 100 entries"),
    ("hyperParameters", {"sagemaker_mpi_num_of_processes_per_host": "0"}, "must be a positive integer"),
    ("deviceConfig", _DELETE, "deviceConfig: is required"),
    ("deviceConfig.device", "", "deviceConfig.device: must be at least 1"),
    ("deviceConfig.device", "local:" + "x" * 251, "deviceConfig.device: must be at most 256"),
    ("deviceConfig.device", "local:qsim/nope", "'local:qsim/nope' is not a qsim device; known qsim devices: "
                                               "local:qsim/statevector"),
    ("deviceConfig.device", "local:bad provider/x", "does not match local:<provider>/<name>"),
    ("tags", {"k": 1}, "tags.k: must be a string"),
    ("associations", [{"arn": "arn:aws:braket:us-east-1:123456789012:x", "type": "NOPE"}],
     "associations[0].type: 'NOPE' is not one of"),
    ("associations", [{"arn": "x", "type": "RESERVATION_TIME_WINDOW_ARN"}], "associations[0].arn: 'x' does not match"),
    ("associations", [{"arn": "arn:aws:braket:us-east-1:123456789012:x", "type": "RESERVATION_TIME_WINDOW_ARN"}] * 2,
     "associations: must have at most 1"),
    ("bogusField", 1, "bogusField: unknown parameter"),
    # Full-match patterns (a `$` pattern matched before a trailing newline) and names that become
    # paths or variables (issue 10, item 4).
    ("jobName", "x\n", "jobName: 'x\\n' does not match the pattern"),
    ("jobName", "ok-name\n", "does not match the pattern"),
    ("roleArn", "arn:aws:iam::000000000000:role/r\n", "roleArn: "),
    ("jobName", "a\x00b", "jobName: 'a\\x00b' must not contain a NUL character"),
    ("inputDataConfig", [{"channelName": "..", "dataSource": {"s3DataSource": {"s3Uri": "/tmp"}}}],
     "inputDataConfig[0].channelName: '..' is not allowed"),
    ("inputDataConfig", [{"channelName": ".", "dataSource": {"s3DataSource": {"s3Uri": "/tmp"}}}],
     "inputDataConfig[0].channelName: '.' is not allowed"),
    ("inputDataConfig", [{"channelName": "c\n", "dataSource": {"s3DataSource": {"s3Uri": "/tmp"}}}],
     "inputDataConfig[0].channelName: 'c\\n' does not match"),
    ("hyperParameters", {"a=b": "1"}, "hyperParameters key: 'a=b' does not match the pattern [^=\\x00]+"),
    ("hyperParameters", {"k": "two\nlines"}, "hyperParameters.k: 'two\\nlines' does not match the pattern .*"),
    ("hyperParameters", {"sagemaker_mpi_num_of_processes_per_host": "2\n"}, "does not match the pattern .*"),
    ("hyperParameters", {"sagemaker_mpi_num_of_processes_per_host": "2 "}, "must be a positive integer"),
    ("tags", {"k": "v\x00"}, "tags.k: 'v\\x00' must not contain a NUL"),
    ("deviceConfig.device", "local:qsim/statevector\n", "does not match local:<provider>/<name>"),
    ("algorithmSpecification.scriptModeConfig.entryPoint", "script\n", "entryPoint: 'script\\n' does not match"),
    # Bounds (item 8): the service's instance limit, and what this host can run.
    ("instanceConfig.instanceCount", 1000000, "instanceConfig.instanceCount: must be <= 5, got 1000000"),
    ("hyperParameters", {"sagemaker_mpi_num_of_processes_per_host": "9999"},
     "hyperParameters.sagemaker_mpi_num_of_processes_per_host: 9999 processes per instance exceed what one "
     "configured host can run"),
]


@pytest.mark.parametrize("path,value,message", CASES, ids=[f"{c[0]}={str(c[1])[:20]}" for c in CASES])
def test_bad_request_names_field_and_rule(tmp_path, client, home, path, value, message):
    req = request(tmp_path)
    _set(req, path, value if value is _DELETE else copy.deepcopy(value))
    with pytest.raises(ValidationException) as err:
        client.create_job(**req)
    assert message in str(err.value)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert client.search_jobs(filters=[])["jobs"] == []
    assert [p for p in (home / "jobs").iterdir()] == []


def test_capacity_counts_every_instance(tmp_path, client, home, monkeypatch):
    """instanceCount x processes per host is bounded by cores x the oversubscription factor."""
    monkeypatch.setenv("QSIM_JOBS_OVERSUBSCRIBE", "1")
    cores = len(os.sched_getaffinity(0))
    req = request(tmp_path, instances=2, hyperParameters={"sagemaker_mpi_num_of_processes_per_host": str(cores)})
    with pytest.raises(ValidationException) as err:
        client.create_job(**req)
    assert (f"instanceConfig.instanceCount: 2 instance(s) x {cores} process(es) = {2 * cores} ranks exceed what "
            f"the configured hosts can run: {cores} slot(s) (this host's cores) x oversubscription factor 1 = "
            f"{cores}") in str(err.value)
    assert client.search_jobs(filters=[])["jobs"] == []
    hostfile = tmp_path / "hosts"
    hostfile.write_text("# two hosts\nnode-a:4\nnode-b slots=4\n")
    monkeypatch.setenv("QSIM_HOSTFILE", str(hostfile))
    from jobs.lifecycle.limits import check_capacity, host_slots

    assert host_slots(home) == ([("node-a", 4), ("node-b", 4)], f"hostfile {hostfile}")
    check_capacity({"instanceConfig": {"instanceCount": 2}, "hyperParameters":
                    {"sagemaker_mpi_num_of_processes_per_host": "4"}}, home)
    with pytest.raises(ValidationException, match="= 9 ranks exceed .* 8 slot"):
        check_capacity({"instanceConfig": {"instanceCount": 3}, "hyperParameters":
                        {"sagemaker_mpi_num_of_processes_per_host": "3"}}, home)


def test_valid_edges_are_accepted(tmp_path, client, monkeypatch):
    monkeypatch.setattr("jobs.lifecycle.supervisor.spawn", lambda home, job_id: None)
    req = request(tmp_path, name="a" * 50, hyperParameters={"k" * 256: "v" * 2500},
                  stoppingCondition={"maxRuntimeInSeconds": 432000})
    req["deviceConfig"]["device"] = "local:pennylane/lightning.qubit"
    req["algorithmSpecification"]["scriptModeConfig"]["s3Uri"] = "file://" + \
        req["algorithmSpecification"]["scriptModeConfig"]["s3Uri"]
    arn = client.create_job(**req)["jobArn"]
    job = client.get_job(jobArn=arn)
    assert job["jobName"] == "a" * 50 and job["status"] == "QUEUED"
    assert job["deviceConfig"]["device"] == "local:pennylane/lightning.qubit"


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            import io

            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "symlink-out", "hardlink-out"])
def test_unsafe_archives_are_refused(tmp_path, client, home, kind):
    info = tarfile.TarInfo("x.py")
    if kind == "absolute":
        info.name = "/tmp/evil.py"
        info.size = 4
        members = [(info, b"pass")]
    elif kind == "dotdot":
        info.name = "pkg/../../evil.py"
        info.size = 4
        members = [(info, b"pass")]
    elif kind == "symlink-out":
        info.type, info.linkname = tarfile.SYMTYPE, "../../../etc/passwd"
        members = [(info, None)]
    else:
        info.type, info.linkname = tarfile.LNKTYPE, "../outside"
        members = [(info, None)]
    archive = _tar(tmp_path / "code.tar.gz", members)
    req = request(tmp_path)
    req["algorithmSpecification"]["scriptModeConfig"].update(s3Uri=str(archive), compressionType="GZIP")
    expected = "links are not extracted" if "link" in kind else "outside the job directory"
    with pytest.raises(ValidationException, match=expected):
        client.create_job(**req)
    assert not (tmp_path / "evil.py").exists() and not os.path.exists("/tmp/evil.py")
    assert client.search_jobs(filters=[])["jobs"] == []


def test_archive_without_gzip_flag_is_explained(tmp_path, client):
    info = tarfile.TarInfo("script.py")
    info.size = 4
    archive = _tar(tmp_path / "code.tar.gz", [(info, b"pass")])
    req = request(tmp_path)
    req["algorithmSpecification"]["scriptModeConfig"]["s3Uri"] = str(archive)
    with pytest.raises(ValidationException, match="set compressionType to GZIP"):
        client.create_job(**req)


@pytest.mark.parametrize("arn,message", [
    ("arn:aws:braket:local:000000000000:job/none", "ResourceNotFoundException"),
    ("arn:aws:s3:::bucket", "does not match"),
    ("", "non-empty"),
])
def test_get_and_cancel_check_the_arn(client, arn, message):
    for call in (client.get_job, client.cancel_job):
        with pytest.raises(Exception) as err:
            call(jobArn=arn)
        assert message in str(err.value)


@pytest.mark.parametrize("kwargs,message", [
    ({"filters": None}, "filters: is required"),
    ({"filters": [{"name": "jobArn", "operator": "LIKE", "values": ["x"]}]}, "operator: 'LIKE' is not one of"),
    ({"filters": [{"name": "nope", "operator": "EQUAL", "values": ["x"]}]}, "name: 'nope' is not one of"),
    ({"filters": [{"name": "jobArn", "operator": "EQUAL", "values": []}]}, "values: must be a list of 1 to 10"),
    ({"filters": [{"name": "jobArn", "operator": "EQUAL", "values": ["x"]}] * 11}, "at most 10"),
    ({"filters": [], "maxResults": 0}, "maxResults: must be >= 1"),
    ({"filters": [], "maxResults": 101}, "maxResults: must be <= 100"),
    ({"filters": [], "nextToken": "garbage"}, "nextToken: 'garbage' is not a token"),
    ({"filters": [{"name": "createdAt", "operator": "BETWEEN", "values": ["1"]}]}, "needs exactly 2 values"),
    ({"filters": [{"name": "createdAt", "operator": "GT", "values": ["yesterday"]}]}, "neither epoch seconds"),
])
def test_search_validation(client, kwargs, message):
    with pytest.raises(ValidationException) as err:
        client.search_jobs(**kwargs)
    assert message in str(err.value)
