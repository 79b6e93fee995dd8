"""The local Braket endpoint (``python -m qsim serve``): request latency and job creation rate.

Measured against a fresh ``qsim serve`` in a temporary QSIM_HOME, side by side with the same work
done in-process without HTTP (the ``JobsClient`` and ``qsim.device`` the endpoint calls), so the
endpoint's own cost is the difference:

  * GetJob: boto3 ``get_job`` on a warm client vs ``JobsClient.get_job``;
  * a 2-qubit task to its result: ``AwsDevice(SV1).run(bell, shots=0).result()`` (the SDK's
    create, poll, S3 download), boto3 alone (create_quantum_task, get_quantum_task every 2 ms,
    get_object of results.json), and ``qsim.device().run`` in-process;
  * jobs created per second: boto3 ``create_job`` in a loop vs ``JobsClient.create_job`` (each job
    is a one-line script, so its supervisor and ranks also run while the loop goes on).

Run it on a quiet machine: ``python benchmarks/endpoint.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import add_common_args, context, write  # noqa: E402

SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
BELL = ("OPENQASM 3.0;\nqubit[2] q;\nh q[0];\ncnot q[0], q[1];\n#pragma braket result probability")


def _stats(times: list[float]) -> dict:
    times = sorted(times)
    return {"n": len(times), "best_ms": times[0] * 1e3, "median_ms": statistics.median(times) * 1e3,
            "p90_ms": times[int(0.9 * (len(times) - 1))] * 1e3}


def _timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _request(code: Path, out: Path, name: str) -> dict:
    return {"jobName": name, "roleArn": "arn:aws:iam::000000000000:role/service-role/AmazonBraketJobsExecutionRole",
            "algorithmSpecification": {"scriptModeConfig": {"entryPoint": "hello", "s3Uri": str(code)}},
            "outputDataConfig": {"s3Path": str(out)},
            "instanceConfig": {"instanceType": "ml.m5.large", "volumeSizeInGb": 1},
            "deviceConfig": {"device": "local:qsim/statevector"}}


def main(argv=None) -> int:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    args = parser.parse_args(argv)
    n_get, n_task, n_jobs = (5, 3, 3) if args.smoke else (args.reps or 200, 40, 10)
    tmp = Path(tempfile.mkdtemp(prefix="qsim-endpoint-bench-"))
    home = tmp / "home"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = context()
    server = subprocess.Popen([sys.executable, "-m", "qsim", "serve", "--port", str(port)],
                              env=dict(os.environ, QSIM_HOME=str(home)), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (home / "endpoint" / "server.json").exists():
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("qsim serve did not start")
            time.sleep(0.05)
        os.environ["QSIM_HOME"] = str(home)
        import jobs.endpoint

        jobs.endpoint.use(home)
        import boto3

        from jobs.client import JobsClient

        code = tmp / "hello.py"
        code.write_text("print('hello')\n")
        braket = boto3.client("braket")
        local = JobsClient(home)
        arn = braket.create_job(**_request(code, tmp / "out", "bench-get"))["jobArn"]
        braket.get_job(jobArn=arn)
        get_http = _timed(lambda: braket.get_job(jobArn=arn), n_get)
        get_local = _timed(lambda: local.get_job(arn), n_get)

        # --- a 2-qubit task to its result -------------------------------------------------------
        from braket.aws import AwsDevice
        from braket.circuits import Circuit

        import qsim

        s3 = boto3.client("s3")
        bucket = "amazon-braket-us-east-1-000000000000"
        try:
            s3.create_bucket(Bucket=bucket)
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        device = AwsDevice(SV1)
        bell = Circuit().h(0).cnot(0, 1).probability()
        device.run(bell, shots=0).result()
        task_sdk = _timed(lambda: device.run(bell, shots=0).result(), n_task)
        action = json.dumps({"braketSchemaHeader": {"name": "braket.ir.openqasm.program", "version": "1"},
                             "source": BELL})

        def raw_task():
            task = braket.create_quantum_task(action=action, deviceArn=SV1, shots=0, outputS3Bucket=bucket,
                                              outputS3KeyPrefix="bench")["quantumTaskArn"]
            while True:
                md = braket.get_quantum_task(quantumTaskArn=task)
                if md["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
                    break
                time.sleep(0.002)
            s3.get_object(Bucket=bucket, Key=md["outputS3Directory"] + "/results.json")["Body"].read()

        task_boto3 = _timed(raw_task, n_task)
        dev = qsim.device("local:qsim/statevector")
        dev.run(BELL).result()
        task_local = _timed(lambda: dev.run(BELL).result(), n_task)

        # --- jobs created per second -----------------------------------------------------------
        def rate(create) -> float:
            t0 = time.perf_counter()
            for i in range(n_jobs):
                create(i)
            return n_jobs / (time.perf_counter() - t0)

        http_rate = rate(lambda i: braket.create_job(**_request(code, tmp / "out", f"bench-http-{i}")))
        local_rate = rate(lambda i: local.create_job(**_request(code, tmp / "out", f"bench-local-{i}")))
        for r in local.search_jobs(filters=[])["jobs"]:  # let the launched jobs finish before leaving
            local.wait_for_job(r["jobArn"], timeout=300)

        payload = {"context": ctx, "get_job": {"endpoint": _stats(get_http), "in_process": _stats(get_local)},
                   "task_2q_to_result": {"sdk_awsdevice": _stats(task_sdk), "boto3": _stats(task_boto3),
                                         "qsim_in_process": _stats(task_local)},
                   "jobs_created_per_second": {"endpoint": http_rate, "in_process": local_rate, "n": n_jobs}}
        path = write("endpoint", payload, args.out)
        g, t = payload["get_job"], payload["task_2q_to_result"]
        print(f"GetJob            endpoint median {g['endpoint']['median_ms']:.2f} ms (best "
              f"{g['endpoint']['best_ms']:.2f}), in-process {g['in_process']['median_ms']:.2f} ms")
        print(f"2-qubit task      AwsDevice.run().result() median {t['sdk_awsdevice']['median_ms']:.1f} ms, "
              f"boto3 {t['boto3']['median_ms']:.1f} ms, qsim in-process {t['qsim_in_process']['median_ms']:.2f} ms")
        print(f"jobs created/s    endpoint {http_rate:.1f}, in-process JobsClient {local_rate:.1f} (n={n_jobs})")
        print(f"wrote {path}")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
