"""What a job may use: the service's limits, the configured hosts' capacity, and its volume.

Who calls this: ``jobs.validation`` (the service's limits, while checking a request),
``jobs.lifecycle.driver`` (``check_capacity`` at create time, before anything is stored; ``Volume``
while staging), ``jobs.lifecycle.staging`` and ``jobs.lifecycle.supervisor`` (``Volume``: what a
job stages and writes, against ``volumeSizeInGb``; ``max_runtime``, ``kill_grace``),
``jobs.lifecycle.launch`` for the hosts it launches on (``configured_hostfile``), and
``jobs.runtime.environment`` (``host_names``, ``processes_per_host``, ``network_interface``).

The shape of a job's ranks is read here alone: ``instanceCount`` instances (``host_names``:
algo-1, algo-2, ...) x ``processes_per_host`` = ``rank_count``.

Capacity: a job starts ``instanceCount x sagemaker_mpi_num_of_processes_per_host`` ranks. On this
host alone that may be at most ``cores x factor``; with a hostfile, at most ``slots x factor``
summed over its hosts, and one instance's processes at most one host's ``slots x factor``. The
oversubscription factor is ``QSIM_JOBS_OVERSUBSCRIBE`` or ``oversubscription_factor`` in
``$QSIM_HOME/config.json`` (default 4).

Volume: ``volumeSizeInGb`` bounds the job directory (the container's /opt/ml): the code as given
and unpacked, the input channels and checkpoints staged into it, and everything the job writes
there. Sizes are apparent sizes (``st_size``), as a user would count them with ``du -b``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from jobs.errors import ValidationException
from jobs.store.layout import load_config

MAX_INSTANCE_COUNT = 5  # Braket's documented limit for instance_count ("The upper limit ... is 5")
DEFAULT_MAX_RUNTIME = 432000  # the SDK's default, 5 days
DEFAULT_KILL_GRACE = 10.0
MPI_PROCESSES_HP = "sagemaker_mpi_num_of_processes_per_host"
MAX_PROCESSES_PER_HOST = 9999  # four digits, as the hyperparameter is validated
DEFAULT_OVERSUBSCRIPTION = 4
GIB = 1 << 30


def processes_per_host(request: dict) -> int:
    return int((request.get("hyperParameters") or {}).get(MPI_PROCESSES_HP, "1"))


def host_names(request: dict) -> list[str]:
    return [f"algo-{i + 1}" for i in range(request["instanceConfig"].get("instanceCount", 1))]


def rank_count(request: dict) -> int:
    return len(host_names(request)) * processes_per_host(request)


def max_runtime(request: dict) -> int:
    return (request.get("stoppingCondition") or {}).get("maxRuntimeInSeconds") or DEFAULT_MAX_RUNTIME


def kill_grace(home: Path) -> float:
    """Seconds between TERM and KILL: ``QSIM_JOBS_KILL_GRACE`` or ``kill_grace_seconds`` in config.json."""
    value = os.environ.get("QSIM_JOBS_KILL_GRACE") or load_config(home).get("kill_grace_seconds")
    return float(value) if value is not None else DEFAULT_KILL_GRACE


def configured_hostfile(home: Path) -> str | None:
    """The MPI hostfile: ``QSIM_HOSTFILE``, else ``hostfile`` in config.json, else None (this host)."""
    return os.environ.get("QSIM_HOSTFILE") or load_config(home).get("hostfile") or None


def oversubscription(home: Path) -> int:
    raw = os.environ.get("QSIM_JOBS_OVERSUBSCRIBE") or load_config(home).get("oversubscription_factor")
    if raw is None:
        return DEFAULT_OVERSUBSCRIPTION
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = 0
    if value < 1:
        raise ValidationException(f"oversubscription factor: {raw!r} (QSIM_JOBS_OVERSUBSCRIBE or "
                                  "config.json oversubscription_factor) must be a positive integer")
    return value


def read_hostfile(path: str) -> list[tuple[str, int]]:
    """(host, slots) per line: MPICH's ``host[:slots]`` or Open MPI's ``host slots=N``; # comments."""
    hosts = []
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as e:
        raise ValidationException(f"hostfile: cannot read {path!r}: {e}") from None
    for n, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([^\s:]+)(?::(\d+))?(?:\s+slots\s*=\s*(\d+))?(?:\s+.*)?", line)
        if not m:
            raise ValidationException(f"hostfile: {path}:{n}: cannot parse {line!r}")
        hosts.append((m.group(1), int(m.group(2) or m.group(3) or 1)))
    if not hosts:
        raise ValidationException(f"hostfile: {path!r} names no hosts")
    return hosts


def host_slots(home: Path) -> tuple[list[tuple[str, int]], str]:
    """The configured hosts with their slots, and where that came from (for messages)."""
    hostfile = configured_hostfile(home)
    if hostfile:
        return read_hostfile(hostfile), f"hostfile {hostfile}"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return [("localhost", cores)], "this host's cores"


def check_capacity(request: dict, home: Path) -> None:
    """Refuse (ValidationException) a job that asks for more ranks than the configured hosts can run."""
    count, ppn = len(host_names(request)), processes_per_host(request)
    hosts, source = host_slots(home)
    factor = oversubscription(home)
    widest = max(s for _, s in hosts)
    if ppn > widest * factor:
        raise ValidationException(
            f"hyperParameters.{MPI_PROCESSES_HP}: {ppn} processes per instance exceed what one configured host "
            f"can run: {widest} slot(s) ({source}) x oversubscription factor {factor} = {widest * factor}")
    total_slots = sum(s for _, s in hosts)
    if count * ppn > total_slots * factor:
        raise ValidationException(
            f"instanceConfig.instanceCount: {count} instance(s) x {ppn} process(es) = {count * ppn} ranks exceed "
            f"what the configured hosts can run: {total_slots} slot(s) ({source}) x oversubscription factor "
            f"{factor} = {total_slots * factor}")


# --- volume -------------------------------------------------------------------------------------------


class VolumeExceeded(ValidationException):
    """What a job stages or writes does not fit its ``volumeSizeInGb``."""


def tree_size(path: Path) -> int:
    """Apparent size of the files under ``path`` (symlinks are not followed); 0 if it is absent."""
    total = 0
    try:
        st = os.lstat(path)
    except OSError:
        return 0
    if not os.path.isdir(path) or os.path.islink(path):
        return st.st_size
    for dirpath, dirs, files in os.walk(path):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


class Volume:
    """The byte budget of one job directory: ``charge`` before writing, ``VolumeExceeded`` past it."""

    FIELD = "instanceConfig.volumeSizeInGb"

    def __init__(self, request: dict, used: int = 0):
        self.gb = request["instanceConfig"]["volumeSizeInGb"]
        self.limit = self.gb * GIB
        self.used = used

    def describe(self) -> str:
        return f"{self.FIELD} = {self.gb} ({self.limit} bytes)"

    def charge(self, nbytes: int, what: str) -> None:
        if self.used + nbytes > self.limit:
            raise VolumeExceeded(f"{self.FIELD}: {what} holds {nbytes} bytes; with the {self.used} bytes already "
                                 f"in the job directory that exceeds {self.describe()}")
        self.used += nbytes


def network_interface(home: Path) -> str:
    """The interface MPI binds to: loopback on this host alone; with a hostfile, the interface the
    hosts share: ``QSIM_JOBS_IFACE`` or ``network_interface`` in config.json, else the interface of
    the default route."""
    if not configured_hostfile(home):
        return "lo"
    configured = os.environ.get("QSIM_JOBS_IFACE") or load_config(home).get("network_interface")
    if configured:
        return str(configured)
    try:
        with open("/proc/net/route") as f:
            for line in f.read().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 2 and fields[1] == "00000000":
                    return fields[0]
    except OSError:
        pass
    return "eth0"
