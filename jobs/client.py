"""The jobs client: boto3's Braket method names and shapes, backed by SQLite and local processes.

Who calls this: users (``JobsClient().create_job(**request)``), ``jobs.cli`` and the hand-run
path of ``jobs.runtime.runner``. It validates (``jobs.validation``), stores (``jobs.store.db``), stages code
(``jobs.lifecycle.staging``) and spawns the supervisor (``jobs.lifecycle.supervisor``).

Every read first reconciles active jobs whose supervisor is gone: they become FAILED (or
CANCELLED, if a cancel was requested) with a reason, and any process left with the job's marker
is terminated. Timestamps are timezone-aware ``datetime`` objects, as boto3 returns them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import sqlite3
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from jobs.lifecycle import processes
from jobs.runtime.environment import JobPaths, results_archive
from jobs.errors import (ConflictException, ResourceNotFoundException, StorageFullException, ValidationException,
                         storage_full)
from jobs.lifecycle.limits import Volume, check_capacity
from jobs.lifecycle.staging import atomic_write_bytes, stage_code
from jobs.store.db import ACTIVE, TERMINAL, JobRow, Store, job_arn
from jobs.validation import (DEFAULT_MAX_RUNTIME, code_kind, resolve_location, validate_create_job,
                             parse_time, validate_job_arn, validate_search)
from jobs.lifecycle.reconcile import clean_stale_staging, reconcile, reconcile_active, staging_name
_ECHOED = ("algorithmSpecification", "checkpointConfig", "deviceConfig", "hyperParameters", "inputDataConfig",
           "instanceConfig", "jobName", "outputDataConfig", "roleArn", "stoppingCondition", "tags", "associations")


def _dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, tz=timezone.utc) if ts is not None else None


def _digest(request: dict) -> str:
    body = {k: v for k, v in request.items() if k != "clientToken"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class JobsClient:
    """``create_job``, ``get_job``, ``cancel_job``, ``search_jobs`` as in boto3's Braket client,
    plus ``get_job_log``, ``get_job_result``, ``get_job_metrics`` and ``wait_for_job``."""

    def __init__(self, home: str | os.PathLike | None = None):
        self.store = Store(home)
        self.home = self.store.home
        # What a crash left (kill -9 of a supervisor or of `job create`) is repaired at the next start.
        clean_stale_staging(self.store)
        reconcile_active(self.store)

    # --- CreateJob --------------------------------------------------------------------------------

    def create_job(self, **request) -> dict:
        return {"jobArn": self._create(request)}

    def _create(self, request: dict, base_dir: str | os.PathLike | None = None, launch: bool = True) -> str:
        req = validate_create_job(request, base_dir)
        check_capacity(req, self.home)
        if "stoppingCondition" not in req or req["stoppingCondition"].get("maxRuntimeInSeconds") is None:
            req["stoppingCondition"] = {**(req.get("stoppingCondition") or {}),
                                        "maxRuntimeInSeconds": DEFAULT_MAX_RUNTIME}
        token, digest = req["clientToken"], _digest(req)
        existing = self.store.find_by_token(token)
        if existing is not None:
            return self._same_request(existing, digest, token)

        job_id = f"{req['jobName']}-{uuid.uuid4().hex[:12]}"
        final = self.store.job_dir(job_id)
        tmp = final.with_name(staging_name(job_id))  # names this process: cleaned if it dies mid-way
        paths = JobPaths.for_request(tmp, req)
        smc = req["algorithmSpecification"]["scriptModeConfig"]
        field = "algorithmSpecification.scriptModeConfig.s3Uri"
        try:
            tmp.mkdir(mode=0o700)
            src = resolve_location(smc["s3Uri"], field)
            extra = stage_code(src, code_kind(src, smc["compressionType"], field), paths.code_original,
                               paths.code_dir, field, Volume(req))
            paths.make()
            os.close(os.open(paths.log_file, os.O_WRONLY | os.O_CREAT, 0o600))
            sys_path = [str(p.relative_to(paths.code_dir)) for p in extra if p != paths.code_dir]
            body = {"job_id": job_id, "arn": job_arn(job_id), "request": req, "sys_path": sys_path,
                    "home": str(self.home)}
            atomic_write_bytes(paths.spec_file, json.dumps(body, indent=1).encode())
            os.rename(tmp, final)
        except BaseException as e:
            shutil.rmtree(tmp, ignore_errors=True)
            full = storage_full(e, self.home, f"cannot stage job {job_id}") if isinstance(e, Exception) else None
            if full is not None:
                raise full from None
            if isinstance(e, shutil.Error):
                raise ValidationException(f"{field}: cannot copy the code: {e}") from None
            raise
        try:
            row = self.store.insert(job_id, req["jobName"], token, digest, req, req["deviceConfig"]["device"],
                                    str(final))
        except sqlite3.IntegrityError:  # a concurrent create with the same token won
            shutil.rmtree(final, ignore_errors=True)
            return self._same_request(self.store.find_by_token(token), digest, token)
        except StorageFullException:
            shutil.rmtree(final, ignore_errors=True)
            raise
        if not launch:  # waits for ``mpirun ... job exec ARN``; never reconciled as "never started"
            (final / "no-start").touch()
        else:
            from jobs.lifecycle.supervisor import spawn

            try:
                spawn(self.home, job_id)
            except Exception as e:
                reason = f"Could not start the job's supervisor: {type(e).__name__}: {e}"[:1024]
                self.store.transition(job_id, "FAILED", ACTIVE, (("FAILED", reason),), ended_at=time.time(),
                                      failure_reason=reason)
                raise
        return row.arn

    @staticmethod
    def _same_request(existing: JobRow, digest: str, token: str) -> str:
        if existing.request_digest != digest:
            raise ConflictException(f"clientToken {token!r} was already used for job {existing.arn} "
                                    "with a different request")
        return existing.arn

    # --- GetJob -----------------------------------------------------------------------------------

    def _row(self, jobArn) -> JobRow:
        """The job for an ARN (a job id or unique job name is accepted too, for the CLI)."""
        if not isinstance(jobArn, str) or not jobArn:
            raise ValidationException(f"jobArn: must be a non-empty string, got {jobArn!r}")
        if jobArn.startswith("arn:"):
            validate_job_arn(jobArn)
            job_id = jobArn.split(":job/", 1)[1]
            row = self.store.get(job_id)
        else:
            row = self.store.get(jobArn)
            if row is None:
                named = [r for r in self.store.all_jobs() if r.name == jobArn]
                if len(named) > 1:
                    raise ValidationException(f"jobArn: {jobArn!r} names {len(named)} jobs; give the ARN")
                row = named[0] if named else None
        if row is None:
            raise ResourceNotFoundException(f"no job {jobArn!r} under {self.home}")
        return self._reconcile(row)

    def _reconcile(self, row: JobRow) -> JobRow:
        return reconcile(self.store, row)

    def get_job(self, jobArn: str, additionalAttributeNames: list[str] | None = None) -> dict:
        row = self._row(jobArn)
        if additionalAttributeNames is not None:
            if not isinstance(additionalAttributeNames, list) or any(
                    a != "QueueInfo" for a in additionalAttributeNames):
                raise ValidationException(f"additionalAttributeNames: {additionalAttributeNames!r} may only "
                                          "contain 'QueueInfo'")
        resp = {k: row.request[k] for k in _ECHOED if k in row.request}
        resp.update({"jobArn": row.arn, "status": row.status, "createdAt": _dt(row.created_at)})
        if row.started_at is not None:
            resp["startedAt"] = _dt(row.started_at)
        if row.ended_at is not None:
            resp["endedAt"] = _dt(row.ended_at)
            if row.started_at is not None:
                resp["billableDuration"] = int(round((row.ended_at - row.started_at) * 1000))
        if row.failure_reason:
            resp["failureReason"] = row.failure_reason[:1024]
        resp["events"] = [{"eventType": e["event_type"], "timeOfEvent": _dt(e["time"]),
                           "message": (e["message"] or "")[:2500]} for e in self.store.events(row.job_id)][-20:]
        if additionalAttributeNames and row.status == "QUEUED":
            queued = [r for r in self.store.active_jobs() if r.status == "QUEUED"]
            queued.sort(key=lambda r: r.created_at)
            pos = next((i for i, r in enumerate(queued) if r.job_id == row.job_id), 0)
            resp["queueInfo"] = {"queue": "JOBS_QUEUE", "position": str(pos + 1)}
        return resp

    # --- CancelJob --------------------------------------------------------------------------------

    def cancel_job(self, jobArn: str) -> dict:
        row = self._row(jobArn)
        if row.status == "QUEUED" and not row.supervisor_pid and (Path(row.job_dir) / "no-start").exists():
            # Nothing runs it yet (created with --no-start): there is no one to finish the cancel.
            if self.store.transition(row.job_id, "CANCELLED", ("QUEUED",),
                                     (("CANCELLED", "Job cancelled before it was started"),),
                                     cancel_requested=1, ended_at=time.time()):
                return {"jobArn": row.arn, "cancellationStatus": "CANCELLED"}
            row = self._row(row.arn)
        if row.status in ("QUEUED", "RUNNING"):
            if self.store.transition(row.job_id, "CANCELLING", ("QUEUED", "RUNNING"), cancel_requested=1):
                return {"jobArn": row.arn, "cancellationStatus": "CANCELLING"}
            row = self._row(row.arn)
        if row.status in ("CANCELLING", "CANCELLED"):
            return {"jobArn": row.arn, "cancellationStatus": row.status}
        raise ConflictException(f"job {row.arn} is {row.status}; only QUEUED or RUNNING jobs can be cancelled")

    # --- SearchJobs -------------------------------------------------------------------------------

    def search_jobs(self, filters: list[dict], maxResults: int | None = None, nextToken: str | None = None) -> dict:
        validate_search(filters, maxResults, nextToken)
        offset = 0
        if nextToken is not None:
            try:
                offset = int(json.loads(base64.urlsafe_b64decode(nextToken.encode()))["offset"])
            except (ValueError, KeyError, TypeError):
                raise ValidationException(f"nextToken: {nextToken!r} is not a token from this API") from None
        rows = [self._reconcile(r) if r.status in ACTIVE else r for r in self.store.all_jobs()]
        rows = [r for r in rows if all(_matches(r, f) for f in filters)]
        limit = maxResults or 100
        page = rows[offset:offset + limit]
        resp = {"jobs": [_summary(r) for r in page]}
        if offset + limit < len(rows):
            resp["nextToken"] = base64.urlsafe_b64encode(json.dumps({"offset": offset + limit}).encode()).decode()
        return resp

    # --- beyond the API: logs, results, metrics, waiting ------------------------------------------

    def get_job_log(self, jobArn: str) -> Path:
        row = self._row(jobArn)
        return Path(row.job_dir) / "log.txt"

    def get_job_result(self, jobArn: str, allow_pickle: bool = False) -> dict:
        """The saved results, read from ``<s3Path>/<job id>/output/model.tar.gz`` (this job's own
        archive) as ``AwsQuantumJob.result()`` does ({} if the job saved none); waits for nothing."""
        import tarfile

        from jobs.runtime.persistence import _decode

        row = self._row(jobArn)
        if row.status not in TERMINAL:
            raise ConflictException(f"job {row.arn} is {row.status}; results exist once it has ended")
        archive = results_archive(row.request, row.job_id)
        if not archive.exists():
            return {}
        with tarfile.open(archive) as tar:
            try:
                member = tar.extractfile("results.json")
            except KeyError:
                return {}
            return _decode(json.load(member), allow_pickle, f"{archive}!results.json")

    def get_job_metrics(self, jobArn: str, statistic: str = "max") -> dict[str, list]:
        from jobs.runtime.metrics import columns, parse_records

        path = self.get_job_log(jobArn)
        if not path.exists():
            return {}
        with open(path, errors="replace") as f:
            return columns(parse_records(f), statistic)

    def wait_for_job(self, jobArn: str, timeout: float | None = None, poll: float = 0.2) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get_job(jobArn)
            if job["status"] in TERMINAL:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job['jobArn']} still {job['status']} after {timeout} s")
            time.sleep(poll)

    # --- hand-run support (``mpirun ... job exec``) -------------------------------------------------

    def _claim_for_hand_run(self, job_dir=None, arn=None, spec=None) -> str:
        from jobs.lifecycle.supervisor import host_names, prepare, processes_per_host

        if spec is not None:
            with open(spec) as f:
                request = json.load(f)
            arn = self._create(request, base_dir=Path(spec).resolve().parent, launch=False)
        elif job_dir is not None:
            with open(Path(job_dir) / "job.json") as f:
                arn = json.load(f)["arn"]
        if arn is None:
            raise ValidationException("job exec: give a job ARN, --job-dir or --spec")
        row = self._row(arn)
        me = os.getpid()
        n, ppn = len(host_names(row.request)), processes_per_host(row.request)
        if not self.store.transition(row.job_id, "RUNNING", ("QUEUED",),
                                     (("STARTING_INSTANCE", f"Started by hand: {n} instance(s) x {ppn} process(es)"),),
                                     started_at=time.time(), supervisor_pid=me,
                                     supervisor_start=processes.start_time(me)):
            raise ConflictException(f"job {row.arn} is {row.status}; only a QUEUED job that has no supervisor "
                                    "(created with --no-start) can be run by hand")
        paths = JobPaths.for_request(row.job_dir, row.request)
        prepare(self.store, row.job_id, paths, row.request)
        self.store.add_event(row.job_id, "RUNNING", "Running under a launcher started by hand")
        return row.job_dir

    def _finish_hand_run(self, job_dir: Path, code: int) -> str:
        from jobs.lifecycle.supervisor import finish

        with open(job_dir / "job.json") as f:
            job = json.load(f)
        paths = JobPaths.for_request(job_dir, job["request"])
        return finish(self.store, job["job_id"], paths, job["request"], "exited", code)


def _matches(row: JobRow, flt: dict) -> bool:
    name, op, values = flt["name"], flt["operator"], flt["values"]
    if name == "createdAt":
        try:
            bounds = [parse_time(v) for v in values]
        except ValueError as e:
            raise ValidationException(f"filters: createdAt value {e}") from None
        # Compare at the microsecond precision that createdAt is shown with.
        t, bounds = round(row.created_at, 6), [round(b, 6) for b in bounds]
        if op == "BETWEEN":
            return bounds[0] <= t <= bounds[1]
        ops = {"LT": t < bounds[0], "LTE": t <= bounds[0], "GT": t > bounds[0], "GTE": t >= bounds[0],
               "EQUAL": t in bounds}
        if op not in ops:
            raise ValidationException(f"filters: operator {op} does not apply to createdAt")
        return ops[op]
    field = {"jobArn": row.arn, "jobName": row.name, "status": row.status, "device": row.device}[name]
    if op == "EQUAL":
        return field in values
    if op == "CONTAINS":
        return any(v in field for v in values)
    raise ValidationException(f"filters: operator {op} does not apply to {name} (use EQUAL or CONTAINS)")


def _summary(row: JobRow) -> dict:
    s = {"status": row.status, "jobArn": row.arn, "jobName": row.name, "device": row.device,
         "createdAt": _dt(row.created_at)}
    if row.started_at is not None:
        s["startedAt"] = _dt(row.started_at)
    if row.ended_at is not None:
        s["endedAt"] = _dt(row.ended_at)
    if row.request.get("tags"):
        s["tags"] = row.request["tags"]
    return s
