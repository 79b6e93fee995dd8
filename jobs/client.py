"""The jobs client: boto3's Braket method names and shapes, backed by SQLite and local processes.

Who calls this: users (``JobsClient().create_job(**request)``), ``jobs.cli``, the endpoint
(``jobs.endpoint.braket``) and the hand-run path of ``jobs.runtime.runner``. This layer translates
between the API's shapes and the job lifecycle (``jobs.lifecycle.driver``: create, cancel, run by
hand), which validates with the one validator (``jobs.validation``) and writes every status change.

Every read first reconciles active jobs whose supervisor is gone (``jobs.lifecycle.reconcile``):
they become FAILED (or CANCELLED, if a cancel was requested) with a reason, and any process left
with the job's marker is terminated. Timestamps are timezone-aware ``datetime`` objects, as boto3
returns them.
"""

from __future__ import annotations

import base64
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from jobs.errors import ConflictException, ResourceNotFoundException, ValidationException
from jobs.lifecycle import driver
from jobs.lifecycle.reconcile import clean_stale_staging, reconcile, reconcile_active
from jobs.store import layout
from jobs.store.db import ACTIVE, TERMINAL, JobRow, Store
from jobs.store.layout import JobPaths
from jobs.validation import parse_time, validate_job_arn, validate_search

_ECHOED = ("algorithmSpecification", "checkpointConfig", "deviceConfig", "hyperParameters", "inputDataConfig",
           "instanceConfig", "jobName", "outputDataConfig", "roleArn", "stoppingCondition", "tags", "associations")


def _dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, tz=timezone.utc) if ts is not None else None


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
        return {"jobArn": self.create(request)}

    def create(self, request: dict, base_dir: str | os.PathLike | None = None, start: bool = True) -> str:
        """CreateJob with the CLI's options: relative paths in ``request`` are relative to
        ``base_dir``; ``start=False`` (``--no-start``) leaves the job QUEUED for ``job exec``."""
        return driver.create(self.store, request, base_dir, start)

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
        return driver.cancel(self.store, self._row(jobArn))

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
        return JobPaths.for_row(self._row(jobArn)).log_file

    def get_job_result(self, jobArn: str, allow_pickle: bool = False) -> dict:
        """The saved results, read from ``<s3Path>/<job id>/output/model.tar.gz`` (this job's own
        archive) as ``AwsQuantumJob.result()`` does ({} if the job saved none); waits for nothing."""
        import tarfile

        from jobs.runtime.persistence import _decode

        row = self._row(jobArn)
        if row.status not in TERMINAL:
            raise ConflictException(f"job {row.arn} is {row.status}; results exist once it has ended")
        archive = layout.results_archive(row.request, row.job_id)
        if not archive.exists():
            return {}
        with tarfile.open(archive) as tar:
            try:
                member = tar.extractfile(layout.RESULTS_FILE)
            except KeyError:
                return {}
            return _decode(json.load(member), allow_pickle, f"{archive}!{layout.RESULTS_FILE}")

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

    def claim_for_hand_run(self, job_dir=None, arn=None, spec=None) -> str:
        """Rank 0 of ``mpirun ... job exec``: the job (created here from ``spec``, or the one in
        ``job_dir`` or named by ``arn``) is claimed and staged; returns its job directory."""
        if spec is not None:
            with open(spec) as f:
                request = json.load(f)
            arn = self.create(request, base_dir=Path(spec).resolve().parent, start=False)
        elif job_dir is not None:
            arn = layout.read_job(job_dir)["arn"]
        if arn is None:
            raise ValidationException("job exec: give a job ARN, --job-dir or --spec")
        return driver.start_by_hand(self.store, self._row(arn))


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
