"""The endpoint's wire protocol with boto3: signatures, routing, validation, S3/STS/IAM/ECR, discovery."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

import jobs.endpoint

SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
OPENQASM = json.dumps({"braketSchemaHeader": {"name": "braket.ir.openqasm.program", "version": "1"},
                       "source": "OPENQASM 3.0;\nqubit[1] q;\nh q[0];\n#pragma braket result probability"})


def code_of(call) -> tuple[str, int]:
    with pytest.raises(ClientError) as info:
        call()
    err = info.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


def message_of(call) -> str:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Message"]


CALLS = {
    "braket": lambda c: c.get_job(jobArn="arn:aws:braket:us-east-1:000000000000:job/x"),
    "s3": lambda c: c.list_buckets(),
    "sts": lambda c: c.get_caller_identity(),
    "iam": lambda c: c.list_roles(),
    "logs": lambda c: c.describe_log_groups(),
    "ecr": lambda c: c.batch_get_image(repositoryName="amazon-braket-base-jobs", imageIds=[{"imageTag": "latest"}]),
}
# (wrong secret, unknown access key) -> the code each service answers with
EXPECTED = {
    "braket": (("InvalidSignatureException", 403), ("UnrecognizedClientException", 403)),
    "s3": (("SignatureDoesNotMatch", 403), ("InvalidAccessKeyId", 403)),
    "sts": (("SignatureDoesNotMatch", 403), ("InvalidClientTokenId", 403)),
    "iam": (("SignatureDoesNotMatch", 403), ("InvalidClientTokenId", 403)),
    "logs": (("InvalidSignatureException", 400), ("UnrecognizedClientException", 400)),
    "ecr": (("InvalidSignatureException", 400), ("UnrecognizedClientException", 400)),
}


@pytest.mark.parametrize("svc", sorted(CALLS))
def test_every_service_answers_and_refuses_bad_signatures(endpoint, svc):
    CALLS[svc](boto3.client(svc)) if svc != "braket" else None  # the right credentials work
    key, secret = endpoint.env["AWS_ACCESS_KEY_ID"], endpoint.env["AWS_SECRET_ACCESS_KEY"]
    wrong_secret = boto3.Session(aws_access_key_id=key, aws_secret_access_key=secret + "x")
    wrong_key = boto3.Session(aws_access_key_id="AKIANOTOURS0000", aws_secret_access_key=secret)
    assert code_of(lambda: CALLS[svc](wrong_secret.client(svc))) == EXPECTED[svc][0]
    assert code_of(lambda: CALLS[svc](wrong_key.client(svc))) == EXPECTED[svc][1]


def _signed(endpoint, method, path, service, body=b"", headers=None, when=None):
    """A request signed with botocore's SigV4 signer, at ``when`` (default now)."""
    import datetime as dt

    creds = Credentials(endpoint.env["AWS_ACCESS_KEY_ID"], endpoint.env["AWS_SECRET_ACCESS_KEY"])
    req = AWSRequest(method=method, url=endpoint.url + path, data=body, headers=headers or {})
    auth = SigV4Auth(creds, service, "us-east-1")
    stamp = (when or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    req.headers["X-Amz-Date"] = stamp
    req.context["timestamp"] = stamp
    signature = auth.signature(auth.string_to_sign(req, auth.canonical_request(req)), req)
    req.headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{auth.credential_scope(req)}, "
                                    f"SignedHeaders={auth.signed_headers(auth.headers_to_sign(req))}, "
                                    f"Signature={signature}")
    return _send(endpoint.url + path, method, body, dict(req.headers))


def _send(url, method, body, headers):
    r = urllib.request.Request(url, data=body or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(r) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_unsigned_tampered_and_stale_requests_are_refused(endpoint):
    status, headers, body = _send(endpoint.url + "/jobs", "POST", b'{"filters": []}', {})
    assert (status, headers.get("x-amzn-ErrorType")) == (403, "MissingAuthenticationTokenException")
    # A valid signature over a different body: the body was changed in transit.
    creds = Credentials(endpoint.env["AWS_ACCESS_KEY_ID"], endpoint.env["AWS_SECRET_ACCESS_KEY"])
    req = AWSRequest(method="POST", url=endpoint.url + "/jobs", data=b'{"filters": []}')
    SigV4Auth(creds, "braket", "us-east-1").add_auth(req)
    status, headers, _ = _send(endpoint.url + "/jobs", "POST", b'{"filters": [], "maxResults": 1}',
                               dict(req.headers))
    assert (status, headers.get("x-amzn-ErrorType")) == (403, "InvalidSignatureException")
    # Signed an hour ago: outside the clock-skew window.
    import datetime as dt

    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    status, headers, body = _signed(endpoint, "POST", "/jobs", "braket", b'{"filters": []}', when=old)
    assert (status, headers.get("x-amzn-ErrorType")) == (403, "InvalidSignatureException")
    assert b"Signature expired" in body
    status, _, _ = _signed(endpoint, "POST", "/jobs", "braket", b'{"filters": []}')
    assert status == 200


def test_unknown_operations_get_each_protocols_error(endpoint):
    status, headers, _ = _signed(endpoint, "GET", "/no-such-operation", "braket")
    assert (status, headers.get("x-amzn-ErrorType")) == (404, "UnknownOperationException")
    status, _, body = _signed(endpoint, "POST", "/", "logs", b"{}",
                              {"X-Amz-Target": "Logs_20140328.NoSuchThing",
                               "Content-Type": "application/x-amz-json-1.1"})
    assert status == 400 and json.loads(body)["__type"] == "UnknownOperationException"
    status, _, body = _signed(endpoint, "POST", "/", "sts", b"Action=NoSuchThing&Version=2011-06-15",
                              {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400 and b"<Code>InvalidAction</Code>" in body
    status, headers, body = _signed(endpoint, "GET", "/", "dynamodb")
    assert status == 400 and b"not served" in body
    with pytest.raises(ClientError) as info:
        boto3.client("s3").get_bucket_policy(Bucket="whatever")
    assert info.value.response["Error"]["Code"] == "NotImplemented"


def test_invalid_requests_are_refused_by_the_server(endpoint):
    """botocore checks only `required` and `min`; the rest is the server's job, so send bad
    values with client-side validation off."""
    raw = boto3.client("braket", config=Config(parameter_validation=False))
    task = dict(action=OPENQASM, deviceArn=SV1, outputS3Bucket="amazon-braket-us-east-1-000000000000",
                outputS3KeyPrefix="tasks", shots=10)
    boto3.client("s3").create_bucket(Bucket=task["outputS3Bucket"])
    cases = [
        (lambda: raw.create_quantum_task(**{**task, "shots": -1}), "shots: must be >= 0"),
        (lambda: raw.create_quantum_task(**{**task, "outputS3Bucket": "ab"}), "outputS3Bucket: must have at least 3"),
        (lambda: raw.create_quantum_task(**{**task, "outputS3KeyPrefix": "x" * 1025}), "at most 1024"),
        (lambda: raw.create_quantum_task(**{**task, "action": "{not json"}), "action: is not valid JSON"),
        (lambda: raw.create_quantum_task(**{**task, "shots": "ten"}), "shots: must be an integer"),
        (lambda: raw.create_quantum_task(**{**task, "action": json.dumps({
            "braketSchemaHeader": {"name": "braket.ir.jaqcd.program", "version": "1"}, "instructions": []})}),
         "'braket.ir.jaqcd.program' programs are not run by qsim"),
        (lambda: raw.create_quantum_task(**{**task, "outputS3Bucket": "no-such-bucket"}), "does not exist"),
        (lambda: raw.create_quantum_task(**{**task, "deviceArn": "arn:aws:braket:::device/quantum-simulator/amazon/dm1"}),
         "'arn:aws:braket:::device/quantum-simulator/amazon/dm1' is not served"),
        (lambda: raw.search_jobs(filters=[], maxResults=1000), "maxResults: must be <= 100"),
        (lambda: raw.search_quantum_tasks(filters=[{"name": "status", "operator": "NOPE", "values": ["x"]}]),
         "'NOPE' is not one of"),
        (lambda: raw.get_job(jobArn="arn:aws:braket:us-east-1:000000000000:notajob/x"), "jobArn"),
        (lambda: raw.create_job(jobName="bad_name", roleArn="arn:aws:iam::000000000000:role/r",
                                algorithmSpecification={"scriptModeConfig": {"entryPoint": "m", "s3Uri": f"s3://{task['outputS3Bucket']}/k"}},
                                outputDataConfig={"s3Path": f"s3://{task['outputS3Bucket']}/o"},
                                instanceConfig={"instanceType": "ml.m5.large", "volumeSizeInGb": 1},
                                deviceConfig={"device": SV1}), "jobName: 'bad_name'"),
        (lambda: raw.create_job(jobName="qpu", roleArn="arn:aws:iam::000000000000:role/r",
                                algorithmSpecification={"scriptModeConfig": {"entryPoint": "m", "s3Uri": f"s3://{task['outputS3Bucket']}/k"}},
                                outputDataConfig={"s3Path": f"s3://{task['outputS3Bucket']}/o"},
                                instanceConfig={"instanceType": "ml.m5.large", "volumeSizeInGb": 1},
                                deviceConfig={"device": "arn:aws:braket:us-east-1::device/qpu/ionq/Forte-1"}),
         "'arn:aws:braket:us-east-1::device/qpu/ionq/Forte-1' is not served"),
        (lambda: raw.create_job(jobName="image", roleArn="arn:aws:iam::000000000000:role/r",
                                algorithmSpecification={"scriptModeConfig": {"entryPoint": "m", "s3Uri": f"s3://{task['outputS3Bucket']}/k"},
                                                        "containerImage": {"uri": "my.registry/me:1"}},
                                outputDataConfig={"s3Path": f"s3://{task['outputS3Bucket']}/o"},
                                instanceConfig={"instanceType": "ml.m5.large", "volumeSizeInGb": 1},
                                deviceConfig={"device": SV1}), "containerImage"),
    ]
    for call, text in cases:
        with pytest.raises(ClientError) as info:
            call()
        err = info.value.response
        assert err["Error"]["Code"] == "ValidationException", err
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert text in err["Error"]["Message"], (text, err["Error"]["Message"])
    assert code_of(lambda: raw.get_job(jobArn="arn:aws:braket:us-east-1:000000000000:job/none")) == \
        ("ResourceNotFoundException", 404)
    assert code_of(lambda: raw.get_device(deviceArn="arn:aws:braket:::device/quantum-simulator/amazon/tn1")) == \
        ("ResourceNotFoundException", 404)


def test_s3_objects_live_under_qsim_home(endpoint):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="objects")
    assert code_of(lambda: s3.create_bucket(Bucket="objects")) == ("BucketAlreadyOwnedByYou", 409)
    data = os.urandom(3000)
    s3.put_object(Bucket="objects", Key="a/b/c.bin", Body=data)
    s3.put_object(Bucket="objects", Key="a/d.txt", Body=b"hello")
    assert (endpoint.home / "s3" / "objects" / "a" / "b" / "c.bin").read_bytes() == data
    got = s3.get_object(Bucket="objects", Key="a/b/c.bin")
    assert got["Body"].read() == data and got["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert s3.get_object(Bucket="objects", Key="a/b/c.bin", Range="bytes=10-19")["Body"].read() == data[10:20]
    assert s3.head_object(Bucket="objects", Key="a/d.txt")["ContentLength"] == 5
    s3.copy_object(Bucket="objects", Key="copy/d.txt", CopySource={"Bucket": "objects", "Key": "a/d.txt"})
    listing = s3.list_objects_v2(Bucket="objects", Prefix="a/")
    assert [o["Key"] for o in listing["Contents"]] == ["a/b/c.bin", "a/d.txt"]
    top = s3.list_objects_v2(Bucket="objects", Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["a/", "copy/"]
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket="objects", PaginationConfig={"PageSize": 1}))
    assert [o["Key"] for p in pages for o in p.get("Contents", [])] == ["a/b/c.bin", "a/d.txt", "copy/d.txt"]
    assert code_of(lambda: s3.get_object(Bucket="objects", Key="nope")) == ("NoSuchKey", 404)
    assert code_of(lambda: s3.list_objects_v2(Bucket="no-bucket")) == ("NoSuchBucket", 404)
    assert code_of(lambda: s3.put_object(Bucket="objects", Key="a/../../x", Body=b"")) == ("InvalidArgument", 400)
    tmp = endpoint.home.parent / "up.bin"
    tmp.write_bytes(data)
    s3.upload_file(str(tmp), "objects", "up/loaded.bin")
    s3.download_file("objects", "up/loaded.bin", str(tmp) + ".back")
    assert (endpoint.home.parent / "up.bin.back").read_bytes() == data
    s3.delete_object(Bucket="objects", Key="up/loaded.bin")
    assert code_of(lambda: s3.head_object(Bucket="objects", Key="up/loaded.bin"))[1] == 404


def test_identity_role_and_images(endpoint):
    assert boto3.client("sts").get_caller_identity()["Account"] == "000000000000"
    roles = boto3.client("iam").list_roles(PathPrefix="/service-role/")["Roles"]
    assert [r["RoleName"] for r in roles] == ["AmazonBraketJobsExecutionRole"]
    assert boto3.client("iam").get_role(RoleName="AmazonBraketJobsExecutionRole")["Role"]["Arn"] == roles[0]["Arn"]
    ecr = boto3.client("ecr")
    digest = ecr.batch_get_image(repositoryName="amazon-braket-base-jobs",
                                 imageIds=[{"imageTag": "latest"}])["images"][0]["imageId"]["imageDigest"]
    tags = [i["imageId"]["imageTag"] for i in ecr.batch_get_image(
        repositoryName="amazon-braket-base-jobs", imageIds=[{"imageDigest": digest}])["images"]]
    assert f"-py{sys.version_info.major}{sys.version_info.minor}-" in " ".join(tags)
    assert code_of(lambda: ecr.batch_get_image(repositoryName="someone-else", imageIds=[{"imageTag": "x"}]))[0] == \
        "RepositoryNotFoundException"


def test_discovery_file_and_credentials_are_private(endpoint):
    env_file = endpoint.home / "endpoint.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((endpoint.home / "endpoint" / "credentials.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((endpoint.home / "endpoint").stat().st_mode) == 0o700
    assert stat.S_IMODE(endpoint.home.stat().st_mode) == 0o700
    env = jobs.endpoint.read_env(endpoint.home)
    assert sorted(env) == sorted(["AWS_ENDPOINT_URL", "BRAKET_ENDPOINT", "AWS_ACCESS_KEY_ID",
                                  "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_REGION"])
    assert env["AWS_ENDPOINT_URL"] == env["BRAKET_ENDPOINT"] == endpoint.url
    # The shell form sets the same variables.
    import subprocess

    out = subprocess.run(["bash", "-c", f". {env_file} && env"], capture_output=True, text=True, check=True).stdout
    for k, v in env.items():
        assert f"{k}={v}\n" in out


def test_multipart_upload_and_one_server_per_home(endpoint, tmp_path):
    from boto3.s3.transfer import TransferConfig

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="big")
    data = os.urandom(6 * 1024 * 1024 + 123)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    s3.upload_file(str(path), "big", "data/big.bin", Config=config)
    assert (endpoint.home / "s3" / "big" / "data" / "big.bin").read_bytes() == data
    assert not any((endpoint.home / "s3-uploads").iterdir())
    import subprocess

    second = subprocess.run([sys.executable, "-m", "qsim", "serve", "--port", "0"], capture_output=True, text=True,
                            env=dict(os.environ, QSIM_HOME=str(endpoint.home)), timeout=60)
    assert second.returncode == 2 and "already uses" in second.stderr
    remote = subprocess.run([sys.executable, "-m", "qsim", "serve", "--host", "0.0.0.0"], capture_output=True,
                            text=True, env=dict(os.environ, QSIM_HOME=str(tmp_path / "other")), timeout=60)
    assert remote.returncode == 2 and "--allow-remote" in remote.stderr
    with pytest.raises(FileNotFoundError, match="qsim serve"):
        jobs.endpoint.use(tmp_path / "never-served")
