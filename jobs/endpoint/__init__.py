"""qsim's local Braket endpoint (``python -m qsim serve``): the Braket SDK and boto3, unchanged,
talking to qsim instead of AWS.

Parts (each file's docstring says more):

    server.py    Werkzeug app, credentials, endpoint.env; routes by the SigV4 scope's service
    sigv4.py     signature verification with botocore's signer
    model.py     botocore service models: routes, parsing, generic validation, errors
    braket.py    Braket operations -> jobs.client.JobsClient (the jobs API, as the CLI uses) / tasks.TaskStore
    tasks.py     quantum tasks: the store and the worker process that runs them on qsim
    devices.py   the served devices (SV1, local:qsim/...) and their capabilities
    s3.py        the local S3 under $QSIM_HOME/s3
    logs.py      CloudWatch Logs streams and Insights metrics queries over job logs
    aws_misc.py  STS GetCallerIdentity, IAM roles, ECR BatchGetImage
    cli.py       the ``serve`` sub-command

In Python, ``jobs.endpoint.use()`` points this process at a running endpoint (what
``. $QSIM_HOME/endpoint.env`` does in a shell).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

# Where `qsim serve` listens and the region clients sign for, unless told otherwise. Kept here, not in
# server.py, so that registering the `serve` sub-command does not import the server (Werkzeug,
# botocore): every `python -m qsim` start registers it.
DEFAULT_HOST, DEFAULT_PORT, DEFAULT_REGION = "127.0.0.1", 9787, "us-east-1"


def env_file(home: str | os.PathLike | None = None) -> Path:
    from jobs.store.layout import qsim_home

    return (Path(home) if home else qsim_home()) / "endpoint.env"


def read_env(home: str | os.PathLike | None = None) -> dict[str, str]:
    """The variables ``$QSIM_HOME/endpoint.env`` exports ({} if no endpoint was ever started)."""
    path = env_file(home)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    out = {}
    for line in text.splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export "):].partition("=")
            out[name] = shlex.split(value)[0] if value else ""
    return out


def use(home: str | os.PathLike | None = None) -> dict[str, str]:
    """Set this process's AWS variables to the endpoint's (from endpoint.env); returns them.

    Also removes ``AWS_SESSION_TOKEN`` and ``AWS_PROFILE``, which would otherwise take part in
    signing or choose other credentials.
    """
    env = read_env(home)
    if not env:
        raise FileNotFoundError(f"{env_file(home)} does not exist: start the endpoint with `python -m qsim serve`")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update(env)
    return env


def rank_variables(job: dict) -> dict[str, str]:
    """Variables a job's ranks get (``jobs.runtime.environment.extra_environment``) when the job's
    QSIM_HOME has an endpoint and the job's device is one it serves, so that
    ``AwsDevice(os.environ["AMZN_BRAKET_DEVICE_ARN"])`` works inside the job with no extra step:
    the endpoint's variables, and ``AMZN_BRAKET_OUT_S3_BUCKET`` / ``AMZN_BRAKET_TASK_RESULTS_S3_URI``
    as s3:// names in the local S3 (the job's own output directory when it is there, as for jobs
    created through the endpoint; else ``jobs/<job id>/tasks`` in the default bucket, created if
    needed). ``job`` is the content of job.json."""
    from jobs.store.layout import qsim_home, task_results_dir

    home = Path(job.get("home") or qsim_home())
    env = read_env(home)
    request = job["request"]
    device = request["deviceConfig"]["device"]
    served = device.startswith("local:qsim/") or device == "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
    if not env or not served:
        return {}
    root = str(home / "s3")
    tasks_dir = str(task_results_dir(request, job["job_id"]))
    if tasks_dir.startswith(root + os.sep):
        key = tasks_dir[len(root) + 1:]
        bucket = key.split(os.sep, 1)[0]
        uri = "s3://" + key.replace(os.sep, "/")
    else:
        from jobs.endpoint.server import ACCOUNT

        bucket = f"amazon-braket-{env.get('AWS_DEFAULT_REGION', 'us-east-1')}-{ACCOUNT}"
        Path(root, bucket).mkdir(parents=True, exist_ok=True)
        uri = f"s3://{bucket}/jobs/{job['job_id']}/tasks"
    return {**env, "AMZN_BRAKET_OUT_S3_BUCKET": bucket, "AMZN_BRAKET_TASK_RESULTS_S3_URI": uri}
