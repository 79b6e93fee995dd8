"""``qsim serve``: one Werkzeug HTTP server answering the AWS calls the Braket SDK makes.

Who calls this: ``jobs.endpoint.cli`` (``python -m qsim serve``) and the tests. Every request is
verified (``jobs.endpoint.sigv4``) against the credentials this endpoint created on first start,
then routed by the *service in its SigV4 credential scope*:

    braket -> jobs.endpoint.braket     s3 -> jobs.endpoint.s3        logs -> jobs.endpoint.logs
    sts, iam, ecr -> jobs.endpoint.aws_misc

Files under ``$QSIM_HOME`` (the directory itself is made 0700)::

    endpoint/credentials.json   {"accessKeyId", "secretAccessKey"} (0600; created once, kept)
    endpoint.env                export lines for clients (0600: it holds the secret)
    endpoint/server.json        pid, host, port of the running server
    s3/<bucket>/<key>           the local S3 (jobs.endpoint.s3)
    endpoint.db                 quantum tasks and tags (jobs.endpoint.tasks)

State lives only in SQLite and files: stopping and starting the server loses no job or task.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from jobs.lifecycle import processes
from jobs.endpoint import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_REGION, env_file, sigv4
from jobs.endpoint.model import ApiError, error_body, service

ACCOUNT = "000000000000"
SERVED = ("braket", "s3", "logs", "sts", "iam", "ecr")


# --- credentials and discovery ------------------------------------------------------------------------


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def credentials(home: Path) -> dict:
    """The endpoint's access key and secret, created (0600) on first use and then kept."""
    path = _private_dir(_private_dir(home) / "endpoint") / "credentials.json"
    try:
        with open(path) as f:
            creds = json.load(f)
        if os.stat(path).st_mode & 0o077:
            os.chmod(path, 0o600)
        return creds
    except FileNotFoundError:
        pass
    creds = {"accessKeyId": "QSIM" + secrets.token_hex(8).upper(), "secretAccessKey": secrets.token_urlsafe(30)}
    _write_private(path, json.dumps(creds))
    return creds


def environment(home: Path, host: str, port: int, region: str) -> dict[str, str]:
    creds = credentials(home)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
    return {"AWS_ENDPOINT_URL": url, "BRAKET_ENDPOINT": url, "AWS_ACCESS_KEY_ID": creds["accessKeyId"],
            "AWS_SECRET_ACCESS_KEY": creds["secretAccessKey"], "AWS_DEFAULT_REGION": region,
            # The SDK's AwsSession reads AWS_REGION before AWS_DEFAULT_REGION: a stale one would
            # give sessions another region than the endpoint's job ARNs.
            "AWS_REGION": region}


def write_env_file(home: Path, env: dict[str, str]) -> Path:
    lines = ["# Written by `python -m qsim serve`: point the Braket SDK and boto3 at qsim's local endpoint.",
             "# Use: . $QSIM_HOME/endpoint.env   (or in Python: import jobs.endpoint; jobs.endpoint.use())",
             "unset AWS_SESSION_TOKEN AWS_PROFILE"]
    lines += [f"export {k}='{v}'" for k, v in env.items()]
    path = env_file(home)
    _write_private(path, "\n".join(lines) + "\n")
    return path


# --- the application ----------------------------------------------------------------------------------


class Endpoint:
    """The WSGI application; ``handlers`` holds one object per served service."""

    def __init__(self, home: str | os.PathLike, region: str = DEFAULT_REGION):
        from jobs.client import JobsClient
        from jobs.endpoint import aws_misc, braket, logs, s3, tasks

        self.home = Path(home).absolute()
        _private_dir(self.home)
        self.region = region
        self.account = ACCOUNT
        creds = credentials(self.home)
        self.secrets = {creds["accessKeyId"]: creds["secretAccessKey"]}
        self.jobs = JobsClient(self.home)
        self.s3 = s3.LocalS3(self.home / "s3")
        self.tasks = tasks.TaskStore(self.home)
        self.handlers = {"braket": braket.BraketHandler(self), "s3": s3.S3Handler(self),
                         "logs": logs.LogsHandler(self), "sts": aws_misc.StsHandler(self),
                         "iam": aws_misc.IamHandler(self), "ecr": aws_misc.EcrHandler(self)}
        self.notify = lambda: None  # set by serve(): wakes the task worker

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except Exception as e:  # noqa: BLE001 - never a bare 500 page: the service's error shape
            import traceback

            traceback.print_exc()
            response = self._json_error("braket", ApiError("InternalServiceException",
                                                           f"internal error: {type(e).__name__}: {e}", 500))
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        body = request.get_data(cache=True)
        raw_uri = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.full_path
        host = request.headers.get("Host", "")
        try:
            scope = sigv4.verify(request.method, host, raw_uri, request.headers, body, self.secrets)
        except sigv4.SignatureError as e:
            return self.signature_error(e, request)
        handler = self.handlers.get(scope.service)
        if handler is None:
            return self._json_error("braket", ApiError(
                "UnknownOperationException", f"service {scope.service!r} (from the request's SigV4 credential "
                f"scope) is not served by this endpoint; served: {', '.join(SERVED)}", 400))
        return handler.handle(request, body, scope)

    # --- errors in each protocol's shape ---------------------------------------------------------

    def _json_error(self, svc: str, err: ApiError) -> Response:
        status, headers, payload = error_body(service(svc if svc in ("braket", "logs", "ecr") else "braket"), err)
        headers["x-amzn-RequestId"] = str(uuid.uuid4())
        return Response(payload, status=status, headers=headers)

    def signature_error(self, e: sigv4.SignatureError, request: Request) -> Response:
        svc = e.service or ("s3" if request.headers.get("X-Amz-Content-SHA256") else "braket")
        if svc == "s3":
            from jobs.endpoint.s3 import s3_error

            code, status = {"missing": ("AccessDenied", 403), "unknown_key": ("InvalidAccessKeyId", 403),
                            "skew": ("RequestTimeTooSkewed", 403), "scope": ("AuthorizationHeaderMalformed", 400),
                            }.get(e.kind, ("SignatureDoesNotMatch", 403))
            return s3_error(code, str(e), status)
        if svc in ("sts", "iam"):
            from jobs.endpoint.aws_misc import query_error

            code = {"missing": "MissingAuthenticationToken", "unknown_key": "InvalidClientTokenId"}.get(
                e.kind, "SignatureDoesNotMatch")
            return query_error(svc, code, str(e), 403)
        code = {"missing": "MissingAuthenticationTokenException", "unknown_key": "UnrecognizedClientException"}.get(
            e.kind, "InvalidSignatureException")
        status = 403 if svc == "braket" or e.kind == "missing" else 400
        return self._json_error(svc if svc in ("logs", "ecr") else "braket", ApiError(code, str(e), status))


# --- running it ---------------------------------------------------------------------------------------


class _Handler(WSGIRequestHandler):
    """HTTP/1.1, so botocore's connection pool keeps its connections; no line per request on stderr."""

    protocol_version = "HTTP/1.1"

    def log_request(self, code="-", size="-"):
        pass


def _running_server(home: Path) -> dict | None:
    """server.json of a live server on this home (None if there is none or it is gone)."""
    try:
        with open(home / "endpoint" / "server.json") as f:
            info = json.load(f)
    except (FileNotFoundError, ValueError):
        return None
    pid = info.get("pid")
    if isinstance(pid, int) and pid != os.getpid() and processes.alive(pid, info.get("start")):
        return info
    return None


def _start_worker(home: Path) -> subprocess.Popen:
    env = dict(os.environ, QSIM_HOME=str(home), PYTHONUNBUFFERED="1")
    log = open(home / "endpoint" / "worker.log", "ab")
    return subprocess.Popen([sys.executable, "-m", "jobs.endpoint.tasks", "--home", str(home)],
                            stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=env)


def serve(home: str | os.PathLike, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          region: str = DEFAULT_REGION, ready=None) -> int:
    """Run until SIGTERM/SIGINT. Writes endpoint.env once listening; ``ready(env)`` is called then."""
    app = Endpoint(home, region)
    running = _running_server(app.home)
    if running:
        raise RuntimeError(f"another qsim serve (pid {running['pid']}, port {running['port']}) already uses "
                           f"{app.home}; stop it first")
    server = make_server(host, port, app, threaded=True, request_handler=_Handler)
    port = server.server_port
    workers = [_start_worker(app.home)]
    lock = threading.Lock()
    stopping = threading.Event()

    def notify():
        """Wake the worker (a new task); start a new one if it died (it re-queues what it was running)."""
        with lock:
            if workers[0].poll() is not None and not stopping.is_set():
                print(f"qsim endpoint: task worker exited with {workers[0].returncode}; starting a new one "
                      f"(see {app.home / 'endpoint' / 'worker.log'})", file=sys.stderr, flush=True)
                workers[0] = _start_worker(app.home)
            try:
                workers[0].stdin.write(b"\n")
                workers[0].stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                pass

    def watch():
        while not stopping.wait(2.0):
            notify()

    app.notify = notify

    env = environment(app.home, host, port, region)
    path = write_env_file(app.home, env)
    _write_private(app.home / "endpoint" / "server.json",
                   json.dumps({"pid": os.getpid(), "start": processes.start_time(os.getpid()), "host": host,
                               "port": port, "region": region, "started": time.time()}))
    print(f"qsim endpoint listening on {env['AWS_ENDPOINT_URL']} (QSIM_HOME={app.home}); "
          f"clients: . {path}", file=sys.stderr, flush=True)
    if ready:
        ready(env)

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=watch, daemon=True, name="worker-watch").start()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        stopping.set()
        server.server_close()
        with lock:
            worker = workers[0]
        try:
            worker.stdin.close()
        except OSError:
            pass
        try:
            worker.wait(timeout=5)
        except subprocess.TimeoutExpired:
            worker.terminate()
            worker.wait(timeout=5)
        try:
            os.unlink(app.home / "endpoint" / "server.json")
        except FileNotFoundError:
            pass
    return 0
