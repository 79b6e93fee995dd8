"""Errors raised by the jobs API, named after the Braket service's exceptions.

Who uses this: ``jobs.validation`` (bad requests), ``jobs.client`` (conflicts, unknown jobs) and
``jobs.cli`` (which turns any of them into a one-line message and a non-zero exit code).

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
