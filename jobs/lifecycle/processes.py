"""Process bookkeeping for jobs: liveness by pid + start time, and finding/terminating a job's processes.

Who calls this: ``jobs.lifecycle.supervisor`` (to stop ranks on cancel and timeout),
``jobs.lifecycle.reconcile`` (jobs whose supervisor died), ``jobs.lifecycle.driver`` (the claiming
process's start time) and ``jobs.runtime.runner`` (each rank's). Linux ``/proc`` is used where it exists.

Why not just kill the launcher's process group: MPICH's hydra starts every rank in a session of
its own, so a job's processes span several groups. A job's processes are found three ways, so that
none can slip away:
  * the environment marker ``QSIM_JOB_ID=<id>`` every process of a supervised job inherits;
  * descent: the supervisor is a child subreaper (``prctl(PR_SET_CHILD_SUBREAPER)``), so a
    grandchild that calls ``setsid`` and is orphaned is reparented to the supervisor, not to init,
    and stays its descendant whatever it does to its environment or session;
  * the registry ``ranks/processes.json`` (pid + start time of every descendant, rewritten by
    the supervisor as they come and go), which lets a reader or the watchdog kill them after the
    supervisor itself was killed.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import time
from pathlib import Path

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


PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux >= 3.4); False if unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (zombies included), from /proc/<pid>/task/*/children."""
    out = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def descendants(pid: int, exclude: tuple[int, ...] = ()) -> list[int]:
    """Every live descendant of ``pid`` (breadth first), skipping ``exclude`` and their subtrees."""
    found, todo = [], [pid]
    while todo:
        for c in children(todo.pop()):
            if c in exclude or c in found:
                continue
            if start_time(c) is not None:
                found.append(c)
            todo.append(c)
    return found


def reap_orphans(keep: tuple[int, ...] = ()) -> None:
    """Collect exited children other than ``keep`` (orphans reparented to this subreaper)."""
    for c in children(os.getpid()):
        if c not in keep and start_time(c) is None:
            try:
                os.waitpid(c, os.WNOHANG)
            except ChildProcessError:
                pass


def write_registry(path: Path, pids: list[int]) -> None:
    """Record ``pids`` with their start times (atomically) for whoever must kill them later."""
    entries = [[p, st] for p in pids if (st := start_time(p)) is not None]
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(entries, f)
        os.replace(tmp, path)
    except OSError:  # a full disk must not stop the supervisor; the marker and descent still find them
        pass


def read_registry(path: Path) -> list[tuple[int, int]]:
    try:
        with open(path) as f:
            return [(int(p), int(st)) for p, st in json.load(f)]
    except (OSError, ValueError, TypeError):
        return []


def _signal_all(job_id: str, pgid: int | None, sig: int, known=()) -> bool:
    """Send ``sig`` to the launcher's group, every marked process and every ``known`` (pid, start)
    still running; True if anything was left."""
    targets = [(os.kill, pid) for pid, st in known if alive(pid, st)]
    if pgid and group_alive(pgid):
        targets.append((os.killpg, pgid))
    targets += [(os.kill, pid) for pid in job_processes(job_id)]
    for send, target in targets:
        try:
            send(target, sig)
        except OSError:  # gone in the meantime
            pass
    return bool(targets)


def _any_left(job_id: str, pgid: int | None, known) -> bool:
    return bool(group_alive(pgid) or job_processes(job_id) or any(alive(p, st) for p, st in known))


def terminate_job(job_id: str, pgid: int | None, grace: float, known=()) -> None:
    """TERM the job's processes (marked, in the launcher's group, or ``known`` (pid, start time)
    pairs), wait up to ``grace`` seconds, then KILL what is left; wait until gone."""
    known = list(known)
    if not _signal_all(job_id, pgid, signal.SIGTERM, known):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if not _any_left(job_id, pgid, known):
            return
    _signal_all(job_id, pgid, signal.SIGKILL, known)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and _any_left(job_id, pgid, known):
        time.sleep(0.05)
        _signal_all(job_id, pgid, signal.SIGKILL, known)
