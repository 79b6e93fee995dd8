"""qsim's local Braket endpoint (``python -m qsim serve``): the Braket SDK and boto3, unchanged,
talking to qsim instead of AWS.

Parts (each file's docstring says more):

    server.py    Werkzeug app, credentials, endpoint.env; routes by the SigV4 scope's service
    sigv4.py     signature verification with botocore's signer
    model.py     botocore service models: routes, parsing, generic validation, errors
    braket.py    Braket operations -> jobs.client.JobsClient / tasks.TaskStore
    tasks.py     quantum tasks (store + worker process), served devices, capabilities
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


def env_file(home: str | os.PathLike | None = None) -> Path:
    from jobs.store import qsim_home

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


def rank_variables(request: dict, home: str | os.PathLike | None = None) -> dict[str, str]:
    """Variables a job's ranks get when this QSIM_HOME has an endpoint, so that
    ``AwsDevice(os.environ["AMZN_BRAKET_DEVICE_ARN"])`` works inside the job: the endpoint's
    variables, and ``AMZN_BRAKET_OUT_S3_BUCKET`` / ``AMZN_BRAKET_TASK_RESULTS_S3_URI`` as s3://
    names of the local S3 (the job's output bucket, or the default bucket, created if needed)."""
    from jobs.environment import output_root
    from jobs.store import qsim_home

    home = Path(home) if home else qsim_home()
    env = read_env(home)
    if not env:
        return {}
    root = home / "s3"
    out = str(output_root(request))
    if out.startswith(str(root) + os.sep):
        bucket = out[len(str(root)) + 1:].split(os.sep, 1)[0]
    else:
        from jobs.endpoint.server import ACCOUNT

        bucket = f"amazon-braket-{env.get('AWS_DEFAULT_REGION', 'us-east-1')}-{ACCOUNT}"
        (root / bucket).mkdir(parents=True, exist_ok=True)
    name = request["jobName"]
    return {**env, "AMZN_BRAKET_OUT_S3_BUCKET": bucket,
            "AMZN_BRAKET_TASK_RESULTS_S3_URI": f"s3://{bucket}/jobs/{name}/tasks"}
