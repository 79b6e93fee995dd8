"""Quantum tasks: a task store and the worker process that runs tasks on qsim.

Who calls this: ``jobs.endpoint.braket`` (CreateQuantumTask ... SearchQuantumTasks, tags) and
``python -m jobs.endpoint.tasks --home H``, the worker ``qsim serve`` starts and wakes through its
stdin (one line per new task; it also polls every second). The worker ends when its stdin closes.

State: ``$QSIM_HOME/endpoint.db`` (SQLite, WAL): ``tasks`` and ``tags``. A task is QUEUED ->
RUNNING -> COMPLETED | FAILED | CANCELLED (CANCELLING while a cancelled task still runs). A worker
that starts puts RUNNING tasks of a dead worker back to QUEUED, so a restart loses nothing.
Results are written as the service writes them: ``results.json`` (a GateModelTaskResult) under
``s3://<outputS3Bucket>/<outputS3KeyPrefix>/<task id>/`` in the local S3, before the status says
COMPLETED. ``taskMetadata.deviceId`` is the requested device; ``additionalMetadata.simulatorMetadata``
and the ``qsimVersion`` member say that qsim ran it.

Which devices a task may name: ``jobs.endpoint.devices``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import select
import sqlite3
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from jobs.endpoint.devices import check_device
from jobs.endpoint.model import ApiError, page_offset, page_token

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")
MAX_ATTEMPTS = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL UNIQUE, arn TEXT NOT NULL UNIQUE,
    client_token TEXT NOT NULL UNIQUE, request_digest TEXT NOT NULL,
    status TEXT NOT NULL, device_arn TEXT NOT NULL, shots INTEGER NOT NULL,
    action TEXT NOT NULL, device_parameters TEXT,
    bucket TEXT NOT NULL, key_prefix TEXT NOT NULL, job_arn TEXT,
    created_at REAL NOT NULL, started_at REAL, ended_at REAL, failure_reason TEXT,
    worker_pid INTEGER, cancel_requested INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS tasks_by_status ON tasks(status, seq);
CREATE TABLE IF NOT EXISTS tags (resource_arn TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (resource_arn, key));
CREATE TABLE IF NOT EXISTS tags_seeded (resource_arn TEXT PRIMARY KEY);
"""


def _iso(ts: float | None) -> str | None:
    """Milliseconds, as the service writes them (the schema allows 24 characters)."""
    return None if ts is None else datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# --- the store ----------------------------------------------------------------------------------------


class TaskStore:
    def __init__(self, home: str | os.PathLike):
        self.home = Path(home)
        self.db_path = self.home / "endpoint.db"
        self._local = threading.local()
        con = self._connect()
        try:
            con.executescript(_SCHEMA)
        finally:
            con.close()

    def _connect(self):
        con = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.row_factory = sqlite3.Row
        return con

    def _con(self):
        """One connection per thread (the server's request threads come and go; a connection is
        closed with its thread-local storage)."""
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = self._connect()
        return con

    @contextmanager
    def _tx(self):
        con = self._con()
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def _read(self, sql: str, args=()) -> list[dict]:
        return [dict(r) for r in self._con().execute(sql, args).fetchall()]

    # --- API -----------------------------------------------------------------------------------

    def create(self, req: dict, endpoint) -> str:
        check_device(req["deviceArn"], "deviceArn")
        try:
            action = json.loads(req["action"])
        except ValueError as e:
            raise ApiError("ValidationException", f"action: not valid JSON: {e}") from None
        kind = (action.get("braketSchemaHeader") or {}).get("name") if isinstance(action, dict) else None
        if kind != "braket.ir.openqasm.program":
            raise ApiError("ValidationException", f"action: {kind!r} programs are not run by qsim; send OpenQASM "
                                                  "(braket.ir.openqasm.program), as the SDK does for circuits")
        if not isinstance(action.get("source"), str):
            raise ApiError("ValidationException", "action.source: must be an OpenQASM 3 string")
        check_program(action, req["shots"])
        bucket = req["outputS3Bucket"]
        if not endpoint.s3.bucket_dir(bucket).is_dir():
            raise ApiError("ValidationException", f"outputS3Bucket: bucket {bucket!r} does not exist in the local S3 "
                                                  f"({endpoint.s3.root})")
        token = req.get("clientToken") or str(uuid.uuid4())
        body = {k: v for k, v in req.items() if k != "clientToken"}
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        job_arn = None
        if req.get("jobToken"):
            row = endpoint.jobs.store.get(req["jobToken"])
            job_arn = endpoint.handlers["braket"].wire_arn(row.arn) if row is not None else None
        task_id = str(uuid.uuid4())
        arn = f"arn:aws:braket:{endpoint.region}:{endpoint.account}:quantum-task/{task_id}"
        try:
            with self._tx() as con:
                con.execute("INSERT INTO tasks (task_id, arn, client_token, request_digest, status, device_arn, shots,"
                            " action, device_parameters, bucket, key_prefix, job_arn, created_at)"
                            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                            (task_id, arn, token, digest, "QUEUED", req["deviceArn"], req["shots"], req["action"],
                             req.get("deviceParameters"), bucket, req["outputS3KeyPrefix"].strip("/"), job_arn,
                             time.time()))
        except sqlite3.IntegrityError:
            same = self._read("SELECT arn, request_digest FROM tasks WHERE client_token=?", (token,))
            if same and same[0]["request_digest"] == digest:
                return same[0]["arn"]
            raise ApiError("ConflictException", f"clientToken {token!r} was already used with a different "
                                                "request", 409) from None
        if req.get("tags"):
            self.tag(arn, req["tags"])
        return arn

    def _row(self, arn: str) -> dict:
        rows = self._read("SELECT * FROM tasks WHERE arn=? OR task_id=?", (arn, arn.rsplit("/", 1)[-1]))
        if not rows:
            raise ApiError("ResourceNotFoundException", f"quantumTaskArn: no quantum task {arn!r}")
        return rows[0]

    def get(self, arn: str, additional=None) -> dict:
        r = self._row(arn)
        out = {"quantumTaskArn": r["arn"], "status": r["status"], "deviceArn": r["device_arn"],
               "deviceParameters": r["device_parameters"] or "{}", "shots": r["shots"],
               "outputS3Bucket": r["bucket"], "outputS3Directory": f"{r['key_prefix']}/{r['task_id']}",
               "createdAt": r["created_at"], "endedAt": r["ended_at"], "failureReason": r["failure_reason"],
               "jobArn": r["job_arn"], "tags": self.tags(r["arn"]),
               "actionMetadata": {"actionType": "braket.ir.openqasm.program", "programCount": 1}}
        if r["status"] == "COMPLETED":
            out["numSuccessfulShots"] = r["shots"]
        if additional and "QueueInfo" in additional:
            pos = self._read("SELECT COUNT(*) AS n FROM tasks WHERE status='QUEUED' AND seq<=?", (r["seq"],))[0]["n"]
            out["queueInfo"] = {"queue": "QUANTUM_TASKS_QUEUE", "queuePriority": "Normal",
                                "position": str(pos) if r["status"] == "QUEUED" else "None"}
        return out

    def cancel(self, arn: str) -> dict:
        r = self._row(arn)
        with self._tx() as con:
            con.execute("UPDATE tasks SET status='CANCELLED', ended_at=? WHERE task_id=? AND status='QUEUED'",
                        (time.time(), r["task_id"]))
            con.execute("UPDATE tasks SET status='CANCELLING', cancel_requested=1 WHERE task_id=? AND status='RUNNING'",
                        (r["task_id"],))
        status = self._row(arn)["status"]
        return {"quantumTaskArn": r["arn"], "cancellationStatus": "CANCELLED" if status == "CANCELLED" else "CANCELLING"}

    def search(self, filters, max_results=None, next_token=None) -> dict:
        cols = {"deviceArn": "device_arn", "status": "status", "quantumTaskArn": "arn", "jobArn": "job_arn",
                "createdAt": "created_at"}
        where, args = [], []
        for i, f in enumerate(filters):
            col = cols.get(f["name"])
            if col is None:
                raise ApiError("ValidationException", f"filters[{i}].name: {f['name']!r} is not one of "
                                                      f"{', '.join(cols)}")
            vals, op = f["values"], f["operator"]
            if col == "created_at":
                from jobs.validation import parse_time

                try:
                    vals = [parse_time(v) for v in vals]
                except ValueError as e:
                    raise ApiError("ValidationException", f"filters[{i}].values: {e}") from None
            sql = {"EQUAL": f"{col} IN ({','.join('?' * len(vals))})", "LT": f"{col} < ?", "LTE": f"{col} <= ?",
                   "GT": f"{col} > ?", "GTE": f"{col} >= ?", "BETWEEN": f"{col} BETWEEN ? AND ?"}[op]
            need = len(vals) if op == "EQUAL" else 2 if op == "BETWEEN" else 1
            if len(vals) < need:
                raise ApiError("ValidationException", f"filters[{i}]: operator {op} needs {need} value(s)")
            where.append(sql)
            args += vals[:need]
        sql = "SELECT * FROM tasks" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq"
        rows = self._read(sql, args)
        start, limit = page_offset(next_token), max_results or 100
        page = rows[start:start + limit]
        out = {"quantumTasks": [{"quantumTaskArn": r["arn"], "status": r["status"], "deviceArn": r["device_arn"],
                                 "shots": r["shots"], "outputS3Bucket": r["bucket"],
                                 "outputS3Directory": f"{r['key_prefix']}/{r['task_id']}",
                                 "createdAt": r["created_at"], "endedAt": r["ended_at"],
                                 "tags": self.tags(r["arn"])} for r in page]}
        if start + limit < len(rows):
            out["nextToken"] = page_token(start + limit)
        return out

    # --- tags ----------------------------------------------------------------------------------

    def tags(self, arn: str, initial: dict | None = None) -> dict:
        if initial and not self._read("SELECT 1 FROM tags_seeded WHERE resource_arn=?", (arn,)):
            with self._tx() as con:
                if con.execute("INSERT OR IGNORE INTO tags_seeded VALUES (?)", (arn,)).rowcount:
                    con.executemany("INSERT OR IGNORE INTO tags VALUES (?,?,?)",
                                    [(arn, k, v) for k, v in initial.items()])
        return {r["key"]: r["value"] for r in self._read("SELECT key, value FROM tags WHERE resource_arn=?", (arn,))}

    def tag(self, arn: str, tags: dict) -> None:
        with self._tx() as con:
            con.execute("INSERT OR IGNORE INTO tags_seeded VALUES (?)", (arn,))
            con.executemany("INSERT OR REPLACE INTO tags VALUES (?,?,?)", [(arn, k, v) for k, v in tags.items()])

    def untag(self, arn: str, keys: list[str]) -> None:
        with self._tx() as con:
            con.executemany("DELETE FROM tags WHERE resource_arn=? AND key=?", [(arn, k) for k in keys])

    # --- the worker's side ---------------------------------------------------------------------

    def requeue_orphans(self) -> int:
        """Tasks a dead worker was running run again, unless a worker already died twice on one
        (then it fails: it is likely what kills the worker, e.g. by running out of memory)."""
        reason = (f"qsim's task worker died {MAX_ATTEMPTS} times while running this task (out of memory, or "
                  "killed); see $QSIM_HOME/endpoint/worker.log")
        with self._tx() as con:
            con.execute("UPDATE tasks SET status='FAILED', ended_at=?, failure_reason=? WHERE status='RUNNING' "
                        "AND attempts>=?", (time.time(), reason, MAX_ATTEMPTS))
            n = con.execute("UPDATE tasks SET status='QUEUED', worker_pid=NULL WHERE status='RUNNING'").rowcount
            con.execute("UPDATE tasks SET status='CANCELLED', ended_at=? WHERE status='CANCELLING'", (time.time(),))
        return n

    def claim(self) -> dict | None:
        with self._tx() as con:
            row = con.execute("SELECT * FROM tasks WHERE status='QUEUED' ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                return None
            con.execute("UPDATE tasks SET status='RUNNING', started_at=?, worker_pid=?, attempts=attempts+1 "
                        "WHERE task_id=?",
                        (time.time(), os.getpid(), row["task_id"]))
        return dict(row)

    def cancel_requested(self, task_id: str) -> bool:
        return bool(self._read("SELECT cancel_requested FROM tasks WHERE task_id=?", (task_id,))[0]["cancel_requested"])

    def finish(self, task_id: str, status: str, reason: str | None = None) -> str:
        """Record the outcome; a task cancelled meanwhile ends CANCELLED. Returns the final status."""
        with self._tx() as con:
            row = con.execute("SELECT cancel_requested FROM tasks WHERE task_id=?", (task_id,)).fetchone()
            if row["cancel_requested"]:
                status, reason = "CANCELLED", None
            con.execute("UPDATE tasks SET status=?, ended_at=?, failure_reason=? WHERE task_id=? "
                        "AND status IN ('RUNNING','CANCELLING')", (status, time.time(), reason, task_id))
        return status


def check_program(action: dict, shots: int) -> None:
    """Refuse at create time, as SV1 does, a program qsim cannot run (syntax, unknown gates,
    missing inputs, result types that do not fit the shots), naming the line and column."""
    import qsim
    from qsim.errors import QsimError
    from qsim.state.executor import validate

    try:
        circuit = qsim.device("local:qsim/statevector").to_circuit(action["source"], action.get("inputs") or {})
        validate(circuit, shots)
    except QsimError as e:
        raise ApiError("ValidationException", f"action.source: {type(e).__name__}: {e}"[:2000]) from None


# --- running a task -------------------------------------------------------------------------------------


def results_path(row: dict, s3_root: Path) -> Path:
    return s3_root / row["bucket"] / Path(*[p for p in row["key_prefix"].split("/") if p]) / row["task_id"] / \
        "results.json"


def run_task(row: dict, device, s3_root: Path, cancelled=lambda: False) -> tuple[str, str | None]:
    """Run one claimed task; write results.json unless ``cancelled()``; return (status, failure reason)."""
    import qsim
    from jobs.lifecycle.staging import atomic_text
    from qsim.errors import QsimError
    from qsim.state.results import dump

    action = json.loads(row["action"])
    t0 = time.perf_counter()
    try:
        result = device.run(action["source"], shots=row["shots"], inputs=action.get("inputs") or {}).result()
    except QsimError as e:
        return "FAILED", f"{type(e).__name__}: {e}"[:1024]
    ms = int(round((time.perf_counter() - t0) * 1000))
    payload = result.to_dict(arrays=True)  # arrays stay arrays: streamed below, no list copy
    payload["taskMetadata"].update({
        "id": row["arn"], "shots": row["shots"], "deviceId": row["device_arn"], "status": "COMPLETED",
        "createdAt": _iso(row["created_at"]), "endedAt": _iso(time.time()), "qsimVersion": qsim.__version__})
    if row.get("device_parameters"):
        try:
            payload["taskMetadata"]["deviceParameters"] = json.loads(row["device_parameters"])
        except ValueError:
            pass
    payload["additionalMetadata"] = {
        "action": action,
        "simulatorMetadata": {"braketSchemaHeader": {"name": "braket.task_result.simulator_metadata",
                                                     "version": "1"}, "executionDuration": ms},
        "qsim": {"device": "local:qsim/statevector", "version": qsim.__version__}}
    if cancelled():
        return "CANCELLED", None
    with atomic_text(results_path(row, s3_root)) as fp:
        dump(payload, fp)
    return "COMPLETED", None


def worker(home: Path) -> int:
    import qsim

    store = TaskStore(home)
    store.requeue_orphans()
    device = qsim.device("local:qsim/statevector")
    device.run("OPENQASM 3.0;\nqubit[1] q;\nh q[0];\n#pragma braket result probability", shots=0)  # JIT warm-up
    stdin_open = True
    while True:
        row = store.claim()
        if row is not None:
            try:
                status, reason = run_task(row, device, home / "s3", lambda: store.cancel_requested(row["task_id"]))
            except Exception as e:  # noqa: BLE001 - the task fails with the reason; the worker goes on
                status, reason = "FAILED", f"internal error in qsim's task worker: {type(e).__name__}: {e}"[:1024]
            if store.finish(row["task_id"], status, reason) == "CANCELLED" and status == "COMPLETED":
                results_path(row, home / "s3").unlink(missing_ok=True)  # cancelled while its results were written
            continue
        if not stdin_open:
            return 0
        ready, _, _ = select.select([sys.stdin], [], [], 1.0)
        if ready:
            if not os.read(sys.stdin.fileno(), 4096):
                stdin_open = False  # the server is gone: finish what is queued, then leave


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.endpoint.tasks")
    parser.add_argument("--home", required=True)
    args = parser.parse_args(argv)
    return worker(Path(args.home))


if __name__ == "__main__":
    sys.exit(main())
