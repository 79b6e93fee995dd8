"""Every user error is a ProgramError naming the value, with the right line and column; plus the
front end's contracts: nothing printed by ANTLR, no simulator import, parse time."""

import subprocess
import sys
import time

import pytest

from qsim.errors import ProgramError
from qsim.qasm import parse


@pytest.mark.parametrize("src, match, line, column", [
    # arity and qubits
    ("qubit[2] q;\ncnot q[0];", r"gate 'cnot' acts on 2 qubit\(s\), got 1", 2, 1),
    ("qubit[2] q;\n  cnot q[1], q[1];", "qubit 1 is used twice in 'cnot'", 2, 3),
    ("qubit[3] q;\nctrl @ cnot q[0], q[1];", r"acts on 3 qubit\(s\) \(1 control\(s\) \+ 2 target\(s\)\), got 2", 2, 1),
    ("qubit[3] q;\nctrl @ x q[0], q[0];", "qubit 0 is used twice in 'ctrl @ x'", 2, 1),
    ("qubit q;\nrx q;", r"gate 'rx' takes 1 parameter\(s\), got 0", 2, 1),
    ("qubit q;\nh(0.1) q;", r"gate 'h' takes 0 parameter\(s\), got 1", 2, 1),
    ("gate g(a) x { rx(a) x; }\nqubit q;\ng(1, 2) q;", r"gate 'g' takes 1 parameter\(s\), got 2", 3, 1),
    ("qubit[2] a;\nqubit[3] b;\ncnot a, b;", r"registers of different sizes \(2 and 3\)", 3, 9),
    ("qubit q;\nfoo q;", "unknown gate 'foo'", 2, 1),
    ("qubit q;\nh r;", "qubit 'r' is not declared", 2, 3),
    ("qubit[2] q;\nh q[2];", "index 2 is out of range for 'q' of size 2", 2, 5),
    ("qubit[2] q;\nh q[0:4];", "slice bound 4 is out of range for 'q'", 2, 5),
    ("qubit q;\nh q[0];", "'q' is a single qubit and cannot be indexed", 2, 3),
    ("qubit q;\nint n;\nh n;", "'n' is a classical variable, not a qubit", 3, 3),
    ("qubit q;\nrx(1im) q;", "gate parameter must be a real number", 2, 4),
    ("qubit q;\nctrl(0) @ x q;", r"ctrl\(0\) needs a positive number of controls", 2, 6),
    # declarations and names
    ("qubit q;\nqubit q;", "'q' is already declared", 2, 7),
    ("int x;\nfloat x;", "'x' is already declared", 2, 7),
    ("gate g a { h a; }\ngate g a { x a; }", "gate 'g' is already defined", 2, 6),
    ("qubit q;\nrx(y) q;", "'y' is not declared", 2, 4),
    ("const int c = 1;\nc = 2;", "cannot assign to const 'c'", 2, 1),
    ("int pi = 3;", "'pi' is a built-in constant", 1, 5),
    ("qubit[0] q;", "must have a positive size, got 0", 1, 6),
    ("array[int, 2] a = {1, 2, 3};", "does not fit", 1, 19),
    ("qubit q;\nfloat f = 1 / 0;", "division by zero", 2, 11),
    ("qubit q;\nfloat f = arcsin(2);", "arcsin: 2 is outside", 2, 11),
    ("qubit q;\nfloat f = nosuch(2);", "unknown function 'nosuch'", 2, 11),
    ("qubit q;\nfloat f = h(2);", "'h' is a gate", 2, 11),
    ("float f = 1 + 2im;", "cannot convert the complex value", 1, 11),
    ("uint u = -1;", "negative value -1 in a uint", 1, 10),
    ("gate g a { int k = 1; }", "cannot declare classical variables in a gate", 1, 12),
    ("qubit q;\nfloat g = 1;\ngate w a { rx(g) a; }\nw q;", "'g' is a global variable", 3, 15),
    ("qubit q;\ngate w a { h q; }\nw q;", "'q' is a global qubit", 2, 14),
    ("def f(int a) { }\nf(1, 2);", r"takes 1 argument\(s\), got 2", 2, 1),
    ("qubit[2] q;\ndef f(qubit a) { }\nf(q);", "is one qubit, got a register of 2", 3, 3),
    ("break;", "'break' statement outside loop", 1, 1),  # the grammar's own check
    ("return;", "'return' statement outside subroutine", 1, 1),
    # refused features
    ("qubit q;\ndelay[100ns] q;", r"'delay' \(timing\) is not supported", 2, 1),
    ("duration d = 10ns;", "'duration' types are not supported", 1, 1),
    ("stretch s;", "'stretch' types are not supported", 1, 1),
    ("qubit q;\nbox[10ns] { x q; }", "a 'box' with a duration is not supported", 2, 4),
    ("extern f(int) -> int;", "'extern' functions are not supported", 1, 1),
    ("defcalgrammar \"openpulse\";", "'defcalgrammar' is not supported", 1, 1),
    ("cal { }", "'cal' blocks are not supported", 1, 1),
    ("defcal x $0 { }", "'defcal' is not supported", 1, 1),
    ("include \"qelib1.inc\";", "cannot include 'qelib1.inc'", 1, 1),
    # syntax
    ("qubit q;\nh q", "syntax error at end of input; expected ';'", 2, 4),
    ("qubit q;\nh q; }", "syntax error at '}'", 2, 6),
    ("qubit q;\nh q; `", "syntax error: token recognition error at: '`'", 2, 6),
])
def test_errors_name_the_value_and_location(src, match, line, column):
    with pytest.raises(ProgramError, match=match) as e:
        parse(src)
    assert (e.value.line, e.value.column) == (line, column), str(e.value)
    assert e.value.source_line == src.splitlines()[line - 1]
    assert str(e.value).startswith(f"line {line}, column {column}: ")


def test_error_message_quotes_source_with_caret():
    with pytest.raises(ProgramError) as e:
        parse("qubit[2] q;\n  cnot q[1], q[1];")
    assert str(e.value).splitlines()[1:] == ["      cnot q[1], q[1];", "      ^"]


def test_non_string_source():
    with pytest.raises(ProgramError, match="must be a str"):
        parse(b"qubit q;")


def test_antlr_prints_nothing(capfd):
    for bad in ["qubit q; h q; `", "qubit q; h q", "#pragma braket result adjoint_gradient expectation(z(q[0])) all"]:
        with pytest.raises(ProgramError):
            parse(bad)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_parser_does_not_import_the_simulator():
    # Whatever the top-level package imports, qsim.qasm itself must add no simulator module.
    code = ("import sys, qsim; before = set(sys.modules); import qsim.qasm; qsim.qasm.parse('qubit q; h q;'); "
            "new = set(sys.modules) - before; "
            "print(sorted(m for m in new if m.split('.')[:2] in (['qsim', 'state'], ['qsim', 'kernels'], "
            "['qsim', 'distributed'], ['qsim', 'device'])))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_qasm_modules_import_only_the_circuit_layer():
    import pathlib
    import re
    root = pathlib.Path(__file__).resolve().parents[1] / "qsim" / "qasm"
    for path in root.glob("*.py"):
        for m in re.findall(r"^\s*(?:from|import)\s+(qsim[\w.]*)", path.read_text(), re.M):
            assert m.split(".")[1] in ("circuit", "errors", "qasm"), f"{path.name} imports {m}"


def _thousand_gates(tag: str) -> str:
    body = "".join(f"rx(theta * {i % 7}) q[{i % 10}];\ncnot q[{i % 10}], q[{(i + 1) % 10}];\n" for i in range(500))
    return f"OPENQASM 3.0;\n// {tag}\ninput float theta;\nqubit[10] q;\nbit[10] c;\n{body}c = measure q;\n"


def test_reparsing_the_same_text_binds_the_new_inputs():
    # A variational loop parses the same text with new inputs: the cached syntax tree is re-walked,
    # and every run must see its own inputs.  (Its speed is measured in benchmarks/qasm_parse.py.)
    src = _thousand_gates(f"cache {time.time()}")
    c = parse(src, {"theta": 0.1})
    assert len(c.instructions) == 1010
    for k in range(5):
        c = parse(src, {"theta": 0.1 * k})
        assert c.instructions[2].params == (pytest.approx(0.1 * k),)
