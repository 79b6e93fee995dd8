"""Errors raised by the jobs API, named after the Braket service's exceptions.

Who uses this: ``jobs.validation`` and ``jobs.lifecycle.limits`` (bad requests),
``jobs.lifecycle.driver`` and ``jobs.client`` (conflicts, unknown jobs), ``jobs.store.db`` and
``jobs.lifecycle.driver`` (a full disk, ``storage_full``), ``jobs.cli`` (which turns any of them
into a one-line message and a non-zero exit code) and the endpoint (Braket's error body).

Each error carries ``response = {"Error": {"Code": ..., "Message": ...}}`` in the shape of a
botocore ``ClientError``, so code written against boto3 can inspect it the same way.
"""

from __future__ import annotations


class JobsError(Exception):
    """Base class: ``code`` is the Braket exception name, ``str(err)`` the message."""

    code = "InternalServiceException"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
        self.response = {"Error": {"Code": self.code, "Message": message}}

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ValidationException(JobsError, ValueError):
    """The request breaks a rule of the Braket API (or of this local runner); nothing was created."""

    code = "ValidationException"


class ConflictException(JobsError):
    """The clientToken was already used with a different request."""

    code = "ConflictException"


class ResourceNotFoundException(JobsError, LookupError):
    """No job with this ARN exists under this QSIM_HOME."""

    code = "ResourceNotFoundException"


class StorageFullException(JobsError, OSError):
    """No space left on the device under ``$QSIM_HOME`` (or a job's location): nothing half-written
    was kept; the message names the path and what could not be written."""

    code = "ServiceQuotaExceededException"


_FULL_MESSAGES = ("database or disk is full", "disk i/o error")


def storage_full(exc: BaseException, path, what: str) -> StorageFullException | None:
    """``exc`` as a StorageFullException if it comes from a full disk under ``path``, else None.

    ENOSPC/EDQUOT from the OS; from SQLite, SQLITE_FULL, or an I/O error while the device under
    ``path`` has (almost) no space left."""
    import errno
    import os
    import sqlite3

    if isinstance(exc, StorageFullException):
        return exc
    full = isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
    if isinstance(exc, sqlite3.OperationalError) and str(exc).lower() in _FULL_MESSAGES:
        full = "full" in str(exc).lower()
        if not full:
            try:
                st = os.statvfs(path)
                full = st.f_bavail * st.f_frsize < (1 << 20)
            except OSError:
                full = False
    if not full:
        return None
    detail = getattr(exc, "strerror", None) or str(exc)
    return StorageFullException(f"no space left on device under {path}: {what}: {detail}")
