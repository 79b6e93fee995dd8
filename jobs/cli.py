"""``python -m qsim job ...`` (and ``python -m jobs ...``): the command line over ``jobs.client``.

Who calls this: qsim's CLI, through the ``qsim.cli`` entry point ``job = "jobs.cli:register"``,
which calls ``args.func(args)`` and exits with its return value; and ``jobs.__main__``.

Commands print JSON where the API returns data. Bad input gives exit code 2 and one line
``error: ...`` naming the offending value, never a traceback. ``create --wait`` exits 0 only if the
job COMPLETED (1 if it FAILED or was CANCELLED), and prints progress with the elapsed time to stderr.
A job name given where an ARN is expected means the newest job of that name (said on stderr).
``--wait`` and ``get`` warn when a COMPLETED job saved no results but its log shows an error;
``result`` of a job without results says so and exits 1.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
import time
from datetime import datetime
from pathlib import Path

from jobs.store.db import TERMINAL

EXIT_OK, EXIT_JOB_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _json(data) -> str:
    def default(o):
        if isinstance(o, datetime):
            return o.isoformat()
        return repr(o)

    return json.dumps(data, indent=2, default=default)


def _guarded(func):
    @functools.wraps(func)
    def run(args):
        from jobs.errors import JobsError

        if getattr(args, "home", None):
            os.environ["QSIM_HOME"] = args.home
        try:
            return func(args)
        except JobsError as e:
            print(f"error: {e}", file=sys.stderr)
        except json.JSONDecodeError as e:
            print(f"error: {getattr(args, 'spec', None) or 'input'} is not valid JSON: {e}", file=sys.stderr)
        except (OSError, ValueError, TypeError, RuntimeError, TimeoutError) as e:
            print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        return EXIT_BAD_INPUT

    return run


def _client():
    from jobs.client import JobsClient

    return JobsClient()


def _load_spec(path: str) -> dict:
    with open(path) as f:
        spec = json.load(f)
    if not isinstance(spec, dict):
        raise ValueError(f"{path}: the spec must be a JSON object holding a CreateJob request")
    return spec


@_guarded
def cmd_create(args) -> int:
    client = _client()
    spec = _load_spec(args.spec)
    arn = client.create(spec, base_dir=Path(args.spec).resolve().parent, start=not args.no_start)
    if not args.wait:
        print(_json({"jobArn": arn}))
        return EXIT_OK
    print(f"created {arn}", file=sys.stderr)
    job = _follow(client, arn, show_log=not args.quiet)
    print(_json(job))
    _warn_if_silently_failed(client, job)
    return EXIT_OK if job["status"] == "COMPLETED" else EXIT_JOB_FAILED


PROGRESS_EVERY = 5.0  # seconds without news before --wait says what the job is doing


def _follow(client, arn: str, show_log: bool) -> dict:
    """Print events (and the log) to stderr as they appear, until the job ends; return GetJob.
    Every event line carries the time since the job was created; while nothing new appears, a
    progress line every few seconds says what the job is doing."""
    seen_events, offset, log = 0, 0, client.get_job_log(arn)
    last_news = time.monotonic()
    while True:
        job = client.get_job(arn)
        elapsed = _elapsed(job)
        for e in job["events"][seen_events:]:
            print(f"[{e['timeOfEvent']:%H:%M:%S} +{elapsed:.1f}s] {e['eventType']}: {e['message']}", file=sys.stderr)
            last_news = time.monotonic()
        seen_events = len(job["events"])
        if show_log and log.exists():
            new_offset = _copy_log(log, offset, sys.stderr, whole_lines=True)
            if new_offset != offset:
                offset, last_news = new_offset, time.monotonic()
        if job["status"] in TERMINAL:
            if job.get("failureReason"):
                print(f"failureReason: {job['failureReason']}", file=sys.stderr)
            return job
        if time.monotonic() - last_news >= PROGRESS_EVERY:
            print(f"[+{elapsed:.0f}s] {_phase(job, log)}", file=sys.stderr, flush=True)
            last_news = time.monotonic()
        time.sleep(0.25)


def _elapsed(job: dict) -> float:
    created = job.get("createdAt")
    return max(time.time() - created.timestamp(), 0.0) if isinstance(created, datetime) else 0.0


def _phase(job: dict, log: Path) -> str:
    """What a job that printed nothing new lately is doing, from its status, events and log."""
    if job["status"] == "QUEUED" or not job["events"]:
        return "queued: waiting for the supervisor to start it"
    last = job["events"][-1]["eventType"]
    if job["status"] == "CANCELLING":
        return "cancelling: stopping the ranks"
    if last == "DOWNLOADING_DATA":
        return "staging: copying code, hyperparameters, input data and checkpoints"
    if last == "UPLOADING_RESULTS":
        return "packing results"
    if last == "RUNNING" and not _script_has_printed(log):
        from jobs.lifecycle.limits import rank_count

        doing = f"starting {rank_count(job)} rank(s): importing Python packages"
        if _kernels_need_compiling():
            doing += ", compiling qsim's kernels (first run after an install or upgrade; cached afterwards)"
        return doing
    return "running (no new output)"


def _script_has_printed(log: Path) -> bool:
    """Whether the log holds anything besides the launcher's own ``[qsim-jobs]`` lines."""
    try:
        with open(log, "rb") as f:
            head = f.read(LOG_CHUNK)
    except OSError:
        return False
    return any(line.strip() and not line.startswith(b"[qsim-jobs]") for line in head.splitlines())


def _kernels_need_compiling() -> bool:
    """True if Numba's on-disk cache of qsim's kernels is missing or older than their source."""
    import importlib.util

    spec = importlib.util.find_spec("qsim.kernels")
    if spec is None or not spec.submodule_search_locations or os.environ.get("NUMBA_CACHE_DIR"):
        return False
    kernels = Path(list(spec.submodule_search_locations)[0])
    sources = [p.stat().st_mtime for p in kernels.glob("*.py")]
    caches = [p.stat().st_mtime for p in (kernels / "__pycache__").glob("*.nbi")]
    return bool(sources) and (not caches or max(sources) > max(caches))


# A line of a job's log that says the script failed: a traceback, "... failed", "error: ..." or
# "SomeError: ...".
_FAILURE_LINE = re.compile(r"Traceback \(most recent call last\)|\bfail(?:ed|ure)\b|\berror:\s|"
                           r"^(?:\[\d+\]\s*)?[\w.]*(?:Error|Exception)\b\s*:", re.IGNORECASE)


def _failure_line(log: Path) -> tuple[int, str] | None:
    """The first line of ``log`` that says something failed, as (line number, text), or None."""
    try:
        with open(log, errors="replace") as f:
            for number, line in enumerate(f, 1):
                if not line.startswith("[qsim-jobs]") and _FAILURE_LINE.search(line[:4096]):
                    return number, line.strip()[:200]
    except OSError:
        return None
    return None


def _saved_results(client, arn: str) -> dict | None:
    try:
        return client.get_job_result(arn)
    except Exception:  # an unreadable archive is not this check's business: get/result report it
        return None


def _warn_if_silently_failed(client, job: dict) -> None:
    """A COMPLETED job with no results whose log shows an error probably caught its own exception
    (Braket's example scripts do): say so on stderr."""
    if job["status"] != "COMPLETED" or _saved_results(client, job["jobArn"]) != {}:
        return
    hit = _failure_line(client.get_job_log(job["jobArn"]))
    if hit:
        print(f"warning: job {job['jobName']} is COMPLETED but saved no results, and its log says something "
              f"failed (line {hit[0]}: {hit[1]!r}); the script probably caught an error. See "
              f"`python -m qsim job logs {job['jobArn']}`", file=sys.stderr)


LOG_CHUNK = 1 << 16


def _copy_log(path: Path, offset: int, out, whole_lines: bool = False) -> int:
    """Copy ``path`` from ``offset`` to its current end onto the text stream ``out``, 64 KiB at a
    time (memory stays bounded whatever the log's size); return the new offset. With
    ``whole_lines`` a trailing partial line is left for the next call."""
    target = getattr(out, "buffer", None)
    with open(path, "rb") as f:
        f.seek(offset)
        while True:
            chunk = f.read(LOG_CHUNK)
            if not chunk:
                break
            if whole_lines:
                cut = chunk.rfind(b"\n") + 1
                if not cut:
                    if len(chunk) < LOG_CHUNK:
                        break
                    cut = len(chunk)  # one line longer than a chunk: print it in pieces
                chunk = chunk[:cut]
                f.seek(offset + cut)
            offset += len(chunk)
            if target is not None:
                out.flush()
                target.write(chunk)
            else:
                out.write(chunk.decode(errors="replace"))
    out.flush()
    return offset


def _resolve(client, ref: str) -> str:
    """An ARN or job id as given; a job name that several jobs share means the newest of them
    (said on stderr), so the commands work after the second run of the same spec."""
    if ref.startswith("arn:") or client.store.get(ref) is not None:
        return ref
    named = [r for r in client.store.all_jobs() if r.name == ref]
    if len(named) < 2:
        return ref
    newest = max(named, key=lambda r: r.created_at)
    created = datetime.fromtimestamp(newest.created_at).strftime("%Y-%m-%d %H:%M:%S")
    print(f"note: {len(named)} jobs are named {ref!r}; using the newest, {newest.arn} (created {created}); "
          f"give an ARN to pick another", file=sys.stderr)
    return newest.arn


@_guarded
def cmd_get(args) -> int:
    client = _client()
    job = client.get_job(jobArn=_resolve(client, args.arn))
    print(_json(job))
    _warn_if_silently_failed(client, job)
    return EXIT_OK


@_guarded
def cmd_cancel(args) -> int:
    client = _client()
    print(_json(client.cancel_job(jobArn=_resolve(client, args.arn))))
    return EXIT_OK


@_guarded
def cmd_search(args) -> int:
    filters = json.loads(args.filters) if args.filters else []
    if args.status:
        filters.append({"name": "status", "operator": "EQUAL", "values": args.status})
    if args.name_contains:
        filters.append({"name": "jobName", "operator": "CONTAINS", "values": [args.name_contains]})
    kwargs = {"filters": filters}
    if args.max_results is not None:
        kwargs["maxResults"] = args.max_results
    if args.next_token:
        kwargs["nextToken"] = args.next_token
    print(_json(_client().search_jobs(**kwargs)))
    return EXIT_OK


@_guarded
def cmd_logs(args) -> int:
    client = _client()
    args.arn = _resolve(client, args.arn)
    path = client.get_job_log(args.arn)
    offset = 0
    while True:
        if path.exists():
            offset = _copy_log(path, offset, sys.stdout)
        if not args.follow:
            return EXIT_OK
        if client.get_job(args.arn)["status"] in TERMINAL:
            if path.exists() and path.stat().st_size > offset:
                continue
            return EXIT_OK
        time.sleep(0.25)


@_guarded
def cmd_result(args) -> int:
    client = _client()
    arn = _resolve(client, args.arn)
    result = client.get_job_result(arn, allow_pickle=args.allow_pickle)
    if result == {}:
        job = client.get_job(jobArn=arn)
        print(f"error: job {job['jobName']} ({job['status']}) saved no results: its output has no results.json "
              f"(the script did not call save_job_result, or failed before it)", file=sys.stderr)
        if job.get("failureReason"):
            print(f"failureReason: {job['failureReason']}", file=sys.stderr)
        hit = _failure_line(client.get_job_log(arn))
        if hit:
            print(f"its log says something failed at line {hit[0]}: {hit[1]!r}", file=sys.stderr)
        return EXIT_JOB_FAILED
    print(_json(result))
    return EXIT_OK


@_guarded
def cmd_metrics(args) -> int:
    from jobs.runtime import metrics

    client = _client()
    data = client.get_job_metrics(_resolve(client, args.arn), statistic=args.statistic)
    if args.json:
        print(_json(data))
    else:
        print(metrics.format_table(data))
    if args.plot:
        metrics.plot_metrics(data, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return EXIT_OK


def cmd_exec(args) -> int:
    from jobs.runtime.runner import exec_from_args

    return exec_from_args(args)


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``job`` command (with its sub-commands) to an argparse sub-parsers object."""
    job = subparsers.add_parser("job", help="run Braket-style hybrid jobs locally",
                                description="Run Braket-style hybrid jobs locally (state in $QSIM_HOME).")
    add_job_commands(job)
    return job


def add_job_commands(job: argparse.ArgumentParser) -> None:
    from jobs.runtime import add_exec_arguments

    job.add_argument("--home", help="state directory (default $QSIM_HOME or ~/.qsim)")
    sub = job.add_subparsers(dest="job_command", metavar="COMMAND", required=True)

    p = sub.add_parser("create", help="create a job from a CreateJob request in JSON")
    p.add_argument("--spec", required=True, help="JSON file holding the CreateJob request; relative paths "
                                                 "in it are relative to the file")
    p.add_argument("--wait", action="store_true", help="follow the job and exit non-zero unless it completes")
    p.add_argument("--quiet", action="store_true", help="with --wait, show events but not the log")
    p.add_argument("--no-start", action="store_true", help="only create it; run it with mpirun ... job exec ARN")
    p.set_defaults(func=cmd_create)

    for name, func, helptext in (("get", cmd_get, "GetJob"), ("cancel", cmd_cancel, "CancelJob"),
                                 ("result", cmd_result, "the saved results (results.json)")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("arn", help="job ARN (a job id or a job name also works: the newest job of that name)")
        if name == "result":
            p.add_argument("--allow-pickle", action="store_true")
        p.set_defaults(func=func)

    p = sub.add_parser("search", help="SearchJobs")
    p.add_argument("--status", nargs="+", help="only jobs with these statuses")
    p.add_argument("--name-contains")
    p.add_argument("--filters", help='SearchJobs filters as JSON, e.g. \'[{"name":"createdAt",...}]\'')
    p.add_argument("--max-results", type=int)
    p.add_argument("--next-token")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("logs", help="the job's combined output")
    p.add_argument("arn")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing until the job ends")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("metrics", help="metrics parsed from the log, as a table")
    p.add_argument("arn")
    p.add_argument("--plot", metavar="FILE.png", help="also plot them (needs matplotlib)")
    p.add_argument("--json", action="store_true", help="print the columns as JSON instead of a table")
    p.add_argument("--statistic", choices=("max", "min"), default="max")
    p.set_defaults(func=cmd_metrics)

    p = sub.add_parser("exec", help="the in-rank runner (run under mpirun)")
    add_exec_arguments(p)
    p.set_defaults(func=cmd_exec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs", description="Run Braket-style hybrid jobs locally.")
    add_job_commands(parser)
    args = parser.parse_args(argv)
    return args.func(args)
