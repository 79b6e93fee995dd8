"""The one lifecycle of a job: create, claim, stage, launch, finish, end; every status change is here.

Who calls this: ``jobs.client`` (the API behind ``qsim job ...`` and the endpoint: ``create``,
``cancel``), ``jobs.lifecycle.supervisor`` (a supervised job: ``claim``, ``stage``, ``launched``,
``finish``, ``fail``), ``jobs.lifecycle.reconcile`` (``end``: a job whose supervisor is gone) and
``jobs.runtime.runner`` for a job run by hand under ``mpirun ... job exec`` (rank 0: ``claim``
with ``by_hand``, ``stage``, ``finish``). No other module writes a job's status or events
(``tests/jobs/test_one_lifecycle.py`` checks it).

Status: events, and the step that writes them::

    QUEUED: QUEUED_FOR_EXECUTION                        create (no-start: waits for `job exec`)
    RUNNING: STARTING_INSTANCE                          claim (the supervisor, or rank 0 by hand)
             DOWNLOADING_DATA                           stage
             RUNNING                                    launched (supervised) / claim (by hand)
             UPLOADING_RESULTS                          finish
    CANCELLING                                          cancel (a --no-start job: CANCELLED at once)
    COMPLETED: COMPLETED | FAILED: [MAX_RUNTIME_EXCEEDED,] FAILED | CANCELLED: CANCELLED
                                                        finish, fail, end
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
import uuid

from jobs.errors import ConflictException, StorageFullException, ValidationException, storage_full
from jobs.lifecycle import outcome, processes
from jobs.lifecycle.limits import (DEFAULT_MAX_RUNTIME, Volume, check_capacity, host_names, max_runtime,
                                   processes_per_host, tree_size)
from jobs.lifecycle.staging import (atomic_write_bytes, copy_tree_contents, pack_results, release_reserve,
                                    stage_channel, stage_code)
from jobs.runtime.environment import input_data_config, resource_config
from jobs.store import layout
from jobs.store.db import ACTIVE, JobRow, Store, job_arn
from jobs.store.layout import JobPaths
from jobs.validation import code_kind, resolve_location, validate_create_job

# --- create -------------------------------------------------------------------------------------------


def _digest(request: dict) -> str:
    body = {k: v for k, v in request.items() if k != "clientToken"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _same_request(existing: JobRow, digest: str, token: str) -> str:
    if existing.request_digest != digest:
        raise ConflictException(f"clientToken {token!r} was already used for job {existing.arn} "
                                "with a different request")
    return existing.arn


def staging_name(job_id: str) -> str:
    """The name of the directory in which this process stages a job (``reconcile.clean_stale_staging``
    removes it once this process is gone)."""
    pid = os.getpid()
    return layout.staging_name(job_id, pid, processes.start_time(pid))


def create(store: Store, request: dict, base_dir=None, start: bool = True) -> str:
    """CreateJob: validate (the one validator), check capacity, stage the code, store it QUEUED and
    start its supervisor (unless ``start`` is False: then it waits for ``job exec``). Returns the ARN."""
    req = validate_create_job(request, base_dir)
    check_capacity(req, store.home)
    if "stoppingCondition" not in req or req["stoppingCondition"].get("maxRuntimeInSeconds") is None:
        req["stoppingCondition"] = {**(req.get("stoppingCondition") or {}),
                                    "maxRuntimeInSeconds": DEFAULT_MAX_RUNTIME}
    token, digest = req["clientToken"], _digest(req)
    existing = store.find_by_token(token)
    if existing is not None:
        return _same_request(existing, digest, token)

    job_id = f"{req['jobName']}-{uuid.uuid4().hex[:12]}"
    final = layout.job_dir(store.home, job_id)
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
                "home": str(store.home)}
        atomic_write_bytes(paths.spec_file, json.dumps(body, indent=1).encode())
        if not start:  # waits for ``mpirun ... job exec ARN``; never reconciled as "never started"
            paths.no_start.touch()
        os.rename(tmp, final)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        full = storage_full(e, store.home, f"cannot stage job {job_id}") if isinstance(e, Exception) else None
        if full is not None:
            raise full from None
        if isinstance(e, shutil.Error):
            raise ValidationException(f"{field}: cannot copy the code: {e}") from None
        raise
    try:
        row = store.insert(job_id, req["jobName"], token, digest, req, req["deviceConfig"]["device"], str(final))
    except sqlite3.IntegrityError:  # a concurrent create with the same token won
        shutil.rmtree(final, ignore_errors=True)
        return _same_request(store.find_by_token(token), digest, token)
    except StorageFullException:
        shutil.rmtree(final, ignore_errors=True)
        raise
    if start:
        _start(store, job_id)
    return row.arn


def _start(store: Store, job_id: str) -> None:
    from jobs.lifecycle import supervisor

    try:
        supervisor.spawn(store.home, job_id)
    except Exception as e:
        fail(store, job_id, f"Could not start the job's supervisor: {type(e).__name__}: {e}")
        raise


# --- cancel -------------------------------------------------------------------------------------------


def cancel(store: Store, row: JobRow) -> dict:
    """CancelJob for ``row`` (already reconciled): CANCELLING, or CANCELLED at once for a job that
    nothing runs yet (created with --no-start)."""
    from jobs.lifecycle.reconcile import reconcile

    if row.status == "QUEUED" and not row.supervisor_pid and JobPaths.for_row(row).no_start.exists():
        if store.transition(row.job_id, "CANCELLED", ("QUEUED",),
                            (("CANCELLED", "Job cancelled before it was started"),),
                            cancel_requested=1, ended_at=time.time()):
            return {"jobArn": row.arn, "cancellationStatus": "CANCELLED"}
        row = reconcile(store, store.get(row.job_id))
    if row.status in ("QUEUED", "RUNNING"):
        if store.transition(row.job_id, "CANCELLING", ("QUEUED", "RUNNING"), cancel_requested=1):
            return {"jobArn": row.arn, "cancellationStatus": "CANCELLING"}
        row = reconcile(store, store.get(row.job_id))
    if row.status in ("CANCELLING", "CANCELLED"):
        return {"jobArn": row.arn, "cancellationStatus": row.status}
    raise ConflictException(f"job {row.arn} is {row.status}; only QUEUED or RUNNING jobs can be cancelled")


# --- claim, stage, launch -----------------------------------------------------------------------------


def claim(store: Store, row: JobRow, by_hand: bool = False) -> str | None:
    """This process takes the job on as its supervisor: QUEUED -> RUNNING (STARTING_INSTANCE).

    Returns "run"; "cancel" if a cancel came first (the caller finishes it as cancelled); None if
    the job is no longer this process's to run. ``by_hand``: rank 0 of ``mpirun ... job exec``
    (only for a job created with --no-start, which no supervisor will ever run), else a
    ConflictException naming the job's status."""
    me = os.getpid()
    mine = {"supervisor_pid": me, "supervisor_start": processes.start_time(me)}
    n, ppn = len(host_names(row.request)), processes_per_host(row.request)
    if by_hand:
        if not (JobPaths.for_row(row).no_start.exists() and store.transition(
                row.job_id, "RUNNING", ("QUEUED",),
                (("STARTING_INSTANCE", f"Started by hand: {n} instance(s) x {ppn} process(es)"),),
                started_at=time.time(), **mine)):
            status = store.get(row.job_id).status
            raise ConflictException(f"job {row.arn} is {status}; only a QUEUED job that has no supervisor "
                                    "(created with --no-start) can be run by hand")
        return "run"
    if not store.transition(row.job_id, None, ("QUEUED", "CANCELLING"), **mine):
        return None
    if store.get(row.job_id).cancel_requested:
        return "cancel"
    if not store.transition(row.job_id, "RUNNING", ("QUEUED",),
                            (("STARTING_INSTANCE", f"Starting {n} instance(s) x {ppn} process(es) per instance"),),
                            started_at=time.time()):
        return "cancel"
    return "run"


def stage(store: Store, job_id: str, paths: JobPaths, request: dict) -> None:
    """DOWNLOADING_DATA: config files, input channels, checkpoints from the checkpoint location.

    What is staged is charged to the job's volume (``instanceConfig.volumeSizeInGb``) before it is
    copied; ``limits.VolumeExceeded`` names what did not fit."""
    store.add_event(job_id, "DOWNLOADING_DATA", "Staging hyperparameters, input data and checkpoints")
    paths.make()
    atomic_write_bytes(paths.hp_file, json.dumps(request.get("hyperParameters") or {}).encode())
    atomic_write_bytes(paths.resource_config, json.dumps(resource_config(request, home=store.home)).encode())
    atomic_write_bytes(paths.input_data_config, json.dumps(input_data_config(request)).encode())
    for ch in request.get("inputDataConfig") or []:
        shutil.rmtree(paths.data_dir / ch["channelName"], ignore_errors=True)
    volume = Volume(request, tree_size(paths.root))
    for i, ch in enumerate(request.get("inputDataConfig") or []):
        uri = ch["dataSource"]["s3DataSource"]["s3Uri"]
        src = resolve_location(uri, f"inputDataConfig[{i}].dataSource.s3DataSource.s3Uri")
        stage_channel(uri, src, paths.data_dir / ch["channelName"], volume, f"input channel {ch['channelName']!r}")
    cp = request.get("checkpointConfig")
    if cp:
        src = resolve_location(cp["s3Uri"], "checkpointConfig.s3Uri")
        if src.is_dir():
            volume.charge(tree_size(src), f"the checkpoints at {src}")
            copy_tree_contents(src, paths.checkpoint_dir)


def launched(store: Store, job_id: str, message: str, launcher_pgid: int | None = None) -> None:
    """The RUNNING event: the ranks were started (by the supervisor's launcher, or by hand)."""
    fields = {"launcher_pgid": launcher_pgid} if launcher_pgid is not None else {}
    store.transition(job_id, None, ACTIVE, (("RUNNING", message),), **fields)


# --- finish -------------------------------------------------------------------------------------------


def upload(store: Store, job_id: str, paths: JobPaths, request: dict) -> list[str]:
    """UPLOADING_RESULTS: model.tar.gz to <s3Path>/<job id>/output/, checkpoints to their location."""
    archive = layout.results_archive(request, job_id)
    store.add_event(job_id, "UPLOADING_RESULTS", f"Packing results to {archive}")
    errors = []
    try:
        pack_results(paths.model_dir, archive)
    except OSError as e:
        errors.append(f"Could not write results to {archive}: {e}")
    cp = request.get("checkpointConfig")
    if cp:
        dst = resolve_location(cp["s3Uri"], "checkpointConfig.s3Uri")
        try:
            dst.mkdir(parents=True, exist_ok=True)
            copy_tree_contents(paths.checkpoint_dir, dst)
        except OSError as e:
            errors.append(f"Could not copy checkpoints to {dst}: {e}")
    return errors


def finish(store: Store, job_id: str, paths: JobPaths, request: dict, how: str, exit_code: int | None,
           note: str | None = None, ranks: int | None = None) -> str:
    """Upload, then record the final status; ``how`` is exited | timeout | cancel | volume, and
    ``note`` says why (volume). With ``ranks`` (the number launched), a rank that never recorded
    its exit fails the job. Returns the status."""
    release_reserve(paths)
    lost = outcome.lost_output(paths)
    full = outcome.disk_full(paths.root)
    errors = upload(store, job_id, paths, request)
    row = store.get(job_id)
    if how == "cancel" or row.cancel_requested:
        return end(store, job_id, "CANCELLED", "Job cancelled; all ranks terminated")
    if how == "timeout":
        return end(store, job_id, "FAILED", f"Job exceeded its maxRuntimeInSeconds of {max_runtime(request)} "
                                            "seconds; all ranks were terminated", timed_out=True)
    reason = note if how == "volume" else outcome.failure_text(paths)
    if reason is None and exit_code:
        last = outcome.last_log_line(paths)
        reason = f"Process exited with code {exit_code}" + (f": {last}" if last else "")
    unfinished = outcome.unfinished_ranks(paths, ranks) if how == "exited" and ranks is not None else None
    induced = reason is None or all(ln.startswith("KeyboardInterrupt") for ln in reason.splitlines())
    if unfinished and induced:
        # A killed rank is the cause; the SIGINT the launcher then sent the others follows it.
        # (A rank that raised is the cause when it recorded why: ranks it aborted are unfinished.)
        reason = unfinished + (f"; then: {reason}" if reason else "")
    if reason is None and errors:
        reason = "; ".join(errors)
    if lost or (full and (reason or errors)):
        where = f"no space left on device under {paths.root}" if full or "space" in (lost or "") else \
            "output was lost"
        reason = f"{where}: {lost or 'the device filled up during the job'}" + (f"; {reason}" if reason else "")
    if reason:
        return end(store, job_id, "FAILED", reason)
    return end(store, job_id, "COMPLETED", "Job completed")


def end(store: Store, job_id: str, status: str, reason: str, timed_out: bool = False,
        now: float | None = None) -> str:
    """Give an active job its final ``status`` with ``reason`` (the event's message; a FAILED job's
    failureReason); ``timed_out`` adds MAX_RUNTIME_EXCEEDED first. Returns ``status``."""
    now = time.time() if now is None else now
    if status != "FAILED":
        store.transition(job_id, status, ACTIVE, ((status, reason),), ended_at=now)
        return status
    events = (("MAX_RUNTIME_EXCEEDED", reason),) if timed_out else ()
    store.transition(job_id, "FAILED", ACTIVE, events + (("FAILED", reason[:2500]),), ended_at=now,
                     failure_reason=reason[:1024])
    return status


def fail(store: Store, job_id: str, reason: str) -> str:
    """FAILED with ``reason`` (at most 1024 characters kept), whatever the job was doing."""
    return end(store, job_id, "FAILED", reason[:1024])


# --- run by hand (``mpirun ... job exec``) --------------------------------------------------------------


def start_by_hand(store: Store, row: JobRow) -> str:
    """Rank 0 of a hand-run launcher takes the job on: claim, stage, RUNNING; returns the job directory."""
    claim(store, row, by_hand=True)
    paths = JobPaths.for_row(row)
    stage(store, row.job_id, paths, row.request)
    launched(store, row.job_id, "Running under a launcher started by hand")
    return row.job_dir


def finish_by_hand(store: Store, job_dir, code: int) -> str:
    """Rank 0, after every rank has ended: upload and record the final status."""
    job = layout.read_job(job_dir)
    return finish(store, job["job_id"], JobPaths.for_request(job_dir, job["request"]), job["request"],
                  "exited", code)
