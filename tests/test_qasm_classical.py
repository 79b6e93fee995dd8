"""OpenQASM classical language: declarations, expressions, control flow, subroutines, inputs.

Classical code is evaluated at parse time, so each test reads the value back through the angle of a
gate: ``rx(<expr>) q;`` puts the value into ``op.params``."""

import math

import pytest

from qsim.errors import ProgramError
from qsim.qasm import MAX_WHILE_ITERATIONS, parse


def value_of(decls: str, expr: str, inputs=None):
    c = parse(f"OPENQASM 3.0;\nqubit q;\n{decls}\nrx({expr}) q;", inputs)
    return c.instructions[-1].params[0]


def targets(src, inputs=None):
    return [op.targets for op in parse(src, inputs).instructions]


# ----------------------------------------------------------------------------- expressions
@pytest.mark.parametrize("expr, want", [
    ("1 + 2 * 3", 7), ("7 - 10", -3), ("2 ** 10", 1024), ("7 % 3", 1), ("6 / 3", 2), ("1 / 2", 0.5),
    ("7.5 / 2.5", 3), ("-(2 + 3)", -5), ("pi", math.pi), ("π / 2", math.pi / 2), ("tau", 2 * math.pi),
    ("τ", 2 * math.pi), ("euler", math.e), ("ℇ", math.e), ("1 << 4", 16), ("256 >> 2", 64), ("6 & 3", 2),
    ("6 | 3", 7), ("6 ^ 3", 5), ("~5 + 10", 4), ("3 > 2", 1), ("3 < 2", 0), ("2 >= 2", 1), ("2 <= 1", 0),
    ("2 == 2", 1), ("2 != 2", 0), ("true && false", 0), ("true || false", 1), ("!false", 1),
    ("sin(pi / 2)", 1), ("cos(0)", 1), ("tan(0)", 0), ("arcsin(1)", math.pi / 2), ("arccos(1)", 0),
    ("arctan(1)", math.pi / 4), ("exp(1)", math.e), ("log(euler)", 1), ("sqrt(16)", 4), ("ceiling(1.2)", 2),
    ("floor(-1.2)", -2), ("mod(7, 3)", 1), ("mod(7.5, 2)", 1.5), ("popcount(7)", 3), ("2.0 ** 0.5", math.sqrt(2)),
    ("real(3 + 4im)", 3), ("imag(3 + 4im)", 4), ("0x1f", 31), ("0b101", 5), ("1_000", 1000), ("1e-3", 1e-3),
])
def test_expressions(expr, want):
    assert value_of("", expr) == pytest.approx(want)


@pytest.mark.parametrize("decls, expr, want", [
    ("int[8] x = 300;", "x", 44),
    ("int[8] x = 200;", "x", -56),
    ("uint[4] u = 17;", "u", 1),
    ("int i = int(3.9);", "i", 3),
    ("int i = int(-3.9);", "i", -3),
    ("float f = 1;", "f / 2", 0.5),
    ("angle a = 3 * pi;", "a", math.pi),
    ("bool b = 5;", "b", 1),
    ("complex z = 1 + 2im;", "real(z * z)", -3),
    ("complex[float[64]] z = 2im;", "imag(z)", 2),
    ("const int n = 3; float f = n * 2.5;", "f", 7.5),
    ("bit[4] b = \"1010\";", "int(b)", 10),
    ("bit[4] b = \"1010\";", "b[1] + 2 * b[0]", 1),
    ("bit[4] b = 6;", "uint[4](b)", 6),
    ("bit[4] b = \"1010\"; bit[2] s = b[0:1];", "int(s)", 2),
    ("bit[4] b = \"1010\";", "popcount(b)", 2),
    ("bit[4] b = \"0001\";", "int(rotl(b, 1))", 2),
    ("bit[4] b = \"0001\";", "int(rotr(b, 1))", 8),
    ("bit[4] b = \"0011\";", "int(~b)", 12),
    ("bit x = 1;", "~x", 0),
    ("array[int[8], 3] a = {1, 2, 3};", "a[0] + a[2] + sizeof(a)", 7),
    ("array[float, 2, 2] m = {{1, 2}, {3, 4}};", "m[1][0] + m[0, 1] + sizeof(m, 1)", 7),
    ("array[int, 3] a = {1, 2, 3}; a[1] = 10; a[2] += 5;", "a[1] + a[2]", 18),
    ("int x = 5; x += 2; x *= 3; x -= 1; x /= 4;", "x", 5),
    ("int x = 1; x <<= 3; x |= 1;", "x", 9),
    ("int x = 5; { int y = 2; x = x + y; }", "x", 7),
])
def test_declarations_casts_and_assignments(decls, expr, want):
    assert value_of(decls, expr) == pytest.approx(want)


def test_angle_is_reduced_modulo_two_pi():
    assert value_of("angle a = -pi / 2;", "a") == pytest.approx(1.5 * math.pi)


# ----------------------------------------------------------------------------- inputs
def test_input_float_and_int():
    src = "input float theta; input int n; qubit[4] q; rx(theta) q[n];"
    (op,) = parse(src, {"theta": 0.25, "n": 3}).instructions
    assert op.params == (0.25,) and op.targets == (3,)


def test_input_accepts_numpy_scalars():
    import numpy as np
    (op,) = parse("input float t; qubit q; rx(t) q;", {"t": np.float32(0.5)}).instructions
    assert op.params == (0.5,)


def test_missing_input_names_it():
    with pytest.raises(ProgramError, match="missing input 'theta'") as e:
        parse("qubit q;\ninput float theta;\nrx(theta) q;", {"other": 1.0})
    assert (e.value.line, e.value.column) == (2, 13)


def test_output_declaration_is_accepted():
    c = parse("output bit[2] c; qubit[2] q; c = measure q;")
    assert c.bit_count == 2


# ----------------------------------------------------------------------------- declarations of qubits
def test_registers_are_flattened_in_declaration_order():
    src = "qubit[2] a; qubit[3] b; qubit c; x a[1]; x b[0]; x b[2]; x c;"
    assert targets(src) == [(1,), (2,), (4,), (5,)]


def test_old_style_qreg_creg():
    c = parse("OPENQASM 2.0; qreg q[2]; creg c[2]; h q[0]; measure q -> c;")
    assert [type(op).__name__ for op in c.instructions] == ["GateOp", "Measure", "Measure"]


@pytest.mark.parametrize("index, want", [
    ("q[1:3]", [(1,), (2,), (3,)]), ("q[0:2:4]", [(0,), (2,), (4,)]), ("q[{4, 0}]", [(4,), (0,)]),
    ("q[-1]", [(4,)]), ("q[3:]", [(3,), (4,)]), ("q[:1]", [(0,), (1,)]),
])
def test_qubit_slices(index, want):
    assert targets(f"qubit[5] q; x {index};") == want


def test_let_alias_with_concatenation_and_slices():
    src = "qubit[3] a; qubit[2] b; let c = a[1:2] ++ b[0] ++ b; x c; let d = c[1]; h d;"
    assert targets(src) == [(1,), (2,), (3,), (3,), (4,), (2,)]


# ----------------------------------------------------------------------------- control flow
def test_for_over_inclusive_range_with_step():
    assert targets("qubit[8] q; for int i in [0:2:6] { x q[i]; }") == [(0,), (2,), (4,), (6,)]


def test_for_over_descending_range():
    assert targets("qubit[8] q; for int i in [3:-1:1] { x q[i]; }") == [(3,), (2,), (1,)]


def test_for_over_set_and_array():
    src = "qubit[8] q; array[int, 2] a = {5, 1}; for int i in {2, 7} { x q[i]; } for int j in a { h q[j]; }"
    assert targets(src) == [(2,), (7,), (5,), (1,)]


def test_for_over_bit_register():
    src = 'qubit[2] q; bit[3] b = "101"; for bit v in b { if (v) { x q[0]; } else { h q[1]; } }'
    assert [op.name for op in parse(src).instructions] == ["x", "h", "x"]


def test_break_and_continue():
    src = """qubit[10] q;
    for int i in [0:9] { if (i == 1) { continue; } if (i == 4) { break; } x q[i]; }"""
    assert targets(src) == [(0,), (2,), (3,)]


def test_while_loop():
    src = "qubit[5] q; int i = 0; while (i < 5) { x q[i]; i += 2; }"
    assert targets(src) == [(0,), (2,), (4,)]


def test_while_cap():
    with pytest.raises(ProgramError, match=str(MAX_WHILE_ITERATIONS)) as e:
        parse("qubit q;\nint i = 0;\nwhile (true) { i += 1; }")
    assert e.value.line == 3


def test_if_else_on_known_values():
    src = "qubit[2] q; int n = 3; if (n > 2) { x q[0]; } else { x q[1]; } if (n == 0) { h q[0]; } else if (n == 3) { h q[1]; }"
    assert [(op.name, op.targets) for op in parse(src).instructions] == [("x", (0,)), ("h", (1,))]


def test_switch():
    src = "qubit q; int n = 2; switch (n) { case 1 { x q; } case 2, 3 { h q; } default { z q; } }"
    assert [op.name for op in parse(src).instructions] == ["h"]


def test_end_stops_the_program():
    assert [op.name for op in parse("qubit q; x q; end; h q;").instructions] == ["x"]


def test_loop_scope_does_not_leak():
    with pytest.raises(ProgramError, match="'i' is not declared"):
        parse("qubit q; for int i in [0:1] { x q; } rx(i) q;")


# ----------------------------------------------------------------------------- subroutines
def test_subroutine_with_qubit_and_classical_args_and_return():
    src = """
    qubit[3] q;
    def bell(qubit a, qubit b) { h a; cnot a, b; }
    def twice(float x) -> float { return 2 * x; }
    def layer(qubit[2] r, float t) { rx(twice(t)) r; }
    for int i in [0:1] { bell(q[i], q[i + 1]); }
    layer(q[1:2], 0.25);
    """
    c = parse(src)
    assert [(op.name, op.targets, op.controls) for op in c.instructions][:4] == [
        ("h", (0,), ()), ("cnot", (0, 1), ()), ("h", (1,), ()), ("cnot", (1, 2), ())]
    assert [op.params for op in c.instructions[4:]] == [(0.5,), (0.5,)]


def test_subroutine_array_reference_argument():
    src = """qubit q; array[float, 2] a = {0.5, 1.5};
    def total(readonly array[float, #dim=1] v) -> float { return v[0] + v[1]; }
    rx(total(a)) q;"""
    assert parse(src).instructions[0].params == (2.0,)


def test_subroutine_without_return_value_errors():
    with pytest.raises(ProgramError, match="did not return a value"):
        parse("qubit q; def f(int x) -> int { x += 1; } rx(f(1)) q;")


def test_subroutine_cannot_see_global_variables():
    with pytest.raises(ProgramError, match="'g' is a global variable"):
        parse("qubit q; float g = 1; def f() -> float { return g; } rx(f()) q;")


def test_subroutine_sees_global_constants():
    assert parse("qubit q; const float g = 1; def f() -> float { return g; } rx(f()) q;").instructions[0].params == (1,)
