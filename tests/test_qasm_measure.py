"""Measurement, reset, barrier, and measurement-dependent ``if`` (feed-forward) in OpenQASM."""

import pytest

from qsim.circuit.classical import Binary, BitRef, BitsValue, Const, Unary
from qsim.circuit.operations import Conditional, GateOp, Measure, Reset
from qsim.errors import ProgramError
from qsim.qasm import parse


def ops(src):
    return parse(src).instructions


@pytest.mark.parametrize("stmt, want", [
    ("c = measure q;", [Measure(0, 0), Measure(1, 1), Measure(2, 2)]),
    ("c[1] = measure q[2];", [Measure(2, 1)]),
    ("measure q -> c;", [Measure(0, 0), Measure(1, 1), Measure(2, 2)]),
    ("measure q[0] -> c[2];", [Measure(0, 2)]),
    ("c[0:1] = measure q[1:2];", [Measure(1, 0), Measure(2, 1)]),
    ("d = measure q[1];", [Measure(1, 3)]),
    ("measure q[1];", [Measure(1, 5)]),
    ("measure q;", [Measure(0, 5), Measure(1, 6), Measure(2, 7)]),
])
def test_measure_forms(stmt, want):
    src = f"qubit[3] q; bit[3] c; bit d; {stmt} bit e;"  # bare measures go after every declared bit
    assert ops(src) == want


def test_bit_declaration_with_measure():
    assert ops("qubit[2] q; bit[2] b = measure q; bit x = measure q[0];") == [
        Measure(0, 0), Measure(1, 1), Measure(0, 2)]


def test_bit_count_includes_declared_and_bare_bits():
    c = parse("qubit q; bit[4] c; measure q;")
    assert c.bit_count == 5


def test_measure_size_mismatch():
    with pytest.raises(ProgramError, match=r"measurement of 3 qubit\(s\) in 2 bit\(s\)"):
        parse("qubit[3] q; bit[2] c; c = measure q;")


def test_measure_into_non_bit():
    with pytest.raises(ProgramError, match="'x' is a int"):
        parse("qubit q; int x; x = measure q;")


def test_reset_and_barrier():
    assert ops("qubit[2] q; reset q; barrier q; barrier; reset q[1];") == [Reset(0), Reset(1), Reset(1)]


def test_barrier_checks_names():
    with pytest.raises(ProgramError, match="'r' is not declared"):
        parse("qubit[2] q; barrier r;")


# ----------------------------------------------------------------------------- feed-forward
def test_if_on_measured_bit_becomes_conditional():
    src = "qubit[2] q; bit[2] b; h q[0]; b[0] = measure q[0]; if (b[0] == 1) { x q[1]; } else { z q[1]; reset q[0]; }"
    *_, cond = ops(src)
    assert isinstance(cond, Conditional)
    assert cond.condition == Binary("==", BitRef(0), Const(1))
    assert [(o.name, o.targets) for o in cond.then_ops] == [("x", (1,))]
    assert cond.else_ops[0].name == "z" and cond.else_ops[1] == Reset(0)
    assert cond.condition.evaluate([1, 0]) and not cond.condition.evaluate([0, 0])


@pytest.mark.parametrize("cond, bits_true, bits_false", [
    ("b[1]", [0, 1, 0], [1, 0, 0]),
    ("!b[0]", [0, 1, 1], [1, 0, 0]),
    ("~b[0] == 1", [0, 0, 0], [1, 0, 0]),
    ("b == 5", [1, 0, 1], [1, 1, 0]),
    ("b == \"011\"", [1, 1, 0], [0, 1, 1]),
    ("int(b) > 3", [0, 0, 1], [1, 1, 0]),
    ("b[0] && b[2]", [1, 0, 1], [1, 1, 0]),
    ("b[0] || b[2]", [0, 0, 1], [0, 1, 0]),
    ("(b & 2) != 0", [0, 1, 0], [1, 0, 1]),
])
def test_condition_expressions(cond, bits_true, bits_false):
    src = f"qubit[3] q; bit[3] b; b = measure q; if ({cond}) {{ x q[0]; }}"
    c = ops(src)[-1]
    assert isinstance(c, Conditional)
    assert bool(c.condition.evaluate(bits_true)) and not bool(c.condition.evaluate(bits_false))


def test_whole_register_is_bits_value_lsb_first():
    c = ops("qubit[3] q; bit[3] b; b = measure q; if (b == 1) { x q[0]; }")[-1]
    assert c.condition.left == BitsValue((0, 1, 2))


def test_known_bits_fold_away():
    src = "qubit[2] q; bit[2] b; b[0] = measure q[0]; b[1] = 1; if (b[1] == 1) { x q[1]; }"
    assert isinstance(ops(src)[-1], GateOp)


def test_mixed_known_and_measured_register():
    src = "qubit[2] q; bit[2] b; b[1] = measure q[0]; if (b == 2) { x q[1]; }"
    c = ops(src)[-1]
    assert c.condition.evaluate([0, 1]) and not c.condition.evaluate([0, 0])


def test_nested_conditionals_with_measure_and_loops():
    src = """qubit[3] q; bit[3] b;
    b[0] = measure q[0];
    if (b[0]) {
        for int i in [1:2] { x q[i]; }
        b[1] = measure q[1];
        if (b[1]) { h q[2]; }
    }
    if (b[1]) { z q[0]; }"""
    *_, outer, later = ops(src)
    assert [type(o).__name__ for o in outer.then_ops] == ["GateOp", "GateOp", "Measure", "Conditional"]
    assert outer.then_ops[3].condition == BitRef(1)
    assert later.condition == BitRef(1)


def test_measured_value_through_variables():
    src = "qubit[2] q; bit b = measure q[0]; bool flag = b; if (!flag) { x q[1]; }"
    c = ops(src)[-1]
    assert c.condition == Unary("!", BitRef(0))


def test_conditional_inside_loop_and_subroutine():
    src = """qubit[3] q; bit[3] b;
    def fix(bit m, qubit t) { if (m) { x t; } }
    for int i in [0:1] { b[i] = measure q[i]; fix(b[i], q[i + 1]); }"""
    kinds = [type(o).__name__ for o in ops(src)]
    assert kinds == ["Measure", "Conditional", "Measure", "Conditional"]


def test_return_measure_from_subroutine():
    src = "qubit[2] q; def m(qubit a) -> bit { return measure a; } bit r; r = m(q[0]); if (r) { x q[1]; }"
    c = parse(src)
    assert c.instructions[0] == Measure(0, 1)
    assert c.instructions[1].condition == BitRef(1)


@pytest.mark.parametrize("body, match", [
    ("int k = 0; if (b[0]) { k = 1; }", "assigning to 'k' inside an 'if' that depends on measured values"),
    ("for int i in [0:1] { if (b[0]) { break; } }", "'break' inside an 'if' that depends on measured values"),
    ("while (b[0] == 0) { x q[0]; }", "'while' condition that depends on measured values"),
    ("for int i in [0:b[0]] { x q[0]; }", "loop range that depends on measured values"),
    ("rx(b[0] * pi) q[0];", "gate parameter that depends on measured values"),
    ("x q[b[0]];", "index into 'q' that depends on measured values"),
    ("if (b[0]) { #pragma braket result state_vector\n }", "pragmas must be global"),  # the grammar's rule
    ("b[0] = 1; if (b[1]) { b[0] = measure q[1]; }", "only supported while the bit holds its last measured value"),
    ("const bit k = b[0];", "const 'k' cannot depend on a measurement"),
    ("float f = sin(b[0]);", "'sin' of a measurement-dependent value"),
])
def test_unsupported_measurement_dependent_constructs(body, match):
    src = f"qubit[2] q; bit[2] b; b = measure q;\n{body}"
    with pytest.raises(ProgramError, match=match) as e:
        parse(src)
    assert e.value.line == 2 and e.value.column >= 1


def test_local_declaration_inside_measured_branch_is_fine():
    src = "qubit[2] q; bit b = measure q[0]; if (b) { int k = 1; k += 1; rx(k) q[1]; }"
    c = ops(src)[-1]
    assert c.then_ops[0].params == (2.0,)
