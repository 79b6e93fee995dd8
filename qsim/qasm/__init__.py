"""OpenQASM 3 (Amazon Braket dialect) -> ``qsim.circuit.Circuit``.

    >>> from qsim.qasm import parse
    >>> c = parse('''
    ...     OPENQASM 3.0;
    ...     input float theta;
    ...     qubit[2] q;
    ...     h q[0];
    ...     ctrl @ rx(theta) q[0], q[1];
    ...     #pragma braket result expectation z(q[0]) @ z(q[1])
    ... ''', inputs={"theta": 0.5})

Layer: below the front doors (device, CLI), above ``qsim.circuit``; it never imports the simulator
(``qsim.state``, ``qsim.kernels``, ``qsim.distributed``, ``qsim.device``).  Every error in a program is a
``qsim.errors.ProgramError`` carrying line, column and the quoted source line.

Semantics worth knowing:

* Qubit labels: ``$n`` is label n; registers are flattened in declaration order.  Bits: every ``bit``
  declaration (including ``output bit``) takes the next indices of one classical bit array, in the
  order the declarations run; ``measure q;`` without a target uses fresh indices after all of them.
* Classical code runs at parse time (loops unrolled, subroutines and custom gates inlined).  Values
  read from measured bits are symbolic (``qsim.circuit.classical``); an ``if`` on them becomes a
  ``Conditional``.  Anything else that would need them at parse time (assigning outer variables in
  such a branch, ``while``/``for`` bounds, indices, gate angles, ``break``/``return`` in the branch) is
  refused with a ``ProgramError``.
* ``int / int`` is an int when exact and a real number otherwise (so ``pow(1/2) @`` means 0.5).
* ``output`` variables are declared but their final values are not reported.
* Refused, with a message saying why: timing (``delay``, ``duration``, ``stretch``, boxes with a
  duration), pulse-level code (``cal``, ``defcal``, ``defcalgrammar``), ``extern``, includes other than
  the built-in ``stdgates.inc``, noise pragmas.

Modules: ``syntax`` (ANTLR -> AST, cached by source text), ``interpreter`` (the AST walk),
``values`` (classical types and operators), ``pragmas`` (``#pragma braket`` bodies), ``compose``
(dense matrix of a custom-gate body), ``stdgates`` (the built-in ``stdgates.inc``), ``limits``
(every cap on what a program may make the front end do: loops, registers, nesting, size),
``source`` (reading a program file: regular files only, bounded, UTF-8).
"""

from __future__ import annotations

from qsim.circuit.circuit import Circuit
from qsim.errors import ProgramError
from qsim.qasm import limits as _limits
from qsim.qasm import syntax as _syntax
from qsim.qasm.interpreter import Interpreter
from qsim.qasm.limits import MAX_LOOP_ITERATIONS

MAX_WHILE_ITERATIONS = MAX_LOOP_ITERATIONS  # the old name: one cap for `for` and `while`

__all__ = ["parse", "MAX_LOOP_ITERATIONS", "MAX_WHILE_ITERATIONS"]


def parse(source: str, inputs: dict | None = None, *, source_name: str = "<program>",
          symbolic_inputs: bool = False) -> Circuit:
    """Translate an OpenQASM 3 program into a ``Circuit``.

    Args:
        source: the program text.
        inputs: values of its ``input`` declarations, by name (extra names are ignored).
        source_name: a name for the program in messages (e.g. a file name).
        symbolic_inputs: ``input float``/``input angle`` become ``FreeParameter``s of that name (no
            value needed): gate angles stay expressions of them, for adjoint gradients and for
            circuits compiled once and re-bound.  Such an input used where a number is needed at
            parse time (a loop bound, a condition, sin()) is a ProgramError.

    Returns:
        A ``Circuit`` of ``GateOp``/``Measure``/``Reset``/``Conditional`` instructions and the
        result types requested by ``#pragma braket result`` lines.

    Raises:
        ProgramError: the program is invalid or uses something qsim does not support; the message
            names the offending value, with line and column.
    """
    if not isinstance(source, str):
        raise ProgramError(f"an OpenQASM program must be a str, got {type(source).__name__}")
    if len(source) > _limits.MAX_SOURCE_BYTES:
        raise ProgramError(f"the program has {len(source)} characters, more than the limit of "
                           f"{_limits.MAX_SOURCE_BYTES}")

    def work():
        return Interpreter(source, inputs, source_name, symbolic_inputs).run(_syntax.parse_ast(source))

    if _syntax.nesting_depth(source) <= _limits.SHALLOW_NESTING:
        try:
            return work()
        except RecursionError:  # deep without brackets (a 5000-term sum, an else-if chain): retry deep
            pass
    try:
        return _limits.run_deep(work)
    except RecursionError:
        raise ProgramError("the program nests too deeply for the parser (blocks, calls or expressions); "
                           f"keep nesting under {_limits.MAX_NESTING} levels") from None
