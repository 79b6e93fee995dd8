"""A small recursive-descent parser for the bodies of ``#pragma braket ...`` lines.

Called by: ``qsim.qasm.interpreter`` for every ``Pragma`` node (the ``openqasm3`` parser gives pragma
text raw).  The result is plain data; qubit names are resolved by the interpreter.

Grammar (after ``#pragma``)::

    pragma      := 'braket' ( 'result' result | 'unitary' '(' matrix ')' qubits | 'verbatim'
                              | 'noise' ... )
    result      := 'state_vector' | ('probability' | 'density_matrix') [qubits | 'all']
                 | 'amplitude' STRING (',' STRING)*
                 | ('expectation' | 'variance' | 'sample') observable
                 | 'adjoint_gradient' ['expectation' '('] sum [')'] ('all' | NAME (',' NAME)*)
    sum         := ['+'|'-'] term (('+'|'-') term)*      term := [number '*'] observable
    observable  := factor ('@' factor)*
    factor      := ('x'|'y'|'z'|'h'|'i') ['(' qubits ')' | 'all']
                 | 'hermitian' '(' matrix ')' [qubits | 'all']
    qubits      := qubit (',' qubit)*
    qubit       := '$' INT | NAME ['[' index ']']
    index       := INT | NAME | INT ':' INT [':' INT] | '{' INT (',' INT)* '}'
    matrix      := '[' row (',' row)* ']'      row := '[' number (',' number)* ']'
    number      := ['+'|'-'] term (('+'|'-') term)*   term := (FLOAT | 'pi' | 'π') ['im'] | 'im'

Errors raise ``PragmaError(message, offset)`` with the character offset in the pragma text.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

OBSERVABLE_NAMES = ("x", "y", "z", "h", "i")
NOISE_NAMES = ("bit_flip", "phase_flip", "pauli_channel", "depolarizing", "two_qubit_depolarizing",
               "two_qubit_dephasing", "amplitude_damping", "generalized_amplitude_damping", "phase_damping",
               "kraus")


class PragmaError(Exception):
    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.message, self.offset = message, offset


@dataclass
class QubitRef:
    name: str          # register name or '$n'
    index: object      # None | int | str (a variable) | ('range', a, b, step) | ('set', [ints])
    offset: int


@dataclass
class Factor:
    name: str                          # x y z h i hermitian
    targets: list | None               # list[QubitRef]; None = no target / 'all'
    matrix: list | None = None
    offset: int = 0


@dataclass
class ResultPragma:
    kind: str                          # expectation variance sample probability density_matrix state_vector amplitude
    factors: list = field(default_factory=list)
    targets: list | None = None        # for probability / density_matrix
    states: list = field(default_factory=list)
    offset: int = 0
    terms: list = field(default_factory=list)      # adjoint_gradient: [(coefficient, [Factor])]
    parameters: list | None = None                 # adjoint_gradient: names, None = all


@dataclass
class UnitaryPragma:
    matrix: list
    targets: list
    offset: int = 0


@dataclass
class VerbatimPragma:
    offset: int = 0


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<phys>\$\d+)
  | (?P<name>[^\W\d]\w*)
  | (?P<str>"[^"]*"|'[^']*')
  | (?P<punct>[()\[\],@+\-:{}*])
""", re.X)


class _Lexer:
    def __init__(self, text: str):
        self.toks: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:
                raise PragmaError(f"unexpected character {text[pos]!r} in pragma", pos)
            kind = m.lastgroup
            if kind != "ws":
                self.toks.append((kind, m.group(), pos))
            pos = m.end()
        self.toks.append(("end", "", len(text)))
        self.i = 0

    def peek(self, k: int = 0):
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self):
        tok = self.peek()
        self.i += 1
        return tok

    def at(self, text: str) -> bool:
        kind, value, _ = self.peek()
        return kind in ("punct", "name") and value == text

    def accept(self, text: str) -> bool:
        if self.at(text):
            self.i += 1
            return True
        return False

    def expect(self, text: str, what: str | None = None):
        if not self.accept(text):
            kind, value, pos = self.peek()
            found = "end of pragma" if kind == "end" else repr(value)
            raise PragmaError(f"expected '{text}'{' ' + what if what else ''} but found {found}", pos)

    def fail(self, message: str):
        kind, value, pos = self.peek()
        found = "end of pragma" if kind == "end" else repr(value)
        raise PragmaError(f"{message}, found {found}", pos)


def parse_pragma(text: str):
    """Parse a pragma body (the text after ``#pragma``); returns one of the pragma dataclasses.

    Noise pragmas, and pragmas that are not ``braket`` ones, raise ``PragmaError``
    with a message saying why they are refused.
    """
    lx = _Lexer(text)
    kind, word, pos = lx.next()
    if word != "braket":
        raise PragmaError(f"unknown pragma '{text.strip()}': only '#pragma braket ...' is supported", pos)
    kind, word, pos = lx.next()
    if word == "verbatim":
        _end(lx)
        return VerbatimPragma(pos)
    if word == "unitary":
        lx.expect("(", "after 'unitary'")
        matrix = _matrix(lx)
        lx.expect(")", "after the unitary matrix")
        targets = _qubits(lx)
        _end(lx)
        return UnitaryPragma(matrix, targets, pos)
    if word == "noise":
        _, what, _ = lx.peek()
        name = f" '{what}'" if what else ""
        raise PragmaError(f"noise pragma{name} is not supported: qsim is a state-vector simulator "
                          f"without noise (use a density-matrix simulator such as braket_dm)", pos)
    if word == "result":
        return _result(lx)
    raise PragmaError(f"unknown pragma 'braket {word}' (known: result, unitary, verbatim)", pos)


def _end(lx: _Lexer):
    if lx.peek()[0] != "end":
        lx.fail("unexpected text at the end of the pragma")


def _result(lx: _Lexer):
    kind, word, pos = lx.next()
    if word == "adjoint_gradient":
        return _adjoint_gradient(lx, pos)
    if word == "state_vector":
        _end(lx)
        return ResultPragma("state_vector", offset=pos)
    if word in ("probability", "density_matrix"):
        targets = None
        if not lx.accept("all") and lx.peek()[0] != "end":
            targets = _qubits(lx)
        _end(lx)
        return ResultPragma(word, targets=targets, offset=pos)
    if word == "amplitude":
        states = []
        while True:
            k, v, p = lx.next()
            if k != "str":
                raise PragmaError(f"amplitude expects quoted bitstrings like \"01\", found "
                                  f"{'end of pragma' if k == 'end' else repr(v)}", p)
            states.append(v[1:-1])
            if not lx.accept(","):
                break
        _end(lx)
        return ResultPragma("amplitude", states=states, offset=pos)
    if word in ("expectation", "variance", "sample"):
        factors = [_factor(lx)]
        while lx.accept("@"):
            factors.append(_factor(lx))
        _end(lx)
        return ResultPragma(word, factors=factors, offset=pos)
    found = "nothing" if kind == "end" else repr(word)
    raise PragmaError(f"unknown result type {found} (known: expectation, variance, sample, probability, "
                      f"density_matrix, state_vector, amplitude)", pos)


def _adjoint_gradient(lx: _Lexer, pos: int) -> ResultPragma:
    """``adjoint_gradient expectation(<sum of weighted products>) p1, p2 | all`` (the Braket SDK's
    form; the ``expectation( )`` wrapper may be left out for a single product)."""
    wrapped = lx.accept("expectation")
    if wrapped:
        lx.expect("(", "after 'expectation'")
    terms = []
    sign = -1.0 if lx.accept("-") else (lx.accept("+") and 1.0) or 1.0
    while True:
        coeff = 1.0
        kind, value, p = lx.peek()
        if kind == "num" or (kind == "name" and value in ("pi", "π")):
            coeff = _term(lx).real
            lx.expect("*", "after the coefficient")
        factors = [_factor(lx)]
        while lx.accept("@"):
            factors.append(_factor(lx))
        terms.append((sign * coeff, factors))
        if lx.accept("+"):
            sign = 1.0
        elif lx.accept("-"):
            sign = -1.0
        else:
            break
    if wrapped:
        lx.expect(")", "to close 'expectation('")
    parameters = None
    if not lx.accept("all"):
        parameters = []
        while True:
            kind, value, p = lx.next()
            if kind != "name":
                raise PragmaError(f"expected a parameter name or 'all', found "
                                  f"{'end of pragma' if kind == 'end' else repr(value)}", p)
            parameters.append(value)
            if not lx.accept(","):
                break
    _end(lx)
    return ResultPragma("adjoint_gradient", offset=pos, terms=terms, parameters=parameters)


def _factor(lx: _Lexer) -> Factor:
    kind, word, pos = lx.next()
    if word == "hermitian":
        lx.expect("(", "after 'hermitian'")
        matrix = _matrix(lx)
        lx.expect(")", "after the hermitian matrix")
        targets = None
        if not lx.accept("all") and lx.peek()[0] not in ("end",) and not any(lx.at(t) for t in "@)+-"):
            targets = _qubits(lx)
        return Factor("hermitian", targets, matrix, pos)
    if kind == "name" and word in OBSERVABLE_NAMES:
        targets = None
        if lx.accept("("):
            targets = _qubits(lx)
            lx.expect(")", "after the observable's qubits")
        else:
            lx.accept("all")
        return Factor(word, targets, None, pos)
    found = "end of pragma" if kind == "end" else repr(word)
    raise PragmaError(f"unknown observable {found} (known: x, y, z, h, i, hermitian)", pos)


def _qubits(lx: _Lexer) -> list[QubitRef]:
    out = [_qubit(lx)]
    while lx.accept(","):
        out.append(_qubit(lx))
    return out


def _int(lx: _Lexer) -> int:
    neg = lx.accept("-")
    kind, v, pos = lx.next()
    if kind != "num" or not v.isdigit():
        raise PragmaError(f"expected an integer index, found {v!r}", pos)
    return -int(v) if neg else int(v)


def _qubit(lx: _Lexer) -> QubitRef:
    kind, v, pos = lx.next()
    if kind == "phys":
        return QubitRef(v, None, pos)
    if kind != "name":
        raise PragmaError(f"expected a qubit, found {'end of pragma' if kind == 'end' else repr(v)}", pos)
    index = None
    if lx.accept("["):
        if lx.accept("{"):
            items = [_int(lx)]
            while lx.accept(","):
                items.append(_int(lx))
            lx.expect("}")
            index = ("set", items)
        elif lx.peek()[0] == "name":
            index = lx.next()[1]
        else:
            a = _int(lx)
            if lx.accept(":"):
                b = _int(lx)
                step = 1
                if lx.accept(":"):
                    step, b = b, _int(lx)
                index = ("range", a, b, step)
            else:
                index = a
        lx.expect("]", "to close the qubit index")
    return QubitRef(v, index, pos)


def _matrix(lx: _Lexer) -> list:
    lx.expect("[", "to open a matrix")
    rows = [_row(lx)]
    while lx.accept(","):
        rows.append(_row(lx))
    lx.expect("]", "to close the matrix")
    return rows


def _row(lx: _Lexer) -> list:
    lx.expect("[", "to open a matrix row")
    row = [_number(lx)]
    while lx.accept(","):
        row.append(_number(lx))
    lx.expect("]", "to close the matrix row")
    return row


def _number(lx: _Lexer) -> complex:
    total = 0j
    sign = -1.0 if lx.accept("-") else (lx.accept("+") and 1.0) or 1.0
    while True:
        total += sign * _term(lx)
        if lx.accept("+"):
            sign = 1.0
        elif lx.accept("-"):
            sign = -1.0
        else:
            return total


def _term(lx: _Lexer) -> complex:
    kind, v, pos = lx.next()
    if kind == "num":
        value = float(v)
    elif kind == "name" and v in ("pi", "π"):
        value = math.pi
    elif kind == "name" and v == "im":
        return 1j
    else:
        raise PragmaError(f"expected a number, found {'end of pragma' if kind == 'end' else repr(v)}", pos)
    if lx.accept("im"):
        return value * 1j
    return complex(value)
