"""Property-based fuzzing of the OpenQASM front end (issue 10): every input either runs or raises a
``QsimError`` subclass (a ``ProgramError`` located inside the program when it carries a line),
never another exception.

Inputs: valid programs (``examples/qasm`` and the programs quoted in the ``tests/test_qasm_*.py``
modules) mutated token by token (delete, duplicate, swap, insert a hostile token, insert random
bytes), and random bytes read as a program file.  A parsed program with at most 8 qubits is also
run.  The mutated programs also go through ``python -m qsim run`` (exit 0, or 2 with one error
line).  The front end's caps are lowered for the run (``limits``) so that a mutated loop that hits a
cap costs milliseconds, not seconds.

Bounded here (a few hundred examples per property, ~tens of seconds in all); the longer run is
``python tests/fuzz/fuzz_qasm.py --minutes N``, which reports counts.
"""

from __future__ import annotations

import ast
import functools
import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qsim.errors import ProgramError, QsimError

ROOT = Path(__file__).resolve().parents[1]
TOKEN = re.compile(r"\s+|//[^\n]*|/\*.*?\*/|\d+\.?\d*(?:[eE][+-]?\d+)?|[A-Za-z_$][\w$]*|\*\*|[=!<>]=|&&|\|\||.",
                   re.S)
HOSTILE = ["{", "}", "(", ")", "[", "]", ";", ",", "@", ":", "=", "==", "+", "-", "*", "/", "**", "^", "~", "!",
           "pow", "inv", "ctrl", "negctrl", "measure", "reset", "if", "else", "for", "while", "break", "continue",
           "gate", "def", "return", "qubit", "bit", "int", "float", "angle", "input", "output", "const", "let",
           "include", '"stdgates.inc"', "box", "barrier", "gphase", "#pragma braket result probability",
           "#pragma braket unitary([[1, 0], [0, 1]]) q[0]", "#pragma braket verbatim", "\n", " ", "q", "q[0]",
           "$0", "0", "1", "-1", "2**63", "10**30", "1e400", "1e-400", "nan", "pi", "π", "0.5", "[0:10**9]",
           "\x00", "\ufeff", "\u2028", "é", "'", '"']


@functools.lru_cache(maxsize=1)
def corpus() -> list[str]:
    """The valid programs (those that parse) among the examples and the test modules' strings."""
    from qsim.qasm import parse

    programs = [p.read_text() for p in sorted((ROOT / "examples" / "qasm").glob("*.qasm"))]
    for path in sorted((ROOT / "tests").glob("test_qasm_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "qubit" in node.value \
                    and len(node.value) < 3000:
                programs.append(node.value)
    valid = []
    for p in sorted(set(programs)):
        try:
            parse(p)
        except QsimError:
            continue
        valid.append(p)
    return valid


@st.composite
def mutated_programs(draw):
    tokens = TOKEN.findall(draw(st.sampled_from(corpus())))
    for _ in range(draw(st.integers(1, 4))):
        if not tokens:
            tokens = [""]
        i = draw(st.integers(0, len(tokens) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "bytes"]))
        if op == "delete":
            del tokens[i]
        elif op == "duplicate":
            tokens.insert(i, tokens[i])
        elif op == "swap":
            j = draw(st.integers(0, len(tokens) - 1))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif op == "insert":
            tokens.insert(i, draw(st.sampled_from(HOSTILE)))
        else:
            tokens.insert(i, draw(st.binary(min_size=1, max_size=8)).decode("latin-1"))
    return "".join(tokens)


def check(source, outcomes: Counter | None = None) -> str:
    """Parse (and for small programs run) ``source``; the outcome's name.  Fails on any exception
    that is not a ``QsimError``."""
    import qsim
    from qsim.qasm import parse

    outcome = "ran"
    try:
        if isinstance(source, bytes):
            from qsim.qasm.source import decode_program

            source = decode_program(source)
        circuit = parse(source)
        outcome = "parsed"
        if len(circuit.qubits) <= 8 and not circuit.free_parameters():
            shots = 0 if circuit.result_types else 3
            qsim.device("local:qsim/statevector").run(circuit, shots=shots, seed=1).result()
            outcome = "ran"
    except ProgramError as e:
        if e.line is not None:
            text = source if isinstance(source, str) else source.decode("utf-8", "replace")
            assert 1 <= e.line <= max(text.count("\n") + 1, len(text.splitlines()), 1), (e.line, str(e))
        outcome = type(e).__name__
    except QsimError as e:
        outcome = type(e).__name__
    if outcomes is not None:
        outcomes[outcome] += 1
    return outcome


@pytest.fixture
def small_caps(monkeypatch):
    from qsim.qasm import limits

    monkeypatch.setattr(limits, "MAX_LOOP_ITERATIONS", 500)
    monkeypatch.setattr(limits, "MAX_OPERATIONS", 20_000)


def test_corpus_programs_are_collected_and_mostly_valid(small_caps):
    assert len(corpus()) >= 30
    outcomes = Counter(check(p) for p in corpus())
    assert outcomes["ran"] + outcomes["parsed"] >= len(corpus()) // 2, outcomes


FUZZ = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@FUZZ
@given(mutated_programs())
def test_mutated_programs_run_or_raise_a_qsim_error(small_caps, source):
    check(source)


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_run_or_raise_a_qsim_error(small_caps, data):
    check(data)


@FUZZ
@given(st.lists(st.sampled_from(HOSTILE), max_size=40).map(lambda t: "OPENQASM 3.0;\nqubit[2] q;\n" + " ".join(t)))
def test_hostile_token_soup_runs_or_raises_a_qsim_error(small_caps, source):
    check(source)


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(mutated_programs(), st.sampled_from([(), ("--shots", "5", "--seed", "3")]))
def test_cli_exits_0_or_2_with_one_error_line(small_caps, tmp_path, source, extra):
    """The same inputs through ``python -m qsim run`` (in-process): exit 0, or exit 2 with exactly
    one ``qsim: error:`` line, never an internal error (exit 3)."""
    import contextlib
    import io

    from qsim.cli import main

    path = tmp_path / "fuzz.qasm"
    path.write_bytes(source.encode("utf-8", "surrogatepass"))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["run", str(path), *extra])
    lines = err.getvalue().strip().splitlines()
    assert code in (0, 2), err.getvalue()
    if code == 2:
        assert len(lines) == 1 and lines[0].startswith("qsim: error: ") and out.getvalue() == "", err.getvalue()
