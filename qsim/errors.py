"""The two error channels of qsim.

``QsimError`` and its subclasses are *user* errors: bad input (a program, a circuit, a parameter, a
rank count, a path).  Their message names the offending value and where it came from.

``InternalError`` is a bug in qsim itself: an invariant that should hold whatever the user did.
Its message asks for a report.
"""

from __future__ import annotations


class QsimError(Exception):
    """Bad input from the user: the message says which value and where it came from."""


class ValidationError(QsimError, ValueError):
    """A value given to the API breaks a documented rule."""


class ProgramError(QsimError):
    """An OpenQASM program that cannot be run; carries the source location when known."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None,
                 source_line: str | None = None):
        self.line = line
        self.column = column
        self.source_line = source_line
        self.bare_message = message
        where = ""
        if line is not None:
            where = f"line {line}" + (f", column {column}" if column is not None else "") + ": "
        text = where + message
        if source_line is not None:
            text += f"\n    {source_line.rstrip()}"
            if column is not None:
                text += "\n    " + " " * max(column - 1, 0) + "^"
        super().__init__(text)


class ResourceError(QsimError, MemoryError):
    """The requested simulation does not fit the machine (or the rank's share of it)."""


class InternalError(RuntimeError):
    """An invariant of qsim was broken: this is a bug in qsim, not in the input."""

    def __init__(self, message: str):
        super().__init__(f"internal error in qsim (please report it): {message}")
