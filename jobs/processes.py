"""Process bookkeeping for jobs: liveness by pid + start time, and finding/terminating a job's processes.

Who calls this: ``jobs.supervisor`` (to stop ranks on cancel and timeout) and ``jobs.client``
(to reconcile jobs whose supervisor died). Linux ``/proc`` is used where it exists.

Why not just kill the launcher's process group: MPICH's hydra starts every rank in a session of
its own, so a job's processes span several groups. Every process of a supervised job inherits the
environment marker ``QSIM_JOB_ID=<id>``, which is how they are found (children of ranks included).
"""

from __future__ import annotations

import os
import signal
import time

JOB_MARKER = "QSIM_JOB_ID"


def start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), or None if it is gone or unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def alive(pid: int | None, started: int | None = None) -> bool:
    """Whether ``pid`` runs and (if ``started`` is given) is the same process that was recorded."""
    if not pid:
        return False
    if os.path.isdir("/proc"):
        st = start_time(pid)
        return st is not None and (started is None or st == started)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def job_processes(job_id: str) -> list[int]:
    """Pids whose environment carries ``QSIM_JOB_ID=<job_id>`` (Linux only; [] elsewhere)."""
    needle = f"{JOB_MARKER}={job_id}".encode()
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    me = os.getpid()
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if needle in env.split(b"\0") and start_time(int(entry)) is not None:
            found.append(int(entry))
    return found


def group_alive(pgid: int | None) -> bool:
    if not pgid:
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if os.path.isdir("/proc"):  # killpg(0) also succeeds for zombies; look for a live member
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.getpgid(int(entry)) == pgid and start_time(int(entry)) is not None:
                        return True
                except OSError:
                    pass
        return False
    return True


def _signal_all(job_id: str, pgid: int | None, sig: int) -> bool:
    """Send ``sig`` to the launcher's group and every marked process; True if anything was left."""
    left = False
    if pgid and group_alive(pgid):
        left = True
        try:
            os.killpg(pgid, sig)
        except OSError:
            pass
    for pid in job_processes(job_id):
        left = True
        try:
            os.kill(pid, sig)
        except OSError:
            pass
    return left


def terminate_job(job_id: str, pgid: int | None, grace: float) -> None:
    """TERM the job's processes, wait up to ``grace`` seconds, then KILL what is left; wait until gone."""
    if not _signal_all(job_id, pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if not (group_alive(pgid) or job_processes(job_id)):
            return
    _signal_all(job_id, pgid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and (group_alive(pgid) or job_processes(job_id)):
        time.sleep(0.05)
        _signal_all(job_id, pgid, signal.SIGKILL)
