"""Failure under SPMD: an error either happens on every rank alike, or it ends the whole MPI job.

A rank that raises while the others wait in a collective call would leave them hanging, so:

* errors decided from data every rank holds identically (a bad observable, an agreed memory check)
  are raised on every rank as ordinary exceptions, marked with ``same_on_every_rank``;
  ``ValidationError`` is always of this kind (it checks the program, which every rank shares);
* any other exception inside a collective method (a local allocation failing, a bug, an injected
  fault) prints ``qsim: error: rank R: message`` once, from that rank, and calls ``MPI_Abort``.
"""

from __future__ import annotations

import functools
import os
import sys

from qsim.errors import ValidationError

FAULT_ENV = "QSIM_FAULT_RANK"  # tests: make this rank fail when its state is created


def symmetric(exc: BaseException) -> BaseException:
    exc.same_on_every_rank = True
    return exc


def abort(comm, exc: BaseException, code: int = 2):
    text = " | ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
    if os.environ.get("QSIM_TRACEBACK"):
        import traceback

        traceback.print_exception(exc)
    print(f"qsim: error: rank {comm.Get_rank()}: {text}", file=sys.stderr, flush=True)
    comm.Abort(code)
    # MPICH's MPI_Abort may return in the calling process (the launcher then kills the job):
    # leave now, so no exception handler further up prints the message again.
    sys.stdout.flush()
    os._exit(code)


def collective(method):
    """Decorate a method of an object with a ``comm`` attribute (see module docstring)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as e:
            if isinstance(e, ValidationError) or getattr(e, "same_on_every_rank", False):
                raise
            if self.comm.Get_size() == 1:
                raise
            abort(self.comm, e)
            raise  # not reached

    return wrapper
