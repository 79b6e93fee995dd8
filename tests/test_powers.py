"""Powers of gates stay unitary for any exponent (issue 10, item 12), checked against hand-derived
values: x**even = I, x**odd = x, x**0.5 = sqrt(x) principal (= v), rx(t)**k = rx(k t) mod 4 pi, and
huge exponents (10**12, 1e300, 10**30 + 1) that once returned unnormalised states."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qsim.circuit.gates import lookup, matrix_power
from qsim.errors import ProgramError, ValidationError
from qsim.qasm import parse

X = np.array([[0, 1], [1, 0]], dtype=complex)
I2 = np.eye(2, dtype=complex)
SQRT_X = 0.5 * np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]])  # principal: eigenphases 0 and pi/2


def rx(t):
    return np.array([[math.cos(t / 2), -1j * math.sin(t / 2)], [-1j * math.sin(t / 2), math.cos(t / 2)]])


def unitarity_error(m):
    return np.abs(m @ m.conj().T - np.eye(m.shape[0])).max()


@pytest.mark.parametrize("k, expected", [
    (10 ** 12, I2), (10 ** 12 + 1, X), (1e300, I2), (10 ** 30 + 1, X), (-(10 ** 15) - 1, X), (2 ** 200, I2),
    (0.5, SQRT_X), (2.5, SQRT_X), (-0.5, SQRT_X.conj().T), (1e12 + 0.5, SQRT_X), (65, X), (64, I2), (3, X),
])
def test_powers_of_x_hand_derived(k, expected):
    m = matrix_power(X, k)
    np.testing.assert_allclose(m, expected, atol=1e-12)
    assert unitarity_error(m) < 1e-14


def test_powers_of_fixed_gates_with_rational_eigenphases():
    """t has eigenphases 0, pi/4: t**(8j + r) = t**r exactly, for any j; s**(4j+1) = s; h**odd = h."""
    t, s, h = (lookup(n).matrix() for n in ("t", "s", "h"))
    for j in (1, 10 ** 9, 10 ** 40):
        np.testing.assert_allclose(matrix_power(t, 8 * j + 3), np.linalg.matrix_power(t, 3), atol=1e-12)
        np.testing.assert_allclose(matrix_power(s, 4 * j + 1), s, atol=1e-12)
        np.testing.assert_allclose(matrix_power(h, 2 * j + 1), h, atol=1e-12)
        cnot = lookup("cnot").matrix()
        np.testing.assert_allclose(matrix_power(cnot, 2 * j), np.eye(4), atol=1e-12)


def test_integer_power_of_a_rotation_is_the_rotation_by_the_multiple():
    """rx(t)**k = rx(k t); with t = pi/2 the eigenphases are rational and the reduction is exact."""
    for k in (10 ** 12, 10 ** 12 + 1, 10 ** 12 + 3):
        np.testing.assert_allclose(matrix_power(rx(math.pi / 2), k), rx((k % 8) * math.pi / 2), atol=1e-12)
    # an irrational phase: k*t reduced with pi to enough digits; exact to the float's own rounding
    k = 10 ** 6 + 7
    np.testing.assert_allclose(matrix_power(rx(0.3), k), rx(math.fmod(0.3 * k, 4 * math.pi)), atol=1e-8)
    huge = matrix_power(rx(0.3), 10 ** 300)
    assert unitarity_error(huge) < 1e-14


def test_random_unitary_powers_stay_unitary():
    rng = np.random.default_rng(5)
    for _ in range(5):
        q, r = np.linalg.qr(rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4)))
        u = q * (np.diag(r) / abs(np.diag(r)))
        for k in (10 ** 12, 1e300, 0.37, -7.5, 10 ** 50 + 1):
            assert unitarity_error(matrix_power(u, k)) < 1e-13
        np.testing.assert_allclose(matrix_power(u, 0.5) @ matrix_power(u, 0.5), u, atol=1e-12)


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, "2", None, 1j])
def test_unrepresentable_exponents_are_refused(bad):
    with pytest.raises(ValidationError):
        matrix_power(X, bad)


def _probabilities(program):
    import qsim

    result = qsim.device("local:qsim/statevector").run(parse(program), shots=0).result()
    return np.asarray(result.values[0])


@pytest.mark.parametrize("power, expected", [
    ("10^12", [1, 0]),  # `^` is xor in OpenQASM: 10 xor 12 = 6, even
    ("10**12", [1, 0]), ("10**12 + 1", [0, 1]), ("1e300", [1, 0]), ("10**30 + 1", [0, 1]), ("0.5", [0.5, 0.5]),
])
def test_pow_modifier_in_a_program(power, expected):
    probs = _probabilities(f"OPENQASM 3.0;\nqubit q;\npow({power}) @ x q;\n#pragma braket result probability\n")
    np.testing.assert_allclose(probs, expected, atol=1e-12)
    assert probs.sum() == pytest.approx(1.0, abs=1e-14)


def test_pow_of_a_custom_gate_with_a_huge_exponent():
    probs = _probabilities("OPENQASM 3.0;\ngate myx a { x a; }\nqubit q;\npow(10**12 + 1) @ myx q;\n"
                           "#pragma braket result probability\n")
    np.testing.assert_allclose(probs, [0, 1], atol=1e-12)


def test_infinite_pow_is_a_program_error():
    with pytest.raises(ProgramError, match=r"line 3.*pow\(\) exponent must be a finite real number"):
        parse("OPENQASM 3.0;\nqubit q;\npow(1e400) @ x q;\n")


def test_python_api_power_keeps_integers_exact():
    import qsim

    c = qsim.Circuit().x(0, power=10 ** 30 + 1)
    c.probability()
    np.testing.assert_allclose(qsim.device("local:qsim/statevector").run(c).result().values[0], [0, 1], atol=1e-12)
    with pytest.raises(ValidationError, match="must be finite"):
        qsim.Circuit().x(0, power=math.inf)
