"""Where a job's files live: every name under ``$QSIM_HOME`` and in a job directory, spelled once.

Who calls this: everything that reads or writes a job's files (``jobs.store.db``, ``jobs.lifecycle``,
``jobs.runtime``, ``jobs.client``, ``jobs.endpoint``). No other module of ``jobs`` spells one of
these names (``tests/jobs/test_one_lifecycle.py`` checks it).

``$QSIM_HOME`` (default ``~/.qsim``)::

    jobs.db                  SQLite, rollback-journal mode: tables jobs, events (jobs.store.db)
    config.json              optional: {"hostfile": "...", "kill_grace_seconds": 10, "network_interface": "eth0",
                             "oversubscription_factor": 4, "passthrough_env": ["NAME", "PREFIX_*"]}
    jobs/<job id>/           one job directory (below)
    jobs/.staging-<job id>-<pid>-<start time>/   a job being created by that process (removed if it died)

A job directory stands in for the container's ``/opt/ml`` (same relative names)::

    code/original/ code/extracted/      the code as given, and unpacked (cwd and sys.path[0])
    input/config/hyperparameters.json   {str: str}
    input/config/resourceconfig.json    {"current_host": "algo-1", "hosts": [...], ...}
    input/config/inputdataconfig.json   {channel: {...}}
    input/data/<channel>/...            staged input channels
    model/                              AMZN_BRAKET_JOB_RESULTS_DIR (results.json), packed to model.tar.gz
    checkpoints/                        AMZN_BRAKET_CHECKPOINT_DIR (unless checkpointConfig.localPath):
                                        <job name>[_<suffix>].json
    output/failure                      "ExcType: message" of a failed rank -> failureReason
    output/data/ output/intermediate/   SM_OUTPUT_DATA_DIR, SM_OUTPUT_INTERMEDIATE_DIR
    log.txt                             combined output of all ranks (ranks tagged "[r] " when >1)
    job.json                            job id, ARN, the normalised request, extra sys.path, QSIM_HOME
    no-start                            created with --no-start: waits for `mpirun ... job exec`
    supervisor.log                      the supervisor's own output
    ranks/<rank>.json                   pid, start time, host and (at exit) exit code of each rank
    ranks/processes.json                every descendant of the supervisor (pid, start time)
    ranks/.reserve                      1 MiB held while the job runs, so its end can be recorded on a full disk

A job's outputs, outside it: ``<outputDataConfig.s3Path>/<job id>/output/model.tar.gz`` and
``.../<job id>/tasks/`` (quantum tasks' results), keyed by the job id, never by the name alone.

All instances share one job directory (processes on this machine, or hosts sharing a file system).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

DB_FILE = "jobs.db"
CONFIG_FILE = "config.json"
JOBS_DIR = "jobs"
STAGING_PREFIX = ".staging-"
JOB_FILE = "job.json"
LOG_FILE = "log.txt"
NO_START_FILE = "no-start"
SUPERVISOR_LOG = "supervisor.log"
RANKS_DIR = "ranks"
REGISTRY_FILE = "processes.json"
RESERVE_FILE = ".reserve"
FAILURE_FILE = "failure"
RESULTS_FILE = "results.json"
RESULTS_ARCHIVE = "model.tar.gz"
DEFAULT_CHECKPOINTS = "checkpoints"
# Every name above and in JobPaths (tests/jobs/test_one_lifecycle.py: no other module spells them).
NAMES = (DB_FILE, CONFIG_FILE, JOB_FILE, LOG_FILE, NO_START_FILE, SUPERVISOR_LOG, REGISTRY_FILE,
         RESERVE_FILE, RESULTS_FILE, RESULTS_ARCHIVE, STAGING_PREFIX, "hyperparameters.json",
         "resourceconfig.json", "inputdataconfig.json", "extracted", "intermediate")
_STAGING = re.compile(re.escape(STAGING_PREFIX) + r"(?P<job>.+)-(?P<pid>\d+)-(?P<start>\d+)")


# --- $QSIM_HOME -------------------------------------------------------------------------------------


def qsim_home() -> Path:
    return Path(os.environ.get("QSIM_HOME") or Path.home() / ".qsim").expanduser().absolute()


def db_path(home: Path) -> Path:
    return Path(home) / DB_FILE


def config_path(home: Path) -> Path:
    return Path(home) / CONFIG_FILE


def load_config(home: Path) -> dict:
    """``$QSIM_HOME/config.json`` ({} if absent or not an object); a file that cannot be read or
    parsed is a ValidationException naming it."""
    from jobs.errors import ValidationException

    path = config_path(home)
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise ValidationException(f"{CONFIG_FILE}: cannot read {path}: {e}") from None
    return data if isinstance(data, dict) else {}


def jobs_root(home: Path) -> Path:
    return Path(home) / JOBS_DIR


def job_dir(home: Path, job_id: str) -> Path:
    return jobs_root(home) / job_id


def staging_name(job_id: str, pid: int, start: int | None) -> str:
    """The name of the directory in which process ``pid`` (started at ``start``) creates a job."""
    return f"{STAGING_PREFIX}{job_id}-{pid}-{start or 0}"


def is_staging(name: str) -> bool:
    return name.startswith(STAGING_PREFIX)


def staging_owner(name: str) -> tuple[int, int | None] | None:
    """(pid, start time) of the process that names a staging directory, or None for an older name."""
    m = _STAGING.fullmatch(name)
    return (int(m["pid"]), int(m["start"]) or None) if m else None


# --- one job directory ------------------------------------------------------------------------------


class JobPaths:
    def __init__(self, root: str | os.PathLike, checkpoint_local_path: str | None = None):
        self.root = Path(root)
        self.code_original = self.root / "code" / "original"
        self.code_dir = self.root / "code" / "extracted"
        self.input_dir = self.root / "input"
        self.input_config = self.input_dir / "config"
        self.hp_file = self.input_config / "hyperparameters.json"
        self.resource_config = self.input_config / "resourceconfig.json"
        self.input_data_config = self.input_config / "inputdataconfig.json"
        self.data_dir = self.input_dir / "data"
        self.model_dir = self.root / "model"
        self.results_file = self.model_dir / RESULTS_FILE
        self.output_dir = self.root / "output"
        self.failure_file = self.output_dir / FAILURE_FILE
        self.output_data_dir = self.output_dir / "data"
        self.output_intermediate_dir = self.output_dir / "intermediate"
        self.log_file = self.root / LOG_FILE
        self.spec_file = self.root / JOB_FILE
        self.no_start = self.root / NO_START_FILE
        self.supervisor_log = self.root / SUPERVISOR_LOG
        self.ranks_dir = self.root / RANKS_DIR
        self.registry = self.ranks_dir / REGISTRY_FILE
        self.reserve = self.ranks_dir / RESERVE_FILE
        self.checkpoint_dir = self.root / _container_relative(checkpoint_local_path or "/opt/ml/checkpoints")

    @classmethod
    def for_request(cls, root, request: dict) -> "JobPaths":
        return cls(root, (request.get("checkpointConfig") or {}).get("localPath"))

    @classmethod
    def for_row(cls, row) -> "JobPaths":
        """The paths of a stored job (a ``jobs.store.db.JobRow``)."""
        return cls.for_request(row.job_dir, row.request)

    def rank_file(self, rank: int | str) -> Path:
        return self.ranks_dir / f"{rank}.json"

    def rank_files(self) -> list[Path]:
        return sorted(self.ranks_dir.glob("[0-9]*.json"))

    def make(self) -> None:
        """Create the layout; every directory 0700 (requests and results are private to their owner)."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        for d in (self.code_dir, self.input_config, self.data_dir, self.model_dir, self.output_data_dir,
                  self.checkpoint_dir, self.ranks_dir):
            parts = d.relative_to(self.root).parts
            for i in range(len(parts)):
                sub = self.root.joinpath(*parts[:i + 1])
                if not sub.is_dir():
                    sub.mkdir(mode=0o700, exist_ok=True)


def read_job(root: str | os.PathLike) -> dict:
    """The content of a job directory's job.json (job_id, arn, request, sys_path, home)."""
    with open(Path(root) / JOB_FILE) as f:
        return json.load(f)


def _container_relative(local_path: str) -> str:
    """A container path as a path inside the job directory: /opt/ml/x and /opt/braket/x -> x."""
    p = local_path.strip()
    for prefix in ("/opt/ml/", "/opt/braket/"):
        if p.startswith(prefix):
            return p[len(prefix):].strip("/") or DEFAULT_CHECKPOINTS
    return p.strip("/") or DEFAULT_CHECKPOINTS


def checkpoint_file(checkpoint_dir: str | os.PathLike, job_name: str, suffix: str = "") -> Path:
    """``<checkpoint dir>/<job name>[_<suffix>].json`` (Braket's name for a checkpoint)."""
    return Path(checkpoint_dir) / (f"{job_name}_{suffix}.json" if suffix else f"{job_name}.json")


# --- a job's outputs (outside the job directory) ---------------------------------------------------


def output_root(request: dict) -> Path:
    from jobs.validation import resolve_location

    return resolve_location(request["outputDataConfig"]["s3Path"], "outputDataConfig.s3Path")


def job_output_dir(request: dict, job_id: str) -> Path:
    """``<s3Path>/<job id>/``: this job's own outputs (model.tar.gz under ``output/``, ``tasks/``).

    Keyed by the job id (``<jobName>-<12 hex>``, unique like Braket's job ARN), never by the name
    alone, so a job that re-uses a name never touches another job's results."""
    return output_root(request) / job_id


def job_results_dir(request: dict, job_id: str) -> Path:
    return job_output_dir(request, job_id) / "output"


def results_archive(request: dict, job_id: str) -> Path:
    return job_results_dir(request, job_id) / RESULTS_ARCHIVE


def task_results_dir(request: dict, job_id: str) -> Path:
    return job_output_dir(request, job_id) / "tasks"
