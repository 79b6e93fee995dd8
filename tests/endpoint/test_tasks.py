"""AwsDevice on the SV1 ARN, through the endpoint, against Braket's own local simulator."""

from __future__ import annotations

import json

import boto3
import numpy as np
import pytest
from braket.aws import AwsDevice, AwsQuantumTask
from braket.circuits import Circuit, FreeParameter
from braket.circuits.observables import X, Y, Z
from braket.devices import LocalSimulator
from braket.ir.openqasm import Program

from tests.endpoint.conftest import wait_for

SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"


@pytest.fixture(scope="module")
def sv1(endpoint):
    return AwsDevice(SV1)


@pytest.fixture(scope="module")
def reference():
    return LocalSimulator("braket_sv")


def _close(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert np.allclose(a[k], b[k], atol=1e-12)
    else:
        a, b = np.asarray(a), np.asarray(b)
        if np.iscomplexobj(b) and not np.iscomplexobj(a) and a.shape == b.shape + (2,):
            a = a[..., 0] + 1j * a[..., 1]  # the service's JSON form, which the SDK leaves as [re, im] pairs
        assert np.allclose(a, b, atol=1e-12)


def test_device_is_served_with_qsims_capabilities(sv1):
    assert (sv1.name, sv1.status, sv1.type.value, sv1.provider_name) == ("SV1", "ONLINE", "SIMULATOR", "Amazon Braket")
    caps = sv1.properties
    ops = caps.action["braket.ir.openqasm.program"].supportedOperations
    from qsim.circuit.gates import GATES

    assert {"h", "cnot", "rx", "unitary"} <= set(ops) and set(GATES) - {"gphase"} <= set(ops)
    import qsim

    assert caps.paradigm.qubitCount == qsim.device("local:qsim/statevector").properties["qubitCount"]
    assert [d.arn for d in AwsDevice.get_devices(types=["SIMULATOR"])] == [SV1]
    local = boto3.client("braket").get_device(deviceArn="local:qsim/statevector")
    assert (local["providerName"], local["deviceStatus"]) == ("qsim", "ONLINE")


def test_circuits_match_braket_sv(sv1, reference):
    theta = FreeParameter("theta")
    circuits = [
        (Circuit().h(0).cnot(0, 1).cnot(1, 2).probability(), 0, {}),
        (Circuit().h(0).rx(1, 0.3).ry(2, -1.1).cnot(0, 2).state_vector().amplitude(["000", "101"])
         .expectation(observable=Z() @ X(), target=[0, 2]), 0, {}),
        (Circuit().rx(0, theta).cz(0, 1).ry(1, theta).expectation(observable=Y(), target=[1])
         .variance(observable=X(), target=[0]), 0, {"theta": 0.7}),
        (Circuit().h(0).t(0).swap(0, 1).density_matrix(target=[1]), 0, {}),
    ]
    for circuit, shots, inputs in circuits:
        got = sv1.run(circuit, shots=shots, inputs=inputs).result()
        want = reference.run(circuit, shots=shots, inputs=inputs).result()
        assert len(got.values) == len(want.values)
        for a, b in zip(got.values, want.values):
            _close(a, b)


def test_sampled_circuit_and_metadata(endpoint, sv1):
    task = sv1.run(Circuit().h(0).cnot(0, 1), shots=400)
    result = task.result()
    assert sum(result.measurement_counts.values()) == 400
    assert set(result.measurement_counts) <= {"00", "11"} and min(result.measurement_counts.values()) > 120
    meta = result.task_metadata
    assert (meta.id, meta.deviceId, meta.shots, meta.status) == (task.id, SV1, 400, "COMPLETED")
    assert task.state() == "COMPLETED"
    # Where the service writes it: <bucket>/<prefix>/<task id>/results.json, saying qsim ran it.
    md = boto3.client("braket").get_quantum_task(quantumTaskArn=task.id)
    path = endpoint.home / "s3" / md["outputS3Bucket"] / md["outputS3Directory"] / "results.json"
    written = json.loads(path.read_text())
    assert written["taskMetadata"]["id"] == task.id
    assert written["additionalMetadata"]["qsim"]["device"] == "local:qsim/statevector"


def test_openqasm_programs_match_braket_sv(sv1, reference):
    source = """
OPENQASM 3.0;
input float alpha;
qubit[3] q;
h q[0];
ctrl @ rx(alpha) q[0], q[1];
pow(0.5) @ x q[2];
cnot q[1], q[2];
#pragma braket result expectation z(q[2])
#pragma braket result probability q[0], q[1]
#pragma braket result amplitude "000", "111"
"""
    program = Program(source=source, inputs={"alpha": 1.25})
    got, want = sv1.run(program, shots=0).result(), reference.run(program, shots=0).result()
    for a, b in zip(got.values, want.values):
        _close(a, b)
    bell = Program(source="OPENQASM 3.0;\nqubit[2] q;\nbit[2] c;\nh q[0];\ncnot q[0], q[1];\nc = measure q;")
    counts = sv1.run(bell, shots=200).result().measurement_counts
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 200


def test_batches_search_and_failures(endpoint, sv1):
    batch = sv1.run_batch([Circuit().rx(0, a).probability() for a in (0.1, 0.2, 0.3)], shots=0)
    for a, res in zip((0.1, 0.2, 0.3), batch.results()):
        assert np.allclose(res.values[0], [np.cos(a / 2) ** 2, np.sin(a / 2) ** 2])
    braket = boto3.client("braket")
    found = braket.search_quantum_tasks(filters=[{"name": "deviceArn", "operator": "EQUAL", "values": [SV1]}],
                                        maxResults=2)
    assert len(found["quantumTasks"]) == 2 and "nextToken" in found
    pages = braket.get_paginator("search_quantum_tasks").paginate(
        filters=[{"name": "deviceArn", "operator": "EQUAL", "values": [SV1]}], PaginationConfig={"PageSize": 2})
    arns = [t["quantumTaskArn"] for p in pages for t in p["quantumTasks"]]
    assert {t.id for t in batch.tasks} <= set(arns) and len(arns) == len(set(arns))
    # A program qsim cannot run is refused at create time, naming the problem, as SV1 does.
    from botocore.exceptions import ClientError

    for source, text in (("OPENQASM 3.0;\nqubit[1] q;\nnosuchgate q[0];", "nosuchgate"),
                         ("OPENQASM 3.0;\ninput float t;\nqubit[1] q;\nrx(t) q[0];", "missing input 't'"),
                         ("OPENQASM 3.0;\nqubit[1] q;\nh q[0];", "result type")):
        with pytest.raises(ClientError) as info:
            sv1.run(Program(source=source), shots=0)
        err = info.value.response["Error"]
        assert err["Code"] == "ValidationException" and text in err["Message"], err
    # A program that fails only while it runs ends FAILED with the reason; it does not hang.
    task = sv1.run(Program(source="OPENQASM 3.0;\nqubit[40] q;\nh q;\n#pragma braket result probability q[0]"),
                   shots=0)
    wait_for(lambda: task.state() in ("FAILED", "COMPLETED"), what="the big task to end")
    md = braket.get_quantum_task(quantumTaskArn=task.id)
    assert md["status"] == "FAILED" and "40" in md["failureReason"], md
    # Tags and cancel on a finished task.
    braket.tag_resource(resourceArn=task.id, tags={"team": "qsim"})
    assert braket.list_tags_for_resource(resourceArn=task.id)["tags"] == {"team": "qsim"}
    braket.untag_resource(resourceArn=task.id, tagKeys=["team"])
    assert braket.list_tags_for_resource(resourceArn=task.id)["tags"] == {}
    assert AwsQuantumTask(task.id).state() == "FAILED"


def test_cancel_queued_and_running_tasks(endpoint, sv1):
    braket = boto3.client("braket")
    layers = "".join(f"h q;\nrz({0.1 * i}) q;\n" for i in range(6))
    heavy = Program(source=f"OPENQASM 3.0;\nqubit[20] q;\n{layers}#pragma braket result probability q[0]")
    running = sv1.run(heavy, shots=0)
    queued = sv1.run(Circuit().h(0).probability(), shots=0)
    wait_for(lambda: running.state() != "QUEUED", 60, 0.01, "the heavy task to start")
    assert queued.state() == "QUEUED"
    assert braket.cancel_quantum_task(quantumTaskArn=queued.id, clientToken="c1")["cancellationStatus"] == "CANCELLED"
    assert queued.state() == "CANCELLED"
    # 20 qubits x 6 layers: about a second of work, so it is still running (a cancel never stops a task midway)
    assert braket.cancel_quantum_task(quantumTaskArn=running.id, clientToken="c2")["cancellationStatus"] == \
        "CANCELLING"
    wait_for(lambda: running.state() == "CANCELLED", 120, 0.05, "the running task to be cancelled")
    md = braket.get_quantum_task(quantumTaskArn=running.id)
    assert not (endpoint.home / "s3" / md["outputS3Bucket"] / md["outputS3Directory"] / "results.json").exists()
    assert sv1.run(Circuit().x(0).probability(), shots=0).result().values[0].tolist() == [0.0, 1.0]


def test_a_dead_worker_is_replaced_and_its_task_rerun(endpoint, sv1):
    import os
    import signal

    layers = "".join(f"h q;\nrz({0.1 * i}) q;\n" for i in range(6))
    heavy = sv1.run(Program(source=f"OPENQASM 3.0;\nqubit[20] q;\n{layers}#pragma braket result probability q[0]"),
                    shots=0)
    wait_for(lambda: heavy.state() == "RUNNING", 60, 0.01, "the task to start")
    from jobs.endpoint.tasks import TaskStore

    pid = TaskStore(endpoint.home)._row(heavy.id)["worker_pid"]
    os.kill(pid, signal.SIGKILL)  # the worker dies mid-task (as if out of memory)
    h = np.array([[1, 1], [1, -1]]) / np.sqrt(2)
    psi = np.array([1.0, 0.0], dtype=complex)  # qubit 0 evolves on its own: the reference is a 2x2 product
    for i in range(6):
        psi = np.diag([np.exp(-0.05j * i), np.exp(0.05j * i)]) @ (h @ psi)
    assert np.allclose(heavy.result().values[0], np.abs(psi) ** 2, atol=1e-12)
    assert sv1.run(Circuit().x(0).probability(), shots=0).result().values[0].tolist() == [0.0, 1.0]


def test_a_task_that_keeps_killing_the_worker_fails(tmp_path):
    """After a worker died twice on the same task, the next worker fails it instead of a third run."""
    from jobs.endpoint.tasks import TaskStore

    store = TaskStore(tmp_path)
    with store._tx() as con:
        con.execute("INSERT INTO tasks (task_id, arn, client_token, request_digest, status, device_arn, shots, action,"
                    " bucket, key_prefix, created_at) VALUES ('t', 'arn:t', 'c', 'd', 'QUEUED', ?, 0, '{}', 'b', 'p', 0)",
                    (SV1,))
    assert store.claim()["task_id"] == "t"  # worker 1 takes it ... and dies
    store.requeue_orphans()                 # worker 2 starts
    assert store._row("arn:t")["status"] == "QUEUED"
    assert store.claim()["task_id"] == "t"  # ... and dies too
    store.requeue_orphans()                 # worker 3 starts
    row = store._row("arn:t")
    assert row["status"] == "FAILED" and "died 2 times" in row["failure_reason"]
    assert store.claim() is None
