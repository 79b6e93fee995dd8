"""Validation of API requests against the Braket service model (botocore ``braket/2019-09-01``).

Who calls this: ``jobs.lifecycle.driver.create`` (CreateJob, for the CLI, the endpoint and
``job exec --spec`` alike) before anything is written, so a bad request creates nothing, and
``jobs.client`` (SearchJobs, job ARNs).
Every rule raises ``ValidationException`` whose message names the field (as a dotted path) and the
rule, e.g. ``jobName: 'a_b' does not match the pattern [a-zA-Z0-9](-*[a-zA-Z0-9]){0,50} (whole
value)``. Patterns are the service model's, applied with ``re.fullmatch``; the bounds on
instanceCount and processes per host live in ``jobs.lifecycle.limits``.

Where this runner differs from the service, on purpose:
  * locations (``s3Uri``, ``s3Path``) are local paths or ``file://`` URIs; ``s3://``/``https://``
    are refused with a message naming the supported schemes, and code/input locations must exist;
  * ``containerImage`` is refused (there are no containers here);
  * ``local:qsim/<name>`` devices must be known to qsim at create time;
  * names that become paths or variables get local rules: no NUL in any string, channelName not
    ``.`` or ``..``, hyperparameter keys without ``=`` (they become ``SM_HP_<KEY>``).
"""

from __future__ import annotations

import copy
import os
import re
import tarfile
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from jobs.lifecycle import limits
from jobs.lifecycle.limits import MPI_PROCESSES_HP
from jobs.errors import ValidationException

# Patterns as the service model writes them; every one is applied with re.fullmatch (never ^...$,
# whose $ also matches before a trailing newline).
JOB_NAME_PATTERN = r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,50}"
ROLE_ARN_PATTERN = r"arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"
JOB_ARN_PATTERN = r"arn:aws[a-z\-]*:braket:[a-z0-9\-]+:[0-9]{12}:job/.*"
RESOURCE_ARN_PATTERN = r"arn:aws[a-z\-]*:braket:[a-z0-9\-]*:[0-9]{12}:.*"
CHANNEL_NAME_PATTERN = r"[A-Za-z0-9\.\-_]+"
HYPERPARAMETER_VALUE_PATTERN = r".*"
# Local rules (names that become paths, variables or Python imports here):
LOCAL_DEVICE_PATTERN = r"local:([A-Za-z0-9_.\-]+)/([A-Za-z0-9_.\-]+)"
ENTRY_POINT_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*(:[A-Za-z_][A-Za-z0-9_]*)?"
HYPERPARAMETER_KEY_PATTERN = r"[^=\x00]+"  # becomes the variable name SM_HP_<KEY>

INSTANCE_TYPES = (
    "ml.t3.large ml.t3.xlarge ml.t3.2xlarge ml.m4.xlarge ml.m4.2xlarge ml.m4.4xlarge ml.m4.10xlarge "
    "ml.m4.16xlarge ml.m5.large ml.m5.xlarge ml.m5.2xlarge ml.m5.4xlarge ml.m5.12xlarge ml.m5.24xlarge "
    "ml.c4.xlarge ml.c4.2xlarge ml.c4.4xlarge ml.c4.8xlarge ml.c5.xlarge ml.c5.2xlarge ml.c5.4xlarge "
    "ml.c5.9xlarge ml.c5.18xlarge ml.c5n.xlarge ml.c5n.2xlarge ml.c5n.4xlarge ml.c5n.9xlarge "
    "ml.c5n.18xlarge ml.p2.xlarge ml.p2.8xlarge ml.p2.16xlarge ml.p3.2xlarge ml.p3.8xlarge "
    "ml.p3.16xlarge ml.p3dn.24xlarge ml.p4d.24xlarge ml.g4dn.xlarge ml.g4dn.2xlarge ml.g4dn.4xlarge "
    "ml.g4dn.8xlarge ml.g4dn.12xlarge ml.g4dn.16xlarge ml.g6.xlarge ml.g6.2xlarge ml.g6.4xlarge "
    "ml.g6.8xlarge ml.g6.12xlarge ml.g6.16xlarge ml.g6.24xlarge ml.g6.48xlarge ml.g6e.xlarge "
    "ml.g6e.2xlarge ml.g6e.4xlarge ml.g6e.8xlarge ml.g6e.12xlarge ml.g6e.16xlarge ml.g6e.24xlarge "
    "ml.g6e.48xlarge"
).split()
COMPRESSION_TYPES = ("NONE", "GZIP")
ASSOCIATION_TYPES = ("RESERVATION_TIME_WINDOW_ARN",)
SEARCH_OPERATORS = ("LT", "LTE", "EQUAL", "GT", "GTE", "BETWEEN", "CONTAINS")
SEARCH_FILTER_NAMES = ("jobArn", "createdAt", "jobName", "status", "device")
MAX_RUNTIME_RANGE = (1, 432000)
SUPPORTED_SCHEMES = "a local path or a file:// URI"

CREATE_JOB_FIELDS = {
    "clientToken", "algorithmSpecification", "inputDataConfig", "outputDataConfig", "checkpointConfig",
    "jobName", "roleArn", "stoppingCondition", "instanceConfig", "hyperParameters", "deviceConfig", "tags",
    "associations",
}


def _fail(field: str, rule: str) -> None:
    raise ValidationException(f"{field}: {rule}")


def _struct(value: Any, field: str, members: set[str], required: tuple[str, ...] = ()) -> dict:
    if not isinstance(value, dict):
        _fail(field, f"must be an object, got {type(value).__name__}")
    unknown = sorted(set(value) - members, key=repr)
    if unknown:
        _fail(f"{field}.{unknown[0]}" if field else str(unknown[0]),
              f"unknown parameter; valid parameters are {', '.join(sorted(members))}")
    for name in required:
        if value.get(name) is None:
            _fail(f"{field}.{name}" if field else name, "is required")
    return value


def _string(value: Any, field: str, min_len: int = 0, max_len: int | None = None,
            pattern: str | None = None) -> str:
    if not isinstance(value, str):
        _fail(field, f"must be a string, got {type(value).__name__} {value!r}")
    if len(value) < min_len:
        _fail(field, f"must be at least {min_len} character{'s' if min_len > 1 else ''} long, got {value!r}")
    if max_len is not None and len(value) > max_len:
        _fail(field, f"must be at most {max_len} characters long, got {len(value)}")
    if "\x00" in value:
        _fail(field, f"{value[:80]!r} must not contain a NUL character")
    if pattern is not None and not re.fullmatch(pattern, value):
        _fail(field, f"{value[:300]!r} does not match the pattern {pattern} (whole value)")
    return value


def _integer(value: Any, field: str, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(field, f"must be an integer, got {type(value).__name__} {value!r}")
    if lo is not None and value < lo:
        _fail(field, f"must be >= {lo}, got {value}")
    if hi is not None and value > hi:
        _fail(field, f"must be <= {hi}, got {value}")
    return value


def _enum(value: Any, field: str, allowed) -> str:
    if value not in allowed:
        shown = ", ".join(allowed) if len(allowed) <= 12 else ", ".join(allowed[:6]) + ", ..."
        _fail(field, f"{value!r} is not one of {shown}")
    return value


def _string_map(value: Any, field: str) -> dict:
    if not isinstance(value, dict):
        _fail(field, f"must be an object of strings, got {type(value).__name__}")
    for k, v in value.items():
        _string(k, f"{field} key", 0)
        _string(v, f"{field}.{k}", 0)
    return value


def resolve_location(uri: str, field: str, base_dir: str | os.PathLike | None = None) -> Path:
    """A location field as an absolute local path; ``s3://`` and other schemes are refused."""
    try:
        parsed = urlparse(uri)
    except ValueError as e:
        _fail(field, f"{uri!r} is not a valid URI: {e}")
    if parsed.scheme in ("s3", "https", "http"):
        _fail(field, f"{uri!r}: {parsed.scheme}:// locations are not supported by the local runner; "
                     f"use {SUPPORTED_SCHEMES}")
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            _fail(field, f"{uri!r}: file:// URIs must name a local path (file:///abs/path)")
        path = Path(unquote(parsed.path))
    elif parsed.scheme and len(parsed.scheme) > 1:  # a one-letter "scheme" is a Windows drive
        _fail(field, f"{uri!r}: unsupported scheme {parsed.scheme!r}; use {SUPPORTED_SCHEMES}")
    else:
        if not uri:
            _fail(field, "must not be empty")
        path = Path(uri).expanduser()
        if not path.is_absolute():
            path = Path(base_dir or os.getcwd()) / path
    return Path(os.path.abspath(path))


def code_kind(path: Path, compression: str, field: str) -> str:
    """What the code location holds: ``"dir"``, ``"file"`` (one .py) or ``"tar"`` (a .tar.gz)."""
    try:
        return _code_kind(path, compression, field)
    except OSError as e:
        _fail(field, f"{str(path)!r} cannot be read: {e.strerror or e}")


def _code_kind(path: Path, compression: str, field: str) -> str:
    if not path.exists():
        _fail(field, f"{str(path)!r} does not exist")
    if compression == "GZIP":
        if not path.is_file() or not tarfile.is_tarfile(path):
            _fail(field, f"{str(path)!r} is not a tar.gz archive, but compressionType is GZIP")
        return "tar"
    if path.is_dir():
        return "dir"
    if path.suffix == ".py":
        return "file"
    if tarfile.is_tarfile(path):
        _fail("algorithmSpecification.scriptModeConfig.compressionType",
              f"{str(path)!r} is an archive; set compressionType to GZIP")
    _fail(field, f"{str(path)!r} must be a directory, a .py file or (with GZIP) a .tar.gz archive")


def known_qsim_devices() -> tuple[str, ...]:
    try:
        from qsim.device import KNOWN_DEVICES  # qsim's own list, once qsim.device exists
    except ImportError:
        KNOWN_DEVICES = ("local:qsim/statevector",)
    # Embedded-simulator names (Braket's local:<provider>/<name>) of the PennyLane devices qsim
    # registers, e.g. local:qsim/qsim.qubit: the job script creates them with qml.device(<name>).
    from importlib.metadata import entry_points

    embedded = [f"local:qsim/{ep.name}" for ep in entry_points(group="pennylane.plugins")
                if ep.value.startswith("qsim.")]
    return tuple(KNOWN_DEVICES) + tuple(embedded)


def validate_device(device: Any, field: str = "deviceConfig.device") -> str:
    _string(device, field, 1, 256)
    if device.startswith("local:"):
        m = re.fullmatch(LOCAL_DEVICE_PATTERN, device)
        if not m:
            _fail(field, f"{device!r} does not match local:<provider>/<name> (letters, digits, _ - . only)")
        if m.group(1) == "qsim":
            known = known_qsim_devices()
            if device not in known:
                _fail(field, f"{device!r} is not a qsim device; known qsim devices: {', '.join(known)}")
    return device


def validate_create_job(request: dict, base_dir: str | os.PathLike | None = None) -> dict:
    """Check a CreateJob request; return a normalised copy.

    Normalisation: a missing ``clientToken`` gets a UUID (as botocore's idempotencyToken does),
    relative local paths become absolute (against ``base_dir``, default the current directory),
    ``compressionType`` defaults to NONE and ``instanceCount`` to 1.
    """
    req = copy.deepcopy(request)
    _struct(req, "", CREATE_JOB_FIELDS)
    if req.get("clientToken") is None:
        req["clientToken"] = str(uuid.uuid4())
    _struct(req, "", CREATE_JOB_FIELDS,
            ("clientToken", "algorithmSpecification", "outputDataConfig", "jobName", "roleArn",
             "instanceConfig", "deviceConfig"))
    _string(req["clientToken"], "clientToken", 1, 64)
    _string(req["jobName"], "jobName", 1, 50, JOB_NAME_PATTERN)
    _string(req["roleArn"], "roleArn", 0, None, ROLE_ARN_PATTERN)

    algo = _struct(req["algorithmSpecification"], "algorithmSpecification", {"scriptModeConfig", "containerImage"})
    if "containerImage" in algo:
        _struct(algo["containerImage"], "algorithmSpecification.containerImage", {"uri"}, ("uri",))
        _fail("algorithmSpecification.containerImage",
              "container images are not supported by the local runner; use scriptModeConfig")
    if algo.get("scriptModeConfig") is None:
        _fail("algorithmSpecification.scriptModeConfig", "is required (containerImage is not supported)")
    f = "algorithmSpecification.scriptModeConfig"
    smc = _struct(algo["scriptModeConfig"], f, {"entryPoint", "s3Uri", "compressionType"}, ("entryPoint", "s3Uri"))
    _string(smc["entryPoint"], f + ".entryPoint", 1, None, ENTRY_POINT_PATTERN)
    smc["compressionType"] = _enum(smc.get("compressionType", "NONE"), f + ".compressionType", COMPRESSION_TYPES)
    _string(smc["s3Uri"], f + ".s3Uri", 1, 1024)
    code_path = resolve_location(smc["s3Uri"], f + ".s3Uri", base_dir)
    code_kind(code_path, smc["compressionType"], f + ".s3Uri")
    if "://" not in smc["s3Uri"]:
        smc["s3Uri"] = str(code_path)

    channels = req.get("inputDataConfig")
    if channels is not None:
        if not isinstance(channels, list):
            _fail("inputDataConfig", f"must be a list, got {type(channels).__name__}")
        if len(channels) > 20:
            _fail("inputDataConfig", f"must have at most 20 channels, got {len(channels)}")
        seen = set()
        for i, ch in enumerate(channels):
            cf = f"inputDataConfig[{i}]"
            _struct(ch, cf, {"channelName", "contentType", "dataSource"}, ("channelName", "dataSource"))
            name = _string(ch["channelName"], cf + ".channelName", 1, 64, CHANNEL_NAME_PATTERN)
            if name in (".", ".."):
                _fail(cf + ".channelName", f"{name!r} is not allowed: a channel is staged to input/data/<channelName>")
            if name in seen:
                _fail(cf + ".channelName", f"duplicate channel name {name!r}")
            seen.add(name)
            if "contentType" in ch:
                _string(ch["contentType"], cf + ".contentType", 1, 256)
            ds = _struct(ch["dataSource"], cf + ".dataSource", {"s3DataSource"}, ("s3DataSource",))
            s3 = _struct(ds["s3DataSource"], cf + ".dataSource.s3DataSource", {"s3Uri"}, ("s3Uri",))
            uf = cf + ".dataSource.s3DataSource.s3Uri"
            _string(s3["s3Uri"], uf, 1, 1024)
            p = resolve_location(s3["s3Uri"], uf, base_dir)
            if not _exists(p, uf) and not _prefix_matches(p):
                _fail(uf, f"{str(p)!r}: no data found for channel {name!r}")
            if "://" not in s3["s3Uri"]:
                s3["s3Uri"] = str(p) + ("/" if s3["s3Uri"].endswith("/") else "")

    out = _struct(req["outputDataConfig"], "outputDataConfig", {"kmsKeyId", "s3Path"}, ("s3Path",))
    _string(out["s3Path"], "outputDataConfig.s3Path", 1, 1024)
    p = resolve_location(out["s3Path"], "outputDataConfig.s3Path", base_dir)
    if "://" not in out["s3Path"]:
        out["s3Path"] = str(p)
    if "kmsKeyId" in out:
        _string(out["kmsKeyId"], "outputDataConfig.kmsKeyId", 1, 2048)

    if req.get("checkpointConfig") is not None:
        cp = _struct(req["checkpointConfig"], "checkpointConfig", {"localPath", "s3Uri"}, ("s3Uri",))
        _string(cp["s3Uri"], "checkpointConfig.s3Uri", 1, 1024)
        p = resolve_location(cp["s3Uri"], "checkpointConfig.s3Uri", base_dir)
        if "://" not in cp["s3Uri"]:
            cp["s3Uri"] = str(p)
        if "localPath" in cp:
            _string(cp["localPath"], "checkpointConfig.localPath", 1, 4096)
            if ".." in Path(cp["localPath"]).parts:
                _fail("checkpointConfig.localPath", f"{cp['localPath']!r} must not contain '..'")

    if req.get("stoppingCondition") is not None:
        sc = _struct(req["stoppingCondition"], "stoppingCondition", {"maxRuntimeInSeconds"})
        if sc.get("maxRuntimeInSeconds") is not None:
            _integer(sc["maxRuntimeInSeconds"], "stoppingCondition.maxRuntimeInSeconds", *MAX_RUNTIME_RANGE)

    ic = _struct(req["instanceConfig"], "instanceConfig", {"instanceType", "volumeSizeInGb", "instanceCount"},
                 ("instanceType", "volumeSizeInGb"))
    _enum(ic["instanceType"], "instanceConfig.instanceType", INSTANCE_TYPES)
    _integer(ic["volumeSizeInGb"], "instanceConfig.volumeSizeInGb", 1)
    ic["instanceCount"] = _integer(ic.get("instanceCount", 1), "instanceConfig.instanceCount", 1,
                                   limits.MAX_INSTANCE_COUNT)

    hps = req.get("hyperParameters")
    if hps is not None:
        if not isinstance(hps, dict):
            _fail("hyperParameters", f"must be an object of strings, got {type(hps).__name__}")
        if len(hps) > 100:
            _fail("hyperParameters", f"must have at most 100 entries, got {len(hps)}")
        for k, v in hps.items():
            _string(k, "hyperParameters key", 1, 256, HYPERPARAMETER_KEY_PATTERN)
            _string(v, f"hyperParameters.{k}", 1, 2500, HYPERPARAMETER_VALUE_PATTERN)
        if MPI_PROCESSES_HP in hps and not re.fullmatch(r"[1-9][0-9]{0,3}", hps[MPI_PROCESSES_HP]):
            _fail(f"hyperParameters.{MPI_PROCESSES_HP}",
                  f"{hps[MPI_PROCESSES_HP]!r} must be a positive integer of at most 4 digits")

    dc = _struct(req["deviceConfig"], "deviceConfig", {"device"}, ("device",))
    validate_device(dc["device"])

    if req.get("tags") is not None:
        _string_map(req["tags"], "tags")
    assoc = req.get("associations")
    if assoc is not None:
        if not isinstance(assoc, list):
            _fail("associations", f"must be a list, got {type(assoc).__name__}")
        if len(assoc) > 1:
            _fail("associations", f"must have at most 1 entry, got {len(assoc)}")
        for i, a in enumerate(assoc):
            _struct(a, f"associations[{i}]", {"arn", "type"}, ("arn", "type"))
            _string(a["arn"], f"associations[{i}].arn", 0, None, RESOURCE_ARN_PATTERN)
            _enum(a["type"], f"associations[{i}].type", ASSOCIATION_TYPES)
    return req


def _exists(path: Path, field: str) -> bool:
    try:
        os.stat(path)
    except FileNotFoundError:
        return False
    except OSError as e:
        _fail(field, f"{str(path)!r} cannot be read: {e.strerror or e}")
    return True


def _prefix_matches(path: Path) -> bool:
    """S3-style key prefix: ``/data/run`` matches ``/data/run1.csv`` and ``/data/run/x``."""
    parent = path.parent
    try:
        return parent.is_dir() and any(c.name.startswith(path.name) for c in parent.iterdir())
    except OSError:
        return False


def validate_job_arn(arn: Any, field: str = "jobArn") -> str:
    return _string(arn, field, 1, None, JOB_ARN_PATTERN)


def validate_search(filters: Any, max_results: Any, next_token: Any) -> None:
    if filters is None:
        _fail("filters", "is required (use [] for all jobs)")
    if not isinstance(filters, list):
        _fail("filters", f"must be a list, got {type(filters).__name__}")
    if len(filters) > 10:
        _fail("filters", f"must have at most 10 entries, got {len(filters)}")
    for i, flt in enumerate(filters):
        f = f"filters[{i}]"
        _struct(flt, f, {"name", "values", "operator"}, ("name", "values", "operator"))
        _string(flt["name"], f + ".name", 1, 64)
        _enum(flt["name"], f + ".name", SEARCH_FILTER_NAMES)
        _enum(flt["operator"], f + ".operator", SEARCH_OPERATORS)
        vals = flt["values"]
        if not isinstance(vals, list) or not 1 <= len(vals) <= 10:
            _fail(f + ".values", "must be a list of 1 to 10 strings")
        for j, v in enumerate(vals):
            _string(v, f"{f}.values[{j}]", 1, 256)
        if flt["name"] == "createdAt":
            for j, v in enumerate(vals):
                try:
                    parse_time(v)
                except ValueError as e:
                    _fail(f"{f}.values[{j}]", str(e))
        need = 2 if flt["operator"] == "BETWEEN" else 1
        if flt["operator"] in ("BETWEEN",) and len(vals) != need:
            _fail(f + ".values", f"operator BETWEEN needs exactly 2 values, got {len(vals)}")
    if max_results is not None:
        _integer(max_results, "maxResults", 1, 100)
    if next_token is not None:
        _string(next_token, "nextToken", 1)


def parse_time(value: str) -> float:
    """Epoch seconds or an ISO-8601 time (UTC when no zone is given) as epoch seconds."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is neither epoch seconds nor an ISO-8601 time") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()
