"""Source text -> ``openqasm3`` AST, with every syntax error turned into a located ``ProgramError``.

Called by: ``qsim.qasm.interpreter`` (the program and the built-in ``stdgates.inc``).

We drive the reference ANTLR grammar shipped with ``openqasm3`` ourselves instead of calling
``openqasm3.parse`` for three reasons:

* ``openqasm3.parse`` leaves ANTLR's console listener on the lexer, so a lexer error is printed to
  stderr before it is raised; we remove every console listener, so nothing is ever printed.
* its parse errors carry no message or location (``QASM3ParsingError()`` from a bail-out); we read the
  offending token from the ANTLR exception and report line and column.
* ANTLR's two-stage strategy (fast SLL prediction first, full LL only if SLL bails) roughly halves
  parse time on the gate-heavy programs of a variational loop.

ASTs are cached by source text (they are never mutated by the interpreter), so re-running the same
program with new ``inputs`` pays only for the tree walk.
"""

from __future__ import annotations

import bisect
import functools
import re

from antlr4 import CommonTokenStream, InputStream
from antlr4.atn.PredictionMode import PredictionMode
from antlr4.error.ErrorListener import ErrorListener
from antlr4.error.ErrorStrategy import BailErrorStrategy
from antlr4.error.Errors import ParseCancellationException, RecognitionException
from antlr4.ListTokenSource import ListTokenSource
from openqasm3 import ast
# The generated lexer/parser are an internal module of openqasm3; this is the same import
# openqasm3.parser itself uses.
from openqasm3._antlr.qasm3Lexer import qasm3Lexer
from openqasm3._antlr.qasm3Parser import qasm3Parser
from openqasm3.parser import QASM3ParsingError, QASMNodeVisitor

from qsim.errors import ProgramError
from qsim.qasm.limits import MAX_NESTING


class Locator:
    """Maps AST spans of one source text to 1-based (line, column) and the quoted source line.

    The ``openqasm3`` AST builder records the span of a bare identifier token with the token's
    *character offset in the file* as its column (``get_span`` uses ``symbol.start``), while rule
    spans use the real column.  For identifiers we accept whichever reading puts the name there.
    """

    def __init__(self, source: str, name: str = "<program>"):
        self.source = source
        self.name = name
        self.lines = source.splitlines() or [""]
        starts, pos = [], 0
        for line in source.splitlines(keepends=True):
            starts.append(pos)
            pos += len(line)
        self.starts = starts or [0]

    def source_line(self, line: int | None) -> str | None:
        if line is None or not 1 <= line <= len(self.lines):
            return None
        return self.lines[line - 1]

    def where(self, node) -> tuple[int | None, int | None]:
        """1-based (line, column) of ``node`` or (None, None)."""
        span = getattr(node, "span", None)
        if span is None:
            return None, None
        line, col = span.start_line, span.start_column
        if isinstance(node, ast.Identifier) and 1 <= line <= len(self.starts):
            text = self.lines[line - 1]
            if text[col:col + len(node.name)] != node.name:
                offset = col - self.starts[line - 1]
                if 0 <= offset and text[offset:offset + len(node.name)] == node.name:
                    col = offset
                else:  # an offset into another line: recover the line from the offset
                    idx = bisect.bisect_right(self.starts, col) - 1
                    if idx >= 0 and self.source[col:col + len(node.name)] == node.name:
                        line, col = idx + 1, col - self.starts[idx]
        return line, col + 1

    def error(self, node, message: str) -> ProgramError:
        line, col = self.where(node)
        return ProgramError(message, line, col, self.source_line(line))

    def error_at(self, message: str, line: int | None, col: int | None) -> ProgramError:
        return ProgramError(message, line, col, self.source_line(line))


class _RaiseListener(ErrorListener):
    def syntaxError(self, recognizer, offendingSymbol, line, column, msg, e):
        raise _SyntaxError(line, column + 1, msg)


class _SyntaxError(Exception):
    def __init__(self, line, column, msg):
        super().__init__(msg)
        self.line, self.column, self.msg = line, column, msg


def _token_text(tok) -> str:
    if tok is None:
        return "?"
    if tok.type == -1:
        return "end of input"
    return repr(tok.text)


def _expected(exc: RecognitionException, parser) -> str:
    try:
        expected = exc.getExpectedTokens()
    except Exception:  # noqa: BLE001 - ANTLR cannot always compute the set; the message is a hint
        return ""
    if expected is None:
        return ""
    names = []
    for interval in expected.intervals or []:
        for t in interval:
            if t == -1:
                names.append("end of input")
            elif 0 < t < len(parser.literalNames) and parser.literalNames[t] != "<INVALID>":
                names.append(parser.literalNames[t])
            elif 0 < t < len(parser.symbolicNames):
                names.append(parser.symbolicNames[t])
    if not names or len(names) > 8:
        return ""
    return "; expected " + (names[0] if len(names) == 1 else "one of " + ", ".join(names))


class _FirstErrorListener(ErrorListener):
    def __init__(self):
        super().__init__()
        self.first = None

    def syntaxError(self, recognizer, offendingSymbol, line, column, msg, e):
        if self.first is None:
            self.first = _SyntaxError(line, column + 1, msg)


@functools.lru_cache(maxsize=4)
def _lex(source: str):
    """(tokens, first lexer error or None): lexed once for the nesting check and both parser stages."""
    lexer = qasm3Lexer(InputStream(source))
    lexer.removeErrorListeners()
    listener = _FirstErrorListener()
    lexer.addErrorListener(listener)
    return lexer.getAllTokens(), listener.first


def _make_parser(source: str, mode, report: bool) -> qasm3Parser:
    tokens, error = _lex(source)
    if error is not None:
        raise error
    parser = qasm3Parser(CommonTokenStream(ListTokenSource(tokens)))
    parser.removeErrorListeners()
    if report:  # in the SLL stage errors only bail out (to the LL stage), they are not reported
        parser.addErrorListener(_RaiseListener())
    parser._errHandler = BailErrorStrategy()  # the Python runtime has no setErrorHandler
    parser._interp.predictionMode = mode
    return parser


_LOC = re.compile(r"^L(\d+):C(\d+):\s*(.*)$", re.S)
_OPEN = (qasm3Lexer.LPAREN, qasm3Lexer.LBRACKET, qasm3Lexer.LBRACE)
_CLOSE = (qasm3Lexer.RPAREN, qasm3Lexer.RBRACKET, qasm3Lexer.RBRACE)


@functools.lru_cache(maxsize=128)
def nesting_depth(source: str) -> int:
    """The deepest bracket nesting of ``source`` (parentheses, brackets and braces together), from
    the token stream (so comments and strings do not count).  Raises ``ProgramError`` at the first
    bracket deeper than ``MAX_NESTING``: the parser recurses per level, so depth is bounded before
    parsing.  A lexer error is left to ``parse_ast`` to report."""
    depth = deepest = 0
    for tok in _lex(source)[0]:
        if tok.type in _OPEN:
            depth += 1
            if depth > deepest:
                deepest = depth
                if depth > MAX_NESTING:
                    raise Locator(source).error_at(
                        f"brackets, parentheses or blocks nest {depth} deep here, more than the limit of "
                        f"{MAX_NESTING}", tok.line, tok.column + 1)
        elif tok.type in _CLOSE:
            depth = max(depth - 1, 0)
    return deepest


@functools.lru_cache(maxsize=128)
def parse_ast(source: str) -> ast.Program:
    """The ``openqasm3`` AST of ``source``; raises ``ProgramError`` (with location) on bad syntax."""
    loc = Locator(source)
    try:
        try:
            tree = _make_parser(source, PredictionMode.SLL, False).program()
        except ParseCancellationException:
            tree = None
        if tree is None:  # SLL can bail on valid input; only a full-LL failure is a real error
            parser = _make_parser(source, PredictionMode.LL, True)
            try:
                tree = parser.program()
            except ParseCancellationException as bail:
                cause = bail.args[0] if bail.args else None
                tok = getattr(cause, "offendingToken", None)
                if tok is None:
                    raise loc.error_at("syntax error", None, None) from None
                raise loc.error_at(f"syntax error at {_token_text(tok)}{_expected(cause, parser)}",
                                   tok.line, tok.column + 1) from None
    except _SyntaxError as e:
        raise loc.error_at(f"syntax error: {e.msg}", e.line, e.column) from None
    if tree.stop is None or tree.stop.type == -1 and tree.start.type == -1:
        raise loc.error_at("the program is empty (no statements; only whitespace or comments)", 1, 1)
    try:
        return QASMNodeVisitor().visitProgram(tree)
    except QASM3ParsingError as e:
        m = _LOC.match(str(e))
        if m:
            line, col = int(m.group(1)), int(m.group(2)) + 1
            raise loc.error_at(m.group(3), line, col) from None
        raise loc.error_at(str(e) or "invalid program", None, None) from None
