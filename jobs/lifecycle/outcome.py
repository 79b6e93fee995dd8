"""What a job directory says about how the job ended: the failure a rank recorded, the last line
of the log, output the ranks lost, ranks that never finished, a full disk.

Who calls this: ``jobs.lifecycle.driver.finish`` (a job whose ranks have ended) and
``jobs.lifecycle.reconcile`` (a job whose supervisor is gone). The records are written by
``jobs.runtime.runner`` in each rank (``output/failure``, ``ranks/<rank>.json``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from jobs.store.layout import JobPaths


def failure_text(paths: JobPaths) -> str | None:
    """What the failed ranks recorded (``"ExcType: message"`` lines), at most 1024 characters, or None."""
    try:
        text = paths.failure_file.read_text(errors="replace").strip()
    except OSError:
        return None
    return text[:1024] or None


def last_log_line(paths: JobPaths) -> str:
    """The last line of the job's log that the job itself wrote (not a ``[qsim-jobs]`` line)."""
    try:
        with open(paths.log_file, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - 4096))
            lines = [ln for ln in f.read().decode(errors="replace").splitlines()
                     if ln.strip() and not ln.startswith("[qsim-jobs]")]
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


def lost_output(paths: JobPaths) -> str | None:
    """What the ranks could not write to the log (they record it in ranks/<rank>.json), or None."""
    lost, errors = {}, set()
    for f in paths.rank_files():
        try:
            info = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if info.get("log_lost_bytes"):
            lost[f.stem] = info["log_lost_bytes"]
            errors.add(info.get("log_error") or "write error")
    if not lost:
        return None
    ranks = ", ".join(sorted(lost, key=int))
    return (f"the job log {paths.log_file} is truncated: {sum(lost.values())} bytes of output were lost "
            f"(rank {ranks}: {'; '.join(sorted(errors))})")


def unfinished_ranks(paths: JobPaths, count: int) -> str | None:
    """Ranks that never recorded an exit code (killed by a signal, or gone before the runner ended)."""
    missing = []
    for r in range(count):
        try:
            info = json.loads(paths.rank_file(r).read_text())
        except (OSError, ValueError):
            missing.append(f"rank {r} (never started)")
            continue
        if "exit" not in info:
            missing.append(f"rank {r} (pid {info.get('pid')})")
    if not missing:
        return None
    return f"{', '.join(missing)} ended without finishing the job script: killed by a signal or exited abruptly"


def disk_full(path: Path) -> bool:
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < (64 << 10)
