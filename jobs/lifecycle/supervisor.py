"""The detached process that runs one supervised job: claim, stage, launch, watch, finish.

Who calls this: ``jobs.lifecycle.driver.create`` spawns ``python -m jobs.lifecycle.supervisor
--daemonize``, which forks once more so that it is reparented away from the caller (no zombie in a
long-lived caller), then runs ``supervise``. Every status change goes through
``jobs.lifecycle.driver`` (the same steps a hand-run job takes under ``mpirun ... job exec``);
what is particular to this process is the launcher (``jobs.lifecycle.launch``) and the watch over
it: max runtime, cancel, volume, a rank that failed, and every descendant recorded so that they
can be killed after a crash.

The supervisor records its pid and start time; any reader that finds an active job whose
supervisor is gone marks it FAILED (``jobs.lifecycle.reconcile``), so a crash never leaves a job
RUNNING; its watchdog does it at once.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import subprocess
import sys
import time

from jobs.lifecycle import driver, processes
from jobs.lifecycle.launch import launcher_command, launcher_environment
from jobs.lifecycle.limits import Volume, VolumeExceeded, kill_grace, max_runtime, rank_count, tree_size
from jobs.lifecycle.reconcile import start_watchdog
from jobs.lifecycle.staging import RESERVE_BYTES, hold_reserve
from jobs.runtime.environment import inherited_environment
from jobs.store.db import Store
from jobs.store.layout import JobPaths
from qsim.launch import MPI_START_FAILURE

POLL_SECONDS = 0.1
SWEEP_SECONDS = 0.5  # how often the supervisor lists its descendants and measures the job directory
VOLUME_CHECK_SECONDS = 2.0
ABORT_GRACE_SECONDS = 2.0  # after a rank records its failure, the launcher has this long to end the job


def _log(paths: JobPaths, message: str) -> bool:
    """Append one ``[qsim-jobs]`` line to the job log; False if it could not be written (full disk)."""
    try:
        with open(paths.log_file, "a") as f:
            f.write(f"[qsim-jobs] {message}\n")
        return True
    except OSError:
        return False


class _Watch:
    """The supervisor's view of the running job: descendants (registry), volume, outcome."""

    def __init__(self, store: Store, job_id: str, paths: JobPaths, request: dict, launcher: int,
                 watchdog: int | None):
        self.store, self.job_id, self.paths, self.request = store, job_id, paths, request
        self.launcher, self.exclude = launcher, tuple(p for p in (watchdog,) if p)
        self.volume = Volume(request)
        self.known: list[int] = []
        self.next_sweep = self.next_volume = self.next_cancel = 0.0
        self.failed_at: float | None = None

    def sweep(self) -> None:
        """Record every descendant (pid + start time) so they can be killed after a supervisor crash."""
        processes.reap_orphans(keep=(self.launcher, *self.exclude))
        now = processes.descendants(os.getpid(), exclude=self.exclude)
        if now != self.known:
            self.known = now
            processes.write_registry(self.paths.registry, now)

    def over_volume(self) -> str | None:
        used = tree_size(self.paths.root) - (RESERVE_BYTES if self.paths.reserve.exists() else 0)
        if used > self.volume.limit:
            return (f"The job directory holds {used} bytes, more than {self.volume.describe()}; "
                    "the job was stopped")
        return None

    def poll(self, proc: subprocess.Popen, deadline: float) -> tuple[str, str | None]:
        """Wait for the launcher; returns (outcome, note): exited | timeout | cancel | volume | aborted."""
        while proc.poll() is None:
            now = time.time()
            if now >= deadline:
                return "timeout", None
            if now >= self.next_cancel:
                self.next_cancel = now + 0.2
                if self.store.get(self.job_id).cancel_requested:
                    return "cancel", None
            if now >= self.next_sweep:
                self.next_sweep = now + SWEEP_SECONDS
                self.sweep()
            if now >= self.next_volume:
                self.next_volume = now + VOLUME_CHECK_SECONDS
                note = self.over_volume()
                if note:
                    return "volume", note
            if self.failed_at is None:
                if self.paths.failure_file.exists():
                    self.failed_at = now
            elif now - self.failed_at > ABORT_GRACE_SECONDS:
                return "aborted", None  # a rank failed and called MPI Abort, but the launcher lingers
            time.sleep(POLL_SECONDS)
        return "exited", None

    def kill_everything(self, grace: float) -> None:
        """Terminate the launcher's group, marked processes and every descendant but the watchdog."""
        for _ in range(3):
            known = [(p, processes.start_time(p)) for p in processes.descendants(os.getpid(), exclude=self.exclude)]
            processes.terminate_job(self.job_id, self.launcher, grace, known)
            processes.reap_orphans(keep=self.exclude)
            if not processes.descendants(os.getpid(), exclude=self.exclude):
                break
        processes.write_registry(self.paths.registry, [])


START_ATTEMPTS = 3  # MPICH's UCX start-up fails now and then on a loaded host (inside MPI_Init)
_MPI_START_ERROR = re.compile(MPI_START_FAILURE.encode())


def mpi_start_failed(paths: JobPaths, log_start: int) -> str | None:
    """What MPI said, if the launcher's failure came from MPI's own start-up before any rank ran the
    job's code: no rank wrote its record (``ranks/<r>.json`` is written right after MPI_Init) and
    the log written since the launch holds MPI_Init's fatal error. Starting again is then safe."""
    if paths.rank_files():
        return None
    try:
        with open(paths.log_file, "rb") as f:
            f.seek(log_start)
            found = _MPI_START_ERROR.search(f.read(1 << 20))
    except OSError:
        return None
    return found.group(0).decode() if found else None


def supervise(store: Store, job_id: str) -> str:
    row = store.get(job_id)
    request = row.request
    paths = JobPaths.for_row(row)
    processes.become_subreaper()
    claimed = driver.claim(store, row)
    if claimed is None:
        return store.get(job_id).status
    if claimed == "cancel":
        return driver.finish(store, job_id, paths, request, "cancel", None)
    me = os.getpid()
    started = store.get(job_id).started_at
    watchdog = start_watchdog(store.home, job_id, me, processes.start_time(me))
    try:
        driver.stage(store, job_id, paths, request)
        cmd, network = launcher_command(request, paths, store.home)
    except Exception as e:  # staging failed: the job fails, with the reason
        text = e.message if isinstance(e, VolumeExceeded) else f"{type(e).__name__}: {e}"
        if getattr(e, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
            text = f"no space left on device under {paths.root}: {e}"
        _log(paths, f"staging failed: {text}")
        try:
            paths.failure_file.parent.mkdir(parents=True, exist_ok=True)
            paths.failure_file.write_text(f"Staging failed: {text}\n")
        except OSError:
            return driver.finish(store, job_id, paths, request, "volume", 1, f"Staging failed: {text}")
        return driver.finish(store, job_id, paths, request, "exited", 1)
    grace = kill_grace(store.home)
    hold_reserve(paths)
    for attempt in range(1, START_ATTEMPTS + 1):
        log_start = paths.log_file.stat().st_size if paths.log_file.exists() else 0
        _log(paths, "launching: " + " ".join(cmd))
        with open(paths.log_file, "ab") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    cwd=paths.code_dir, env=launcher_environment(job_id, store.home, network),
                                    start_new_session=True)
        again = f" (start-up attempt {attempt} of {START_ATTEMPTS})" if attempt > 1 else ""
        driver.launched(store, job_id, f"Running {rank_count(request)} rank(s) under mpirun{again}", proc.pid)
        watch = _Watch(store, job_id, paths, request, proc.pid, watchdog)
        outcome, note = watch.poll(proc, started + max_runtime(request))
        if outcome == "aborted":  # some launchers (mpiexec.gforker) are slow to end the other ranks
            _log(paths, f"a rank failed: terminating the others (TERM, then KILL after {min(grace, 2.0):g} s)")
            watch.kill_everything(min(grace, 2.0))
            outcome = "exited"
        if outcome != "exited":
            why = {"timeout": "max runtime exceeded", "cancel": "cancel requested", "volume": note}[outcome]
            _log(paths, f"{why}: terminating all ranks (TERM, then KILL after {grace:g} s)")
            watch.kill_everything(grace)
        code = proc.wait()
        watch.kill_everything(min(grace, 2.0))  # stragglers the script left behind, setsid or not
        failed_start = outcome == "exited" and code != 0 and mpi_start_failed(paths, log_start)
        if not failed_start or attempt == START_ATTEMPTS:
            break
        _log(paths, f"MPI failed to start ({failed_start}) before any rank ran the job's code: "
                    f"starting the ranks again")
    if outcome == "exited":
        note = watch.over_volume()
        outcome = "volume" if note else outcome
    return driver.finish(store, job_id, paths, request, outcome, code, note, ranks=rank_count(request))


def spawn(home, job_id: str) -> None:
    """Start the supervisor detached from the caller; returns once it has forked away. The
    supervisor gets the caller's environment filtered as a rank's is (no secrets)."""
    subprocess.run([sys.executable, "-m", "jobs.lifecycle.supervisor", "--daemonize", "--home", str(home), job_id],
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   start_new_session=True, check=True, env=inherited_environment(os.environ, home))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.lifecycle.supervisor")
    parser.add_argument("--home", required=True)
    parser.add_argument("--daemonize", action="store_true")
    parser.add_argument("job_id")
    args = parser.parse_args(argv)
    if args.daemonize and os.fork() > 0:
        os._exit(0)
    store = Store(args.home)
    row = store.get(args.job_id)
    if row is None:
        return 2
    fd = os.open(JobPaths.for_row(row).supervisor_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    try:
        supervise(store, args.job_id)
    except BaseException as e:
        import traceback

        traceback.print_exc()
        row = store.get(args.job_id)
        processes.terminate_job(args.job_id, row.launcher_pgid if row else None, 2.0,
                                [(p, processes.start_time(p)) for p in processes.descendants(os.getpid())])
        driver.fail(store, args.job_id, f"Internal error in the job supervisor: {type(e).__name__}: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
