"""The detached process that runs one job: stage, launch ``mpirun``, watch, finish.

Who calls this: ``jobs.client.create_job`` spawns ``python -m jobs.supervisor --daemonize``, which
forks once more so that it is reparented away from the caller (no zombie in a long-lived caller),
then runs ``supervise``. ``prepare`` and ``finish`` are also used by ``jobs.runner`` when
``mpirun ... job exec`` is started by hand, without a supervisor.

The supervisor records its pid and start time; any reader that finds an active job whose
supervisor is gone marks it FAILED (see ``jobs.client``), so a crash never leaves a job RUNNING.

Lifecycle written here (status: events)::

    QUEUED: QUEUED_FOR_EXECUTION  (by create_job)
    RUNNING: STARTING_INSTANCE, DOWNLOADING_DATA, RUNNING, UPLOADING_RESULTS
    then COMPLETED: COMPLETED | FAILED: [MAX_RUNTIME_EXCEEDED,] FAILED | CANCELLED: CANCELLED
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from jobs import processes
from jobs.environment import (
    JobPaths,
    host_names,
    input_data_config,
    output_root,
    processes_per_host,
    resource_config,
)
from jobs.staging import (
    atomic_write_bytes,
    copy_tree_contents,
    pack_results,
    stage_channel,
)
from jobs.store import ACTIVE, Store, load_config
from jobs.validation import DEFAULT_MAX_RUNTIME, resolve_location
from qsim.launch import find_mpirun

POLL_SECONDS = 0.1
DEFAULT_KILL_GRACE = 10.0
_SCRUBBED_PREFIXES = ("PMI_", "PMIX_", "OMPI_", "HYDRA_", "MPI_LOCALRANKID", "MPIR_", "AMZN_BRAKET_", "SM_",
                      processes.JOB_MARKER, "QSIM_JOBS_SUPERVISED")


def kill_grace(home: Path) -> float:
    value = os.environ.get("QSIM_JOBS_KILL_GRACE") or load_config(home).get("kill_grace_seconds")
    return float(value) if value is not None else DEFAULT_KILL_GRACE


def max_runtime(request: dict) -> int:
    return (request.get("stoppingCondition") or {}).get("maxRuntimeInSeconds") or DEFAULT_MAX_RUNTIME


def rank_count(request: dict) -> int:
    return request["instanceConfig"].get("instanceCount", 1) * processes_per_host(request)


def _exec_module() -> list[str]:
    """``-m qsim job exec`` once qsim's CLI exists, else ``-m jobs exec`` (the same code)."""
    if os.environ.get("QSIM_JOBS_EXEC_VIA") == "jobs":
        return ["-m", "jobs", "exec"]
    try:
        if importlib.util.find_spec("qsim.__main__") and importlib.util.find_spec("qsim.cli"):
            return ["-m", "qsim", "job", "exec"]
    except ImportError:
        pass
    return ["-m", "jobs", "exec"]


def launcher_command(request: dict, paths: JobPaths, home: Path) -> list[str]:
    mpirun = find_mpirun()
    if not mpirun:
        raise RuntimeError("mpirun was not found beside this Python or on PATH (install the 'mpich' wheel "
                           "or set QSIM_MPIRUN)")
    cmd = [mpirun]
    hostfile = os.environ.get("QSIM_HOSTFILE") or load_config(home).get("hostfile")
    openmpi = False
    try:
        openmpi = "Open MPI" in subprocess.run([mpirun, "--version"], capture_output=True, text=True,
                                               timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        pass
    if openmpi:
        cmd += ["--oversubscribe"] + (["--hostfile", hostfile] if hostfile else [])
    elif hostfile:
        cmd += ["-f", hostfile]
    cmd += ["-n", str(rank_count(request)), sys.executable, *_exec_module(), "--job-dir", str(paths.root)]
    return cmd


def _log(paths: JobPaths, message: str) -> None:
    with open(paths.log_file, "a") as f:
        f.write(f"[qsim-jobs] {message}\n")


# --- steps shared with the hand-run runner ------------------------------------------------------------


def prepare(store: Store, job_id: str, paths: JobPaths, request: dict) -> None:
    """DOWNLOADING_DATA: config files, input channels, checkpoints from the checkpoint location."""
    store.add_event(job_id, "DOWNLOADING_DATA", "Staging hyperparameters, input data and checkpoints")
    paths.make()
    atomic_write_bytes(paths.hp_file, json.dumps(request.get("hyperParameters") or {}).encode())
    atomic_write_bytes(paths.resource_config, json.dumps(resource_config(request)).encode())
    atomic_write_bytes(paths.input_data_config, json.dumps(input_data_config(request)).encode())
    for i, ch in enumerate(request.get("inputDataConfig") or []):
        uri = ch["dataSource"]["s3DataSource"]["s3Uri"]
        src = resolve_location(uri, f"inputDataConfig[{i}].dataSource.s3DataSource.s3Uri")
        dst = paths.data_dir / ch["channelName"]
        if dst.exists():
            shutil.rmtree(dst)
        stage_channel(uri, src, dst)
    cp = request.get("checkpointConfig")
    if cp:
        src = resolve_location(cp["s3Uri"], "checkpointConfig.s3Uri")
        if src.is_dir():
            copy_tree_contents(src, paths.checkpoint_dir)


def _failure_text(paths: JobPaths) -> str | None:
    try:
        text = paths.failure_file.read_text(errors="replace").strip()
    except FileNotFoundError:
        return None
    return text[:1024] or None


def _last_log_line(paths: JobPaths) -> str:
    try:
        with open(paths.log_file, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - 4096))
            lines = [ln for ln in f.read().decode(errors="replace").splitlines()
                     if ln.strip() and not ln.startswith("[qsim-jobs]")]
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


def upload(store: Store, job_id: str, paths: JobPaths, request: dict) -> list[str]:
    """UPLOADING_RESULTS: model.tar.gz to <s3Path>/<jobName>/output/, checkpoints to their location."""
    archive = output_root(request) / request["jobName"] / "output" / "model.tar.gz"
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


def finish(store: Store, job_id: str, paths: JobPaths, request: dict, outcome: str, exit_code: int | None) -> str:
    """Upload, then record the final status; ``outcome`` is exited | timeout | cancel. Returns the status."""
    errors = upload(store, job_id, paths, request)
    row = store.get(job_id)
    now = time.time()
    if outcome == "cancel" or row.cancel_requested:
        status, events, reason = "CANCELLED", (("CANCELLED", "Job cancelled; all ranks terminated"),), None
    elif outcome == "timeout":
        reason = (f"Job exceeded its maxRuntimeInSeconds of {max_runtime(request)} seconds; "
                  "all ranks were terminated")
        status, events = "FAILED", (("MAX_RUNTIME_EXCEEDED", reason), ("FAILED", reason))
    else:
        reason = _failure_text(paths)
        if reason is None and exit_code:
            last = _last_log_line(paths)
            reason = f"Process exited with code {exit_code}" + (f": {last}" if last else "")
        if reason is None and errors:
            reason = "; ".join(errors)
        status = "FAILED" if reason else "COMPLETED"
        events = (("FAILED", reason[:2500]),) if reason else (("COMPLETED", "Job completed"),)
    store.transition(job_id, status, ACTIVE, events, ended_at=now,
                     failure_reason=reason[:1024] if reason else None)
    return status


# --- the supervisor -------------------------------------------------------------------------------------


def _child_env(job_id: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    env.update({processes.JOB_MARKER: job_id, "QSIM_HOME": str(home), "QSIM_JOBS_SUPERVISED": job_id,
                "PYTHONUNBUFFERED": "1"})
    return env


def supervise(store: Store, job_id: str) -> str:
    row = store.get(job_id)
    request = row.request
    paths = JobPaths.for_request(row.job_dir, request)
    me = os.getpid()
    if not store.transition(job_id, None, ("QUEUED", "CANCELLING"), supervisor_pid=me,
                            supervisor_start=processes.start_time(me)):
        return store.get(job_id).status
    if store.get(job_id).cancel_requested:
        return finish(store, job_id, paths, request, "cancel", None)
    n, ppn = len(host_names(request)), processes_per_host(request)
    started = time.time()
    if not store.transition(job_id, "RUNNING", ("QUEUED",),
                            (("STARTING_INSTANCE", f"Starting {n} instance(s) x {ppn} process(es) per instance"),),
                            started_at=started):
        return finish(store, job_id, paths, request, "cancel", None)
    try:
        prepare(store, job_id, paths, request)
        cmd = launcher_command(request, paths, store.home)
    except Exception as e:  # staging failed: the job fails, with the reason
        _log(paths, f"staging failed: {type(e).__name__}: {e}")
        paths.failure_file.parent.mkdir(parents=True, exist_ok=True)
        paths.failure_file.write_text(f"Staging failed: {type(e).__name__}: {e}\n")
        return finish(store, job_id, paths, request, "exited", 1)
    grace = kill_grace(store.home)
    _log(paths, "launching: " + " ".join(cmd))
    with open(paths.log_file, "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                cwd=paths.code_dir, env=_child_env(job_id, store.home), start_new_session=True)
    store.transition(job_id, None, ACTIVE, (("RUNNING", f"Running {rank_count(request)} rank(s) under mpirun"),),
                     launcher_pgid=proc.pid)
    deadline = started + max_runtime(request)
    outcome, next_check = "exited", 0.0
    while proc.poll() is None:
        now = time.time()
        if now >= deadline:
            outcome = "timeout"
            break
        if now >= next_check:
            next_check = now + 0.2
            if store.get(job_id).cancel_requested:
                outcome = "cancel"
                break
        time.sleep(POLL_SECONDS)
    if outcome != "exited":
        _log(paths, f"{'max runtime exceeded' if outcome == 'timeout' else 'cancel requested'}: "
                    f"terminating all ranks (TERM, then KILL after {grace:g} s)")
        processes.terminate_job(job_id, proc.pid, grace)
    code = proc.wait()
    processes.terminate_job(job_id, proc.pid, min(grace, 2.0))  # stragglers the script left behind
    return finish(store, job_id, paths, request, outcome, code)


def spawn(home: Path, job_id: str) -> None:
    """Start the supervisor detached from the caller; returns once it has forked away."""
    subprocess.run([sys.executable, "-m", "jobs.supervisor", "--daemonize", "--home", str(home), job_id],
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   start_new_session=True, check=True, env=_supervisor_env())


def _supervisor_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.supervisor")
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
    log_path = Path(row.job_dir) / "supervisor.log"
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    try:
        supervise(store, args.job_id)
    except BaseException as e:
        import traceback

        traceback.print_exc()
        processes.terminate_job(args.job_id, None, 2.0)
        reason = f"Internal error in the job supervisor: {type(e).__name__}: {e}"[:1024]
        store.transition(args.job_id, "FAILED", ACTIVE, (("FAILED", reason),), ended_at=time.time(),
                         failure_reason=reason)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
