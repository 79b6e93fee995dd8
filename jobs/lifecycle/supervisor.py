"""The detached process that runs one job: stage, launch ``mpirun``, watch, finish.

Who calls this: ``jobs.client.create_job`` spawns ``python -m jobs.lifecycle.supervisor --daemonize``, which
forks once more so that it is reparented away from the caller (no zombie in a long-lived caller),
then runs ``supervise``. ``prepare`` and ``finish`` are also used by ``jobs.runtime.runner`` when
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
import errno
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from jobs.lifecycle import processes
from jobs.runtime.environment import (
    JobPaths,
    host_names,
    input_data_config,
    processes_per_host,
    resource_config,
)
from jobs.lifecycle.staging import (
    atomic_write_bytes,
    copy_tree_contents,
    pack_results,
    stage_channel,
)
from jobs.runtime.environment import inherited_environment, results_archive
from jobs.lifecycle.limits import Volume, VolumeExceeded, configured_hostfile, network_interface, tree_size
from jobs.store.db import ACTIVE, Store
from jobs.validation import resolve_location
from jobs.lifecycle.reconcile import kill_grace, max_runtime, registry_path, start_watchdog
from qsim.launch import find_mpirun

POLL_SECONDS = 0.1
SWEEP_SECONDS = 0.5  # how often the supervisor lists its descendants and measures the job directory
VOLUME_CHECK_SECONDS = 2.0
ABORT_GRACE_SECONDS = 2.0  # after a rank records its failure, the launcher has this long to end the job


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


def launcher_command(request: dict, paths: JobPaths, home: Path) -> tuple[list[str], dict[str, str]]:
    """The launcher's command line and the network variables its ranks need.

    On this host alone everything binds to loopback: MPICH's fork-based ``mpiexec.gforker`` (beside
    mpirun in the mpich wheel) has no control port at all, and the ranks' transports are held to
    ``lo`` (UCX_NET_DEVICES, FI_TCP_IFACE, FI_SOCKETS_IFACE). With a hostfile, hydra's ``-iface``
    and the same variables name the interface the hosts share (``limits.network_interface``).
    """
    mpirun = find_mpirun()
    if not mpirun:
        raise RuntimeError("mpirun was not found beside this Python or on PATH (install the 'mpich' wheel "
                           "or set QSIM_MPIRUN)")
    hostfile = configured_hostfile(home)
    iface = network_interface(home)
    n = str(rank_count(request))
    program = [sys.executable, *_exec_module(), "--job-dir", str(paths.root)]
    net = {"UCX_NET_DEVICES": iface, "FI_TCP_IFACE": iface, "FI_SOCKETS_IFACE": iface}
    openmpi = False
    try:
        openmpi = "Open MPI" in subprocess.run([mpirun, "--version"], capture_output=True, text=True,
                                               timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        pass
    if openmpi:
        cmd = [mpirun, "--oversubscribe", "--mca", "oob_tcp_if_include", iface, "--mca", "btl_tcp_if_include", iface]
        cmd += ["--hostfile", hostfile] if hostfile else []
        return cmd + ["-n", n, *program], net
    gforker = Path(mpirun).with_name("mpiexec.gforker")
    if not hostfile and os.access(gforker, os.X_OK):
        return [str(gforker), "-n", n, *program], net
    cmd = [mpirun, "-iface", iface] + (["-f", hostfile] if hostfile else [])
    return cmd + ["-n", n, *program], net


def _log(paths: JobPaths, message: str) -> bool:
    """Append one ``[qsim-jobs]`` line to the job log; False if it could not be written (full disk)."""
    try:
        with open(paths.log_file, "a") as f:
            f.write(f"[qsim-jobs] {message}\n")
        return True
    except OSError:
        return False


# --- steps shared with the hand-run runner ------------------------------------------------------------


def prepare(store: Store, job_id: str, paths: JobPaths, request: dict) -> None:
    """DOWNLOADING_DATA: config files, input channels, checkpoints from the checkpoint location.

    What is staged is charged to the job's volume (``instanceConfig.volumeSizeInGb``) before it is
    copied; ``limits.VolumeExceeded`` names what did not fit."""
    store.add_event(job_id, "DOWNLOADING_DATA", "Staging hyperparameters, input data and checkpoints")
    paths.make()
    atomic_write_bytes(paths.hp_file, json.dumps(request.get("hyperParameters") or {}).encode())
    home = store.home
    atomic_write_bytes(paths.resource_config, json.dumps(resource_config(request, home=home)).encode())
    atomic_write_bytes(paths.input_data_config, json.dumps(input_data_config(request)).encode())
    for ch in request.get("inputDataConfig") or []:
        shutil.rmtree(paths.data_dir / ch["channelName"], ignore_errors=True)
    volume = Volume(request, tree_size(paths.root))
    for i, ch in enumerate(request.get("inputDataConfig") or []):
        uri = ch["dataSource"]["s3DataSource"]["s3Uri"]
        field = f"inputDataConfig[{i}].dataSource.s3DataSource.s3Uri"
        src = resolve_location(uri, field)
        stage_channel(uri, src, paths.data_dir / ch["channelName"], volume, f"input channel {ch['channelName']!r}")
    cp = request.get("checkpointConfig")
    if cp:
        src = resolve_location(cp["s3Uri"], "checkpointConfig.s3Uri")
        if src.is_dir():
            volume.charge(tree_size(src), f"the checkpoints at {src}")
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


def lost_output(paths: JobPaths) -> str | None:
    """What the ranks could not write to the log (they record it in ranks/<rank>.json), or None."""
    lost, errors = {}, set()
    for f in sorted(paths.ranks_dir.glob("[0-9]*.json")):
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
            info = json.loads((paths.ranks_dir / f"{r}.json").read_text())
        except (OSError, ValueError):
            missing.append(f"rank {r} (never started)")
            continue
        if "exit" not in info:
            missing.append(f"rank {r} (pid {info.get('pid')})")
    if not missing:
        return None
    return f"{', '.join(missing)} ended without finishing the job script: killed by a signal or exited abruptly"


def upload(store: Store, job_id: str, paths: JobPaths, request: dict) -> list[str]:
    """UPLOADING_RESULTS: model.tar.gz to <s3Path>/<job id>/output/, checkpoints to their location."""
    archive = results_archive(request, job_id)
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


def _disk_full(path: Path) -> bool:
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < (64 << 10)


def finish(store: Store, job_id: str, paths: JobPaths, request: dict, outcome: str, exit_code: int | None,
           note: str | None = None, ranks: int | None = None) -> str:
    """Upload, then record the final status; ``outcome`` is exited | timeout | cancel | volume, and
    ``note`` says why (volume). With ``ranks`` (the number launched), a rank that never recorded
    its exit fails the job. Returns the status."""
    _release_reserve(paths)
    lost = lost_output(paths)
    full = _disk_full(paths.root)
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
        reason = note if outcome == "volume" else _failure_text(paths)
        if reason is None and exit_code:
            last = _last_log_line(paths)
            reason = f"Process exited with code {exit_code}" + (f": {last}" if last else "")
        unfinished = unfinished_ranks(paths, ranks) if outcome == "exited" and ranks is not None else None
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
        status = "FAILED" if reason else "COMPLETED"
        events = (("FAILED", reason[:2500]),) if reason else (("COMPLETED", "Job completed"),)
    store.transition(job_id, status, ACTIVE, events, ended_at=now,
                     failure_reason=reason[:1024] if reason else None)
    return status


# --- the supervisor -------------------------------------------------------------------------------------

RESERVE_BYTES = 1 << 20


def _reserve(paths: JobPaths) -> None:
    """Hold 1 MiB in the job directory while the job runs, freed before the final status is
    written, so a job that fills the disk can still record what happened (and what was lost)."""
    try:
        fd = os.open(paths.ranks_dir / ".reserve", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"\0" * RESERVE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        _release_reserve(paths)


def _release_reserve(paths: JobPaths) -> None:
    try:
        os.unlink(paths.ranks_dir / ".reserve")
    except OSError:
        pass


def launcher_environment(job_id: str, home: Path, network: dict[str, str]) -> dict[str, str]:
    """mpirun's environment (which every rank inherits): the caller's shell filtered by
    ``environment.inherited_environment`` (no secrets, no outer MPI world), the job's markers and
    the launcher's network variables. Each rank then builds its own with ``rank_environment``."""
    env = inherited_environment(os.environ, home)
    if configured_hostfile(home) is None:
        env.update(network)  # one host: loopback, whatever the caller's shell says
    else:
        for k, v in network.items():  # several hosts: the user's own interface settings win
            env.setdefault(k, v)
    env.update({processes.JOB_MARKER: job_id, "QSIM_HOME": str(home), "QSIM_JOBS_SUPERVISED": job_id,
                "PYTHONUNBUFFERED": "1"})
    return env


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
            processes.write_registry(registry_path(self.paths.root), now)

    def over_volume(self) -> str | None:
        used = tree_size(self.paths.root) - (RESERVE_BYTES if (self.paths.ranks_dir / ".reserve").exists() else 0)
        if used > self.volume.limit:
            return (f"The job directory holds {used} bytes, more than {self.volume.describe()}; "
                    "the job was stopped")
        return None

    def poll(self, proc: subprocess.Popen, deadline: float) -> tuple[str, str | None]:
        """Wait for the launcher; returns (outcome, note): exited | timeout | cancel | volume."""
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
        processes.write_registry(registry_path(self.paths.root), [])


def supervise(store: Store, job_id: str) -> str:
    row = store.get(job_id)
    request = row.request
    paths = JobPaths.for_request(row.job_dir, request)
    me = os.getpid()
    processes.become_subreaper()
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
    watchdog = start_watchdog(store.home, job_id, me, processes.start_time(me))
    try:
        prepare(store, job_id, paths, request)
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
            return finish(store, job_id, paths, request, "volume", 1, f"Staging failed: {text}")
        return finish(store, job_id, paths, request, "exited", 1)
    grace = kill_grace(store.home)
    _reserve(paths)
    _log(paths, "launching: " + " ".join(cmd))
    with open(paths.log_file, "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                cwd=paths.code_dir, env=launcher_environment(job_id, store.home, network),
                                start_new_session=True)
    store.transition(job_id, None, ACTIVE, (("RUNNING", f"Running {rank_count(request)} rank(s) under mpirun"),),
                     launcher_pgid=proc.pid)
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
    if outcome == "exited":
        note = watch.over_volume()
        outcome = "volume" if note else outcome
    return finish(store, job_id, paths, request, outcome, code, note, ranks=rank_count(request))


def spawn(home: Path, job_id: str) -> None:
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
    log_path = Path(row.job_dir) / "supervisor.log"
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
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
        reason = f"Internal error in the job supervisor: {type(e).__name__}: {e}"[:1024]
        store.transition(args.job_id, "FAILED", ACTIVE, (("FAILED", reason),), ended_at=time.time(),
                         failure_reason=reason)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
