"""Data persistence for job scripts, with Braket's function names and file formats.

Who calls this: job scripts (``from jobs import save_job_result, ...``), and ``jobs.client``
(``_decode`` for ``job result``). Directories come from ``jobs.runtime.environment`` (the
contract), file names from ``jobs.store.layout``.

File format (Braket's PersistedJobData, schema ``braket.jobs_data.persisted_job_data`` v1)::

    {"braketSchemaHeader": {"name": "braket.jobs_data.persisted_job_data", "version": "1"},
     "dataDictionary": {...}, "dataFormat": "plaintext" | "pickled_v4"}

``pickled_v4`` stores each value as base64 of ``pickle.dumps(value, protocol=4)``; loading it
needs ``allow_pickle=True``. Results live in ``<results dir>/results.json`` and each save merges
into it; checkpoints in ``<checkpoint dir>/<job name>[_<suffix>].json`` and each save replaces it.

Under MPI only rank 0 writes (the others return without writing) unless ``all_ranks=True``;
concurrent result saves are serialised with a file lock. Every write goes to a temporary file,
is fsynced and renamed, so a crash leaves the previous file or the new one, never a torn one.
"""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import json
import os
import pickle
from enum import Enum
from pathlib import Path
from typing import Any

from jobs.runtime.environment import get_checkpoint_dir, get_job_name, get_results_dir, mpi_rank
from jobs.lifecycle.staging import atomic_write_bytes
from jobs.store.layout import RESULTS_FILE, checkpoint_file

SCHEMA_HEADER = {"name": "braket.jobs_data.persisted_job_data", "version": "1"}


class PersistedJobDataFormat(str, Enum):
    PLAINTEXT = "plaintext"
    PICKLED_V4 = "pickled_v4"


def _format(value) -> PersistedJobDataFormat:
    if value is None:
        return PersistedJobDataFormat.PLAINTEXT
    return PersistedJobDataFormat(getattr(value, "value", value))


def _encode(data: dict, fmt: PersistedJobDataFormat) -> bytes:
    if fmt is PersistedJobDataFormat.PICKLED_V4:
        data = {k: codecs.encode(pickle.dumps(v, protocol=4), "base64").decode() for k, v in data.items()}
    return json.dumps({"braketSchemaHeader": SCHEMA_HEADER, "dataDictionary": data,
                       "dataFormat": fmt.value}).encode()


def _decode(raw: dict, allow_pickle: bool, what: str) -> dict:
    fmt = _format(raw.get("dataFormat", "plaintext"))
    data = raw.get("dataDictionary", {})
    if fmt is PersistedJobDataFormat.PICKLED_V4:
        if not allow_pickle:
            raise RuntimeError(f"{what} was saved with data format pickled_v4; loading it runs pickle, "
                               "so pass allow_pickle=True if you trust it")
        data = {k: pickle.loads(codecs.decode(v.encode(), "base64")) for k, v in data.items()}
    return data


def _writes_here(all_ranks: bool) -> bool:
    return all_ranks or mpi_rank()[0] == 0


@contextlib.contextmanager
def _locked(path: Path):
    """Hold an exclusive lock on ``path``'s directory (no lock file is left in the results)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def save_job_result(result_data: dict[str, Any] | Any, data_format: PersistedJobDataFormat | str | None = None,
                    *, all_ranks: bool = False) -> None:
    """Merge ``result_data`` into results.json (a non-dict is saved as ``{"result": value}``).

    Once the file is pickled it stays pickled; asking for plaintext then raises TypeError.
    """
    if not _writes_here(all_ranks):
        return
    if not isinstance(result_data, dict):
        result_data = {"result": result_data}
    path = Path(get_results_dir()) / RESULTS_FILE
    with _locked(path):
        current, fmt = {}, _format(data_format)
        if path.exists():
            with open(path) as f:
                raw = json.load(f)
            current_fmt = _format(raw.get("dataFormat", "plaintext"))
            if current_fmt is PersistedJobDataFormat.PICKLED_V4:
                if data_format is not None and fmt is PersistedJobDataFormat.PLAINTEXT:
                    raise TypeError("Cannot update results object serialized with pickled_v4 using "
                                    "data format plaintext")
                fmt = current_fmt
            current = _decode(raw, True, RESULTS_FILE)
        atomic_write_bytes(path, _encode({**current, **result_data}, fmt))


def load_job_result(filename: str | os.PathLike | None = None, allow_pickle: bool = False) -> dict[str, Any]:
    """The saved results: ``filename``, or results.json in the results directory ({} if absent)."""
    path = Path(filename) if filename is not None else Path(get_results_dir()) / RESULTS_FILE
    if filename is None and not path.exists():
        return {}
    with open(path) as f:
        return _decode(json.load(f), allow_pickle, str(path))


def _checkpoint_path(job_name: str, suffix: str) -> Path:
    return checkpoint_file(get_checkpoint_dir(), job_name, suffix)


def save_job_checkpoint(checkpoint_data: dict[str, Any], checkpoint_file_suffix: str = "",
                        data_format: PersistedJobDataFormat | str = PersistedJobDataFormat.PLAINTEXT,
                        *, all_ranks: bool = False) -> None:
    """Write ``<checkpoint dir>/<job name>[_<suffix>].json``, replacing the previous checkpoint."""
    if not checkpoint_data:
        raise ValueError("The checkpoint_data argument cannot be empty.")
    job_name = get_job_name()
    if not job_name:
        raise ValueError("save_job_checkpoint needs a job name: AMZN_BRAKET_JOB_NAME is not set")
    if not _writes_here(all_ranks):
        return
    atomic_write_bytes(_checkpoint_path(job_name, checkpoint_file_suffix),
                       _encode(dict(checkpoint_data), _format(data_format)))


def load_job_checkpoint(job_name: str | None = None, checkpoint_file_suffix: str = "",
                        allow_pickle: bool = False) -> dict[str, Any]:
    """Read a checkpoint of this job (or of ``job_name``, from the same checkpoint directory)."""
    job_name = job_name or get_job_name()
    if not job_name:
        raise ValueError("load_job_checkpoint needs a job name: pass job_name or set AMZN_BRAKET_JOB_NAME")
    path = _checkpoint_path(job_name, checkpoint_file_suffix)
    with open(path) as f:
        return _decode(json.load(f), allow_pickle, str(path))
