"""The in-rank runner: one call per MPI rank (``python -m jobs.runtime``, ``job exec``).

Who calls this: the supervisor's launcher, as ``mpirun -n R python -m jobs.runtime --job-dir DIR``
(``jobs.lifecycle.launch``), and ``jobs.cli`` (``python -m qsim job exec`` / ``python -m jobs exec``)
when a job is run by hand (``job exec ARN`` for a job created with ``--no-start``, or
``job exec --spec REQUEST.json``), e.g. under a cluster scheduler.

In each rank it:
  1. replaces its environment with ``jobs.runtime.environment.rank_environment`` (what Python and MPI
     need, the user's pass-through names, every variable of the contract; nothing else);
  2. sends the rank's output to the job log, one whole line per write, tagged ``[rank] `` when there
     is more than one rank (and, when run by hand, also to the terminal);
  3. runs the entry point with cwd = the code directory (``pkg.mod`` like ``python -m``;
     ``pkg.mod:func`` called with the hyperparameters its signature names, cast to its annotations);
  4. on an uncaught exception or a non-zero ``sys.exit``: appends ``"ExcType: message"`` to
     ``output/failure`` and calls ``MPI.COMM_WORLD.Abort`` so no other rank hangs.

Hand-run: rank 0 plays the supervisor's part through the same lifecycle driver
(``jobs.lifecycle.driver``: claims the job, stages it, and after every rank has finished, uploads
and records the final status). If a rank aborts, readers later find rank 0 gone and mark
the job FAILED with the recorded reason.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import io
import json
import os
import runpy
import sys
import time
import traceback
import typing
from pathlib import Path

from jobs.runtime.environment import mpi_rank, rank_environment
from jobs.store import layout
from jobs.store.layout import JobPaths

_TRUE = ("true", "1", "yes", "y", "on")
_FALSE = ("false", "0", "no", "n", "off", "")


class LineWriter(io.TextIOBase):
    """A text stream that writes whole lines, each with one ``os.write`` per target fd."""

    lost_bytes = 0  # shared by every LineWriter of this process: output that could not be written
    lost_error: str | None = None

    def __init__(self, fds: list[int], tag: str, fileno: int):
        super().__init__()
        self._fds, self._tag, self._fileno, self._buf = fds, tag.encode(), fileno, ""

    @property
    def encoding(self):
        return "utf-8"

    @property
    def errors(self):
        return "replace"

    def writable(self):
        return True

    def isatty(self):
        return False

    def fileno(self):
        return self._fileno

    def write(self, s: str) -> int:
        self._buf += s
        if "\n" in self._buf:
            head, _, self._buf = self._buf.rpartition("\n")
            self._emit(head + "\n")
        return len(s)

    def flush(self):
        if self._buf:
            data, self._buf = self._buf, ""
            self._emit(data)

    def _emit(self, text: str) -> None:
        data = b"".join(self._tag + line for line in text.encode("utf-8", "replace").splitlines(keepends=True))
        for fd in self._fds:
            view = memoryview(data)
            while view:
                try:
                    n = os.write(fd, view)
                except OSError as e:  # e.g. a full disk: counted, recorded at exit (record_lost_output)
                    LineWriter.lost_bytes += len(view)
                    LineWriter.lost_error = e.strerror or str(e)
                    break
                view = view[n:]


def _cast(name: str, value: str, annotation):
    if annotation in (inspect.Parameter.empty, None, str, typing.Any):
        return value
    origin = typing.get_origin(annotation)
    if origin is typing.Union or (origin is not None and str(origin) == "types.UnionType"):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0] if len(args) == 1 else str
        if annotation is str:
            return value
        origin = typing.get_origin(annotation)
    try:
        if annotation is bool:
            if value.strip().lower() in _TRUE:
                return True
            if value.strip().lower() in _FALSE:
                return False
            raise ValueError(value)
        if annotation in (list, dict, tuple) or origin in (list, dict, tuple):
            return (origin or annotation)(json.loads(value))
        return annotation(value)
    except (TypeError, ValueError) as e:
        raise TypeError(f"hyperparameter {name}={value!r} cannot be converted to "
                        f"{getattr(annotation, '__name__', annotation)}: {e}") from None


def bind_hyperparameters(func, hyperparameters: dict[str, str]) -> dict:
    """The keyword arguments for ``func``: hyperparameters it names (all of them if it takes
    ``**kwargs``), cast to its annotations."""
    sig = inspect.signature(func)
    try:
        hints = typing.get_type_hints(func)
    except Exception:
        hints = {}
    params = sig.parameters
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = {}
    for k, v in hyperparameters.items():
        p = params.get(k)
        if p is not None and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            kwargs[k] = _cast(k, v, hints.get(k, p.annotation))
        elif takes_all:
            kwargs[k] = v
    return kwargs


def run_entry_point(entry_point: str, hyperparameters: dict[str, str]):
    module, _, func_name = entry_point.partition(":")
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        raise ModuleNotFoundError(f"entry point {entry_point!r}: no module named {module!r} in the job's code",
                                  name=module)
    if not func_name:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return None
    mod = importlib.import_module(module)
    func = getattr(mod, func_name, None)
    if func is None or not callable(func):
        raise AttributeError(f"entry point {entry_point!r}: module {module!r} has no function {func_name!r}")
    return func(**bind_hyperparameters(func, hyperparameters))


def record_failure(paths: JobPaths, text: str) -> None:
    paths.failure_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.failure_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (text.replace("\n", " ")[:4000] + "\n").encode("utf-8", "replace"))
        os.fsync(fd)
    finally:
        os.close(fd)


RANK_RECORD_BYTES = 4096


def _record_pid(paths: JobPaths, rank: int) -> int | None:
    """Write ranks/<rank>.json, padded to 4 KiB and kept open: the rank rewrites it in place at
    exit (``_record_exit``), which needs no new disk space even when the disk is full."""
    from jobs.lifecycle.processes import start_time

    paths.ranks_dir.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    info = {"pid": pid, "start": start_time(pid), "host": os.uname().nodename}
    try:
        fd = os.open(paths.rank_file(rank), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        os.pwrite(fd, json.dumps(info).encode().ljust(RANK_RECORD_BYTES), 0)
    except OSError:
        return None
    return fd


def _record_exit(fd: int | None, code: int) -> None:
    """Rewrite ranks/<rank>.json in place with the rank's exit code and any output it lost: a
    rank without ``exit`` there was killed (some launchers report a killed rank as exit 0)."""
    if fd is None:
        return
    from jobs.lifecycle.processes import start_time

    info = {"pid": os.getpid(), "start": start_time(os.getpid()), "host": os.uname().nodename, "exit": code}
    if LineWriter.lost_bytes:
        info.update(log_lost_bytes=LineWriter.lost_bytes, log_error=(LineWriter.lost_error or "")[:200])
    try:
        os.pwrite(fd, json.dumps(info).encode()[:RANK_RECORD_BYTES].ljust(RANK_RECORD_BYTES), 0)
        os.fsync(fd)
    except OSError:
        pass


def run_rank(job_dir: Path, supervised: bool, comm=None) -> int:
    """Run this rank's share of the job; returns its exit code (it never returns on failure under MPI)."""
    job = layout.read_job(job_dir)
    request = job["request"]
    paths = JobPaths.for_request(job_dir, request)
    rank, size, local_rank = mpi_rank()
    if comm is None and size > 1:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
    agree_comm = None
    if comm is not None and size > 1:  # reserved for the agreement at the end (before any user code)
        from qsim.distributed.spmd import agreement_comm

        agree_comm = agreement_comm(comm)
    env = rank_environment(job, paths, rank, size, local_rank)
    os.environ.clear()  # a rank starts from the contract, not from the caller's shell
    os.environ.update(env)
    record_fd = _record_pid(paths, rank)

    log_fd = os.open(paths.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    sys.stdout.flush()
    sys.stderr.flush()
    if supervised:  # mpirun's own output already goes to the log; send C-level output there too
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        out_fds, err_fds = [1], [2]
    else:
        out_fds, err_fds = [log_fd, 1], [log_fd, 2]
    tag = f"[{rank}] " if size > 1 else ""
    sys.stdout = LineWriter(out_fds, tag, 1)
    sys.stderr = LineWriter(err_fds, tag, 2)

    code_dir = paths.code_dir
    sys.path[:0] = [str(code_dir)] + [str(code_dir / p) for p in job.get("sys_path", [])]
    os.chdir(code_dir)

    exit_code, reason = 0, None
    try:
        result = run_entry_point(request["algorithmSpecification"]["scriptModeConfig"]["entryPoint"],
                                 request.get("hyperParameters") or {})
        if result is not None:
            from jobs.runtime.persistence import save_job_result

            save_job_result(result)
    except SystemExit as e:
        if e.code not in (None, 0):
            exit_code = e.code if isinstance(e.code, int) else 1
            reason = f"SystemExit: {e.code}"
    except BaseException as e:
        traceback.print_exc()
        exit_code, reason = 1, f"{type(e).__name__}: {e}"
    sys.stdout.flush()
    sys.stderr.flush()
    _record_exit(record_fd, exit_code)
    if exit_code:
        try:
            record_failure(paths, reason)
        except OSError:  # a full disk: the exit code still fails the job
            pass
    if agree_comm is not None:  # qsim.distributed.spmd: all failed alike -> one exit code; else abort
        from qsim.distributed.spmd import settle

        exit_code = settle(agree_comm, reason if exit_code else None, exit_code or 1, quiet=True)
    return exit_code


def exec_job(job_dir: str | None = None, arn: str | None = None, spec: str | None = None,
             home: str | None = None) -> int:
    """``job exec``: supervised (the supervisor's mpirun) or by hand (rank 0 runs the lifecycle)."""
    if job_dir and os.environ.get("QSIM_JOBS_SUPERVISED"):
        if layout.read_job(job_dir)["job_id"] == os.environ["QSIM_JOBS_SUPERVISED"]:
            return run_rank(Path(job_dir), supervised=True)
    rank, size, _ = mpi_rank()
    comm = None
    if size > 1:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
    from jobs.client import JobsClient

    client, payload = None, None
    if rank == 0:
        try:
            client = JobsClient(home)
            payload = {"job_dir": client.claim_for_hand_run(job_dir=job_dir, arn=arn, spec=spec)}
        except Exception as e:  # every rank must learn about it, or the others would wait forever
            payload = {"error": str(e)}
    if comm is not None:
        payload = comm.bcast(payload, root=0)
    if "error" in payload:
        if rank == 0:
            print(f"error: {payload['error']}", file=sys.stderr)
        return 2
    started = time.time()
    code = run_rank(Path(payload["job_dir"]), supervised=False, comm=comm)
    if comm is not None:
        comm.Barrier()
    if rank == 0:
        from jobs.lifecycle.driver import finish_by_hand

        finish_by_hand(client.store, Path(payload["job_dir"]), code)
        print(f"[qsim-jobs] finished in {time.time() - started:.1f} s", file=sys.__stderr__)
    return code


def exec_from_args(args) -> int:
    """``job exec`` from parsed arguments (``jobs.runtime.add_exec_arguments``, plus ``--home``)."""
    if getattr(args, "home", None):
        os.environ["QSIM_HOME"] = args.home
    return exec_job(job_dir=args.job_dir, arn=args.arn, spec=args.spec)


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.runtime [ARN] [--job-dir DIR] [--spec REQ.json] [--home HOME]``."""
    from jobs.runtime import add_exec_arguments

    parser = argparse.ArgumentParser(prog="python -m jobs.runtime", description="Run a job's ranks (under mpirun).")
    parser.add_argument("--home", help="state directory (default $QSIM_HOME or ~/.qsim)")
    add_exec_arguments(parser)
    return exec_from_args(parser.parse_args(argv))
