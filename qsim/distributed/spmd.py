"""Failure under SPMD, in one place: an error either happens on every rank alike and is reported
once, or it ends the whole MPI job.  Called by ``qsim.cli``, ``qsim.distributed.runtime`` /
``qsim.distributed.state`` and ``jobs.runtime.runner``.

A rank that raises while the others wait in a collective call would leave them hanging, so:

* ``agree_on_error(comm, error)`` is the agreement point for code every rank runs alike: every rank
  passes its error text (or None) and gets back the same first error, if any.  ``agree_fits`` and the
  memory checks use it, then raise on every rank an exception marked ``same_on_every_rank``
  (``symmetric``); ``ValidationError`` is always of that kind (it checks the program, which every rank
  shares).
* ``settle(comm, error, code)``, on a communicator reserved for it (``agreement_comm``), ends a
  phase of a command (reading and checking the program; the run; a job's entry point).  Every rank
  calls it, failed or not.  If every rank gets there, they agree: an error every rank met alike is
  printed once, by rank 0; an error of some ranks only is printed once, by the first of them,
  tagged ``rank R:``; and every rank returns the same exit code, so ``mpirun`` ends normally,
  without ``MPI_Abort``'s banner.  A failed rank waits for the others at most
  ``QSIM_SPMD_AGREE_SECONDS`` (default 10 s): a rank still missing is stuck in a collective
  waiting for it, so then the failed rank prints its message and aborts the job.
* any other exception inside a ``@collective`` method (a local allocation failing, a bug, an
  injected fault) prints ``qsim: error: rank R: message`` once, from that rank, and calls
  ``MPI_Abort`` (``abort``).
"""

from __future__ import annotations

import functools
import os
import sys
import time

from qsim.errors import ValidationError

FAULT_ENV = "QSIM_FAULT_RANK"  # tests: make this rank fail when its state is created
AGREE_ENV = "QSIM_SPMD_AGREE_SECONDS"
DEFAULT_AGREE_SECONDS = 10.0


def one_line(exc: BaseException | str) -> str:
    """An exception's message on one line (multi-line messages joined with `` | ``)."""
    text = " | ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return text or (type(exc).__name__ if isinstance(exc, BaseException) else "error")


def report(message: str) -> None:
    print(f"qsim: error: {message}", file=sys.stderr, flush=True)


def symmetric(exc: BaseException) -> BaseException:
    exc.same_on_every_rank = True
    return exc


def agree_on_error(comm, error: str | None):
    """Collective (every rank calls it): ``(rank, message)`` of the first rank whose ``error`` is not
    None, the same on every rank, or None if no rank failed.  Only small strings travel."""
    errors = comm.allgather(error)
    for rank, e in enumerate(errors):
        if e is not None:
            return rank, e
    return None


def agreement_comm(comm):
    """A communicator reserved for ``settle`` (a duplicate of ``comm``), so that its barrier can never
    match a collective of the work itself.  Collective: every rank calls it at the same point, before
    the work starts.  None stays None."""
    if comm is None or comm.Get_size() == 1:
        return comm
    return comm.Dup()


def _agree_seconds() -> float:
    raw = os.environ.get(AGREE_ENV, "").strip()
    try:
        return float(raw) if raw else DEFAULT_AGREE_SECONDS
    except ValueError:
        return DEFAULT_AGREE_SECONDS


def _wait_for_everyone(comm, deadline: float | None) -> bool:
    """Enter a non-blocking barrier; True once every rank has entered it, False if ``deadline``
    (seconds) passes first.  Polls with a short sleep so that a waiting rank does not spin a core."""
    request = comm.Ibarrier()
    end = None if deadline is None else time.monotonic() + deadline
    pause = 0.0005
    while not request.Test():
        if end is not None and time.monotonic() > end:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
    return True


def settle(comm, error: str | None, code: int = 2, *, deadline: float | None = None,
           quiet: bool = False) -> int:
    """The end of an SPMD phase (see the module docstring): every rank calls it with its error (or
    None) and the exit code it wants for it, on a communicator from ``agreement_comm``.  Returns 0
    on every rank if no rank failed, else the same non-zero code on every rank, after the message
    was printed once (unless ``quiet``: the caller reports errors itself).  Without a communicator
    (or with one rank) it just reports."""
    if comm is None or comm.Get_size() == 1:
        if error is not None and not quiet:
            report(error)
        return 0 if error is None else code
    rank = comm.Get_rank()
    if error is None:
        _wait_for_everyone(comm, None)  # a failed rank aborts the job if someone never comes
    elif not _wait_for_everyone(comm, _agree_seconds() if deadline is None else deadline):
        abort(comm, error, code, quiet=quiet)
    outcomes = comm.allgather(None if error is None else (error, int(code)))
    failed = [(r, o) for r, o in enumerate(outcomes) if o is not None]
    if not failed:
        return 0
    first_rank, (first_error, first_code) = failed[0]
    if not quiet:
        if len(failed) == len(outcomes) and all(o[0] == first_error for _, o in failed):
            if rank == 0:
                report(first_error)
        elif rank == first_rank:
            report(f"rank {rank}: {first_error}")
    return first_code


def abort(comm, exc: BaseException | str, code: int = 2, *, quiet: bool = False):
    """End every rank of the job now (an error on this rank alone, during collective work): print
    ``qsim: error: rank R: message`` (unless ``quiet``) and call ``MPI_Abort``.  Never returns."""
    if os.environ.get("QSIM_TRACEBACK") and isinstance(exc, BaseException):
        import traceback

        traceback.print_exception(exc)
    if not quiet:
        report(f"rank {comm.Get_rank()}: {one_line(exc)}")
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        comm.Abort(code)
    finally:
        # MPICH's MPI_Abort may return in the calling process (the launcher then kills the job):
        # leave now, so no exception handler further up prints the message again.
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
