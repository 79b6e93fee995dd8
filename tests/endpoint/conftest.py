"""A real ``python -m qsim serve`` per test module, on 127.0.0.1 with a temporary QSIM_HOME.

The fixture points this process's AWS variables at it (as ``jobs.endpoint.use()`` does) and puts
the caller's back afterwards, so the unchanged Braket SDK and boto3 talk to the endpoint.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

import jobs.endpoint

_AWS_NAMES = ("AWS_ENDPOINT_URL", "BRAKET_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
              "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_SESSION_TOKEN", "AWS_PROFILE", "QSIM_HOME",
              "QSIM_JOBS_KILL_GRACE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, home: Path, port: int):
        self.home, self.port, self.proc = home, port, None
        self.url = f"http://127.0.0.1:{port}"

    def start(self) -> None:
        env = dict(os.environ, QSIM_HOME=str(self.home), PYTHONUNBUFFERED="1")
        self.log = open(self.home.parent / f"serve-{self.port}.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "qsim", "serve", "--port", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"qsim serve exited with {self.proc.returncode}: "
                                   f"{(self.home.parent / f'serve-{self.port}.log').read_text()}")
            if (self.home / "endpoint" / "server.json").exists():
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("qsim serve did not start within 60 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.log.close()


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    home = tmp_path_factory.mktemp("endpoint") / "qsim-home"
    saved = {k: os.environ.get(k) for k in _AWS_NAMES}
    server = Server(home, free_port())
    server.start()
    os.environ["QSIM_HOME"] = str(home)
    os.environ["QSIM_JOBS_KILL_GRACE"] = "1"
    os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(home / "no-aws-config")
    server.env = jobs.endpoint.use(home)
    boto3.DEFAULT_SESSION = None  # boto3's default session keeps the credentials it first found
    try:
        yield server
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        boto3.DEFAULT_SESSION = None


@pytest.fixture(autouse=True)
def _scratch_cwd(tmp_path, monkeypatch):
    """The SDK's AwsQuantumJob.result() downloads model.tar.gz into the current directory, as it
    does on Braket; a test runs in its own scratch directory so nothing lands in the checkout."""
    monkeypatch.chdir(tmp_path)


def wait_for(predicate, timeout: float = 60, poll: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
