"""The front end's bounds: one home for every cap on what a program may make the parser do.

Called by: ``qsim.qasm.interpreter`` (loops, calls, registers, operations), ``qsim.qasm.syntax``
(nesting depth) and ``qsim.qasm.source`` (bytes read).  Each cap is refused with a ``ProgramError``
naming the number, never left to grow until memory or the stack runs out.

Deep nesting: the ANTLR parser and the AST walk recurse (about 25 Python frames per nested ``if``,
5 per parenthesis).  A program nesting deeper than ``SHALLOW_NESTING`` is parsed and walked in a
worker thread with a big stack and a raised recursion limit (``run_deep``); deeper than
``MAX_NESTING`` is refused before parsing.
"""

from __future__ import annotations

import sys
import threading

MAX_LOOP_ITERATIONS = 100_000     # per `for` or `while` loop (loops are unrolled at parse time)
MAX_CALL_DEPTH = 64               # nested custom-gate / subroutine calls
MAX_UNROLLED_POWER = 64           # pow(k) @ custom with |k| above this is multiplied out instead of repeated
MAX_OPERATIONS = 5_000_000        # gates, measurements, resets after unrolling
MAX_REGISTER_SIZE = 1 << 16       # qubits in one register, and bits (or width) of one classical type
MAX_QUBITS_DECLARED = 1 << 16     # qubits over all registers (the simulator uses only those a gate touches)
MAX_NESTING = 256                 # brackets of any kind, open at once (parentheses, [ ], { })
SHALLOW_NESTING = 24              # up to here the caller's stack is enough
MAX_SOURCE_BYTES = 64 << 20       # a program file (64 MiB)
MAX_INT_BITS = 4096               # an integer value while evaluating (pow(10**300 + 1) @ g still fits)

_DEEP_STACK_BYTES = 512 << 20     # virtual: only the pages used are committed
_DEEP_RECURSION_LIMIT = 60_000    # ~25 frames per nesting level x MAX_NESTING, with room to spare
_deep_lock = threading.Lock()


def loop_limit_message(kind: str) -> str:
    return (f"'{kind}' loop ran more than {MAX_LOOP_ITERATIONS} iterations; qsim unrolls loops at parse "
            f"time and stops here")  # MAX_LOOP_ITERATIONS read at call time (tests lower it here)


def run_deep(fn):
    """``fn()`` in a worker thread with a big stack and a raised recursion limit; its result or its
    exception.  The recursion limit is process-wide, so it is raised only while the worker runs, and
    the caller's thread only waits meanwhile (one deep parse at a time)."""
    box = {}

    def work():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = e

    with _deep_lock:
        old_stack = threading.stack_size()
        old_limit = sys.getrecursionlimit()
        try:
            threading.stack_size(_DEEP_STACK_BYTES)
            worker = threading.Thread(target=work, name="qsim-qasm-deep-parse", daemon=True)
            sys.setrecursionlimit(max(old_limit, _DEEP_RECURSION_LIMIT))
            worker.start()
        finally:
            threading.stack_size(old_stack)
        try:
            worker.join()
        finally:
            sys.setrecursionlimit(old_limit)
    if "error" in box:
        raise box["error"]
    return box.get("value")
