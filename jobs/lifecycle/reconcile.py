"""Keeping job state true when nobody watches: reconciliation, the watchdog, stale staging.

Who calls this: ``jobs.client`` (``reconcile`` on every read of an active job, ``reconcile_active``
and ``clean_stale_staging`` when a client starts, so the next start of any ``job`` command repairs
what a crash left), ``jobs.lifecycle.driver.cancel`` and ``jobs.lifecycle.supervisor``
(``start_watchdog``, a process that outlives it). The final status is written by
``jobs.lifecycle.driver.end``.

* ``reconcile``: an active job whose supervisor is gone becomes FAILED (CANCELLED if a cancel was
  requested), with MAX_RUNTIME_EXCEEDED if its runtime was over, after every process of the job is
  killed (marker, registry: see ``jobs.lifecycle.processes``). A supervisor that is alive but far past the
  job's deadline (stopped, hung) is killed first.
* the watchdog: forked by the supervisor into a session of its own; it polls the supervisor and
  reconciles the job the moment the supervisor dies, so ranks never run on past
  ``maxRuntimeInSeconds`` waiting for a reader.
* staging directories are named ``.staging-<job id>-<pid>-<start time>`` after the creating
  process; one whose creator is gone (``kill -9`` during ``job create``) is removed.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

from jobs.lifecycle import driver, outcome, processes
from jobs.lifecycle.limits import kill_grace, max_runtime
from jobs.store import layout
from jobs.store.db import ACTIVE, TERMINAL, JobRow, Store
from jobs.store.layout import JobPaths

STARTUP_GRACE_SECONDS = 30.0
WATCHDOG_POLL = 0.25
OVERDUE_SLACK = 30.0  # a live supervisor this long past deadline + kill grace is hung (QSIM_JOBS_OVERDUE_SLACK)


def kill_job_processes(row: JobRow, grace: float = 2.0) -> None:
    """Every process of the job: marked, in the launcher's group, or in the supervisor's registry."""
    processes.terminate_job(row.job_id, row.launcher_pgid, grace, processes.read_registry(JobPaths.for_row(row).registry))


def _still_running(row: JobRow) -> bool:
    """Whether any process of the job other than its supervisor runs (ranks, launcher, their children)."""
    known = [(p, st) for p, st in processes.read_registry(JobPaths.for_row(row).registry) if p != row.supervisor_pid]
    return bool(processes.job_processes(row.job_id) or processes.group_alive(row.launcher_pgid)
                or any(processes.alive(p, st) for p, st in known))


def reconcile(store: Store, row: JobRow, now: float | None = None) -> JobRow:
    """Give an active job whose supervisor is gone (or hung past its deadline) its final status."""
    if row.status not in ACTIVE:
        return row
    now = time.time() if now is None else now
    deadline = row.started_at + max_runtime(row.request) if row.started_at else None
    if row.supervisor_pid:
        if processes.alive(row.supervisor_pid, row.supervisor_start):
            slack = float(os.environ.get("QSIM_JOBS_OVERDUE_SLACK") or OVERDUE_SLACK)
            if deadline is None or now < deadline + kill_grace(store.home) + slack or not _still_running(row):
                return row  # on time, or only uploading (slowly) after its ranks are gone
            processes.terminate_job(row.job_id, None, 0.0, [(row.supervisor_pid, row.supervisor_start)])
            reason = (f"The job's supervisor (pid {row.supervisor_pid}) was still running "
                      f"{now - deadline:.0f} s after the job's deadline and was killed")
        else:
            reason = (f"The job's supervisor (pid {row.supervisor_pid}) exited without recording a final "
                      "status: it crashed or was killed")
    elif now - row.created_at < STARTUP_GRACE_SECONDS or JobPaths.for_row(row).no_start.exists():
        return row
    else:
        reason = "The job's supervisor never started"
    kill_job_processes(row)
    if row.cancel_requested:
        driver.end(store, row.job_id, "CANCELLED", reason, now=now)
    elif deadline is not None and now >= deadline:
        reason = (f"Job exceeded its maxRuntimeInSeconds of {max_runtime(row.request)} seconds; all of its "
                  f"processes were terminated. {reason}")
        driver.end(store, row.job_id, "FAILED", reason, timed_out=True, now=now)
    else:
        driver.end(store, row.job_id, "FAILED", outcome.failure_text(JobPaths.for_row(row)) or reason, now=now)
    return store.get(row.job_id)


def reconcile_active(store: Store) -> None:
    for row in store.active_jobs():
        reconcile(store, row)


def clean_stale_staging(store: Store) -> list[Path]:
    """Remove staging directories whose creating process is gone; return what was removed."""
    removed = []
    try:
        entries = list(os.scandir(layout.jobs_root(store.home)))
    except OSError:
        return removed
    for entry in entries:
        if not layout.is_staging(entry.name):
            continue
        owner = layout.staging_owner(entry.name)
        if owner:
            stale = not processes.alive(*owner)
        else:  # an older runner's name without its owner: stale once clearly abandoned
            try:
                stale = time.time() - entry.stat(follow_symlinks=False).st_mtime > 3600
            except OSError:
                continue
        if stale:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


# --- the watchdog process ---------------------------------------------------------------------------


def start_watchdog(home: Path, job_id: str, supervisor_pid: int, supervisor_start: int | None) -> int:
    """Fork the watchdog of one job (called by the supervisor); returns its pid."""
    pid = os.fork()
    if pid:
        return pid
    try:
        os.setsid()
        watch(Store(home), job_id, supervisor_pid, supervisor_start)
    except BaseException:  # noqa: BLE001 - a watchdog never raises into a forked copy of the supervisor
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def watch(store: Store, job_id: str, supervisor_pid: int, supervisor_start: int | None) -> None:
    """Poll until the job has ended; if its supervisor dies first (or hangs), reconcile the job."""
    while True:
        row = store.get(job_id)
        if row is None or row.status in TERMINAL:
            return
        if not processes.alive(supervisor_pid, supervisor_start):
            time.sleep(WATCHDOG_POLL)  # let a supervisor that just finished record its status first
            row = store.get(job_id)
            if row is not None and row.status in ACTIVE:
                reconcile(store, row)
            return
        reconcile(store, row)  # acts only when the supervisor is hung past the deadline
        time.sleep(WATCHDOG_POLL)
