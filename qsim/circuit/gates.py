"""The built-in gate set: names, arities and exact matrices (Braket's conventions).

Matrices are big-endian: for a gate on qubits ``(a, b, ...)`` the first listed qubit is the most
significant bit of the matrix index, so ``cnot a, b`` has its control on ``a``.  These conventions
match the Braket state-vector simulator, gate for gate (see ``../shared/notes/braket-local-simulator.md``).

Called by: ``qsim.circuit.circuit`` (the Python API) and ``qsim.qasm`` (the OpenQASM front end), which
look gates up here; ``qsim.state`` asks a gate operation for its matrix and kind.
"""

from __future__ import annotations

import cmath
import functools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import numpy as np

from qsim.errors import ValidationError

_SQRT1_2 = 1.0 / math.sqrt(2.0)


def _m(rows) -> np.ndarray:
    return np.array(rows, dtype=np.complex128)


def _diag(*values) -> np.ndarray:
    return np.diag(np.array(values, dtype=np.complex128))


def _rx(t):
    c, s = math.cos(t / 2), math.sin(t / 2)
    return _m([[c, -1j * s], [-1j * s, c]])


def _ry(t):
    c, s = math.cos(t / 2), math.sin(t / 2)
    return _m([[c, -s], [s, c]])


def _rz(t):
    return _diag(cmath.exp(-0.5j * t), cmath.exp(0.5j * t))


def _xy(t):
    c, s = math.cos(t / 2), math.sin(t / 2)
    return _m([[1, 0, 0, 0], [0, c, 1j * s, 0], [0, 1j * s, c, 0], [0, 0, 0, 1]])


def _xx(t):
    c, s = math.cos(t / 2), math.sin(t / 2)
    return _m([[c, 0, 0, -1j * s], [0, c, -1j * s, 0], [0, -1j * s, c, 0], [-1j * s, 0, 0, c]])


def _yy(t):
    c, s = math.cos(t / 2), math.sin(t / 2)
    return _m([[c, 0, 0, 1j * s], [0, c, -1j * s, 0], [0, -1j * s, c, 0], [1j * s, 0, 0, c]])


def _zz(t):
    a, b = cmath.exp(-0.5j * t), cmath.exp(0.5j * t)
    return _diag(a, b, b, a)


def _pswap(t):
    e = cmath.exp(1j * t)
    return _m([[1, 0, 0, 0], [0, 0, e, 0], [0, e, 0, 0], [0, 0, 0, 1]])


def _gpi(p):
    return _m([[0, cmath.exp(-1j * p)], [cmath.exp(1j * p), 0]])


def _gpi2(p):
    return _SQRT1_2 * _m([[1, -1j * cmath.exp(-1j * p)], [-1j * cmath.exp(1j * p), 1]])


def _ms(p0, p1, t=math.pi / 2):
    c, s = math.cos(t / 2), math.sin(t / 2)
    e = cmath.exp
    return _m([
        [c, 0, 0, -1j * s * e(-1j * (p0 + p1))],
        [0, c, -1j * s * e(-1j * (p0 - p1)), 0],
        [0, -1j * s * e(1j * (p0 - p1)), c, 0],
        [-1j * s * e(1j * (p0 + p1)), 0, 0, c],
    ])


def _prx(t, p):
    c, s = math.cos(t / 2), math.sin(t / 2)
    return _m([[c, -1j * s * cmath.exp(-1j * p)], [-1j * s * cmath.exp(1j * p), c]])


def _u(t, p, lam):
    c, s = math.cos(t / 2), math.sin(t / 2)
    return _m([[c, -cmath.exp(1j * lam) * s], [cmath.exp(1j * p) * s, cmath.exp(1j * (p + lam)) * c]])


def _controlled(u: np.ndarray, n_controls: int = 1) -> np.ndarray:
    """Controls first (most significant), all in state 1."""
    dim = u.shape[0] << n_controls
    out = np.eye(dim, dtype=np.complex128)
    out[dim - u.shape[0]:, dim - u.shape[0]:] = u
    return out


_I = _m([[1, 0], [0, 1]])
_X = _m([[0, 1], [1, 0]])
_Y = _m([[0, -1j], [1j, 0]])
_Z = _m([[1, 0], [0, -1]])
_H = _SQRT1_2 * _m([[1, 1], [1, -1]])
_V = 0.5 * _m([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]])
_SWAP = _m([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])


@dataclass(frozen=True)
class GateSpec:
    """One built-in gate: how many qubits and angles it takes, and its matrix for given angles."""

    name: str
    qubits: int
    params: int
    matrix_fn: Callable[..., np.ndarray]
    optional_params: int = 0  # trailing parameters with a default (only ms has one)

    def matrix(self, *params: float) -> np.ndarray:
        return self.matrix_fn(*params)

    def check_arity(self, n_params: int, n_qubits: int, where: str = "") -> None:
        lo, hi = self.params, self.params + self.optional_params
        if not lo <= n_params <= hi:
            want = f"{lo}" if lo == hi else f"{lo} to {hi}"
            raise ValidationError(f"{where}gate '{self.name}' takes {want} parameter(s), got {n_params}")
        if n_qubits != self.qubits:
            raise ValidationError(f"{where}gate '{self.name}' acts on {self.qubits} qubit(s), got {n_qubits}")


def _fixed(mat: np.ndarray):
    mat = mat.copy()
    mat.setflags(write=False)
    return lambda: mat


_SPECS = [
    GateSpec("i", 1, 0, _fixed(_I)),
    GateSpec("h", 1, 0, _fixed(_H)),
    GateSpec("x", 1, 0, _fixed(_X)),
    GateSpec("y", 1, 0, _fixed(_Y)),
    GateSpec("z", 1, 0, _fixed(_Z)),
    GateSpec("s", 1, 0, _fixed(_diag(1, 1j))),
    GateSpec("si", 1, 0, _fixed(_diag(1, -1j))),
    GateSpec("t", 1, 0, _fixed(_diag(1, cmath.exp(0.25j * math.pi)))),
    GateSpec("ti", 1, 0, _fixed(_diag(1, cmath.exp(-0.25j * math.pi)))),
    GateSpec("v", 1, 0, _fixed(_V)),
    GateSpec("vi", 1, 0, _fixed(_V.conj().T)),
    GateSpec("rx", 1, 1, _rx),
    GateSpec("ry", 1, 1, _ry),
    GateSpec("rz", 1, 1, _rz),
    GateSpec("phaseshift", 1, 1, lambda t: _diag(1, cmath.exp(1j * t))),
    GateSpec("gpi", 1, 1, _gpi),
    GateSpec("gpi2", 1, 1, _gpi2),
    GateSpec("prx", 1, 2, _prx),
    GateSpec("U", 1, 3, _u),
    GateSpec("cnot", 2, 0, _fixed(_controlled(_X))),
    GateSpec("cy", 2, 0, _fixed(_controlled(_Y))),
    GateSpec("cz", 2, 0, _fixed(_controlled(_Z))),
    GateSpec("cv", 2, 0, _fixed(_controlled(_V))),
    GateSpec("swap", 2, 0, _fixed(_SWAP)),
    GateSpec("iswap", 2, 0, _fixed(_m([[1, 0, 0, 0], [0, 0, 1j, 0], [0, 1j, 0, 0], [0, 0, 0, 1]]))),
    GateSpec("pswap", 2, 1, _pswap),
    GateSpec("xy", 2, 1, _xy),
    GateSpec("xx", 2, 1, _xx),
    GateSpec("yy", 2, 1, _yy),
    GateSpec("zz", 2, 1, _zz),
    GateSpec("ecr", 2, 0, _fixed(_SQRT1_2 * _m([[0, 0, 1, 1j], [0, 0, 1j, 1], [1, -1j, 0, 0], [-1j, 1, 0, 0]]))),
    GateSpec("cphaseshift", 2, 1, lambda t: _diag(1, 1, 1, cmath.exp(1j * t))),
    GateSpec("cphaseshift00", 2, 1, lambda t: _diag(cmath.exp(1j * t), 1, 1, 1)),
    GateSpec("cphaseshift01", 2, 1, lambda t: _diag(1, cmath.exp(1j * t), 1, 1)),
    GateSpec("cphaseshift10", 2, 1, lambda t: _diag(1, 1, cmath.exp(1j * t), 1)),
    GateSpec("ms", 2, 2, _ms, optional_params=1),
    GateSpec("ccnot", 3, 0, _fixed(_controlled(_X, 2))),
    GateSpec("cswap", 3, 0, _fixed(_controlled(_SWAP, 1))),
    # gphase acts on no qubit: a 1x1 "matrix"; under ctrl@ it becomes a phase on the controls.
    GateSpec("gphase", 0, 1, lambda g: _m([[cmath.exp(1j * g)]])),
]

GATES: dict[str, GateSpec] = {spec.name: spec for spec in _SPECS}

# Spellings the OpenQASM standard library and Braket's SDK also accept for the same matrices.
ALIASES: dict[str, str] = {
    "cx": "cnot", "CX": "cnot", "ccx": "ccnot", "toffoli": "ccnot", "id": "i", "sdg": "si",
    "tdg": "ti", "p": "phaseshift", "cphase": "cphaseshift", "cp": "cphaseshift",
    "fredkin": "cswap", "u": "U", "gphase": "gphase",
}


def lookup(name: str) -> GateSpec | None:
    """The spec of a built-in gate by name or alias, or ``None``."""
    spec = GATES.get(name)
    if spec is None and name in ALIASES:
        spec = GATES.get(ALIASES[name])
    return spec


def _pi_fraction(digits: int) -> Fraction:
    """pi to ``digits`` decimal digits as an exact fraction (Machin's formula in integers)."""
    return _pi_scaled(digits)


@functools.lru_cache(maxsize=8)
def _pi_scaled(digits: int) -> Fraction:
    scale = 10 ** (digits + 10)

    def arctan_inv(x: int) -> int:  # arctan(1/x) * scale
        total, term, k, x2 = 0, scale // x, 1, x * x
        while term:
            total += term // k if (k // 2) % 2 == 0 else -(term // k)
            term //= x2
            k += 2
        return total

    return Fraction(4 * (4 * arctan_inv(5) - arctan_inv(239)), scale)


_PHASE_DENOMINATOR = 64    # eigenphases p/q * pi with q up to this are recognised exactly
_PHASE_SNAP = 1e-13        # ... when within this many radians of it


def exact_exponent(exponent) -> int | Fraction:
    """The exponent as an exact number: an ``int`` when integral (every float above 2**53 is),
    else the float's exact binary fraction.  Refuses what is not a finite real number."""
    if isinstance(exponent, (bool, np.bool_)) or not isinstance(exponent, (int, float, np.integer, np.floating)):
        raise ValidationError(f"a gate power must be a real number, got {exponent!r}")
    if isinstance(exponent, (int, np.integer)):
        return int(exponent)
    exponent = float(exponent)
    if not math.isfinite(exponent):
        raise ValidationError(f"a gate power must be finite, got pow({exponent}): it cannot be represented")
    return int(exponent) if exponent.is_integer() else Fraction(exponent)


def _powered_phase(theta: float, k: int | Fraction) -> float:
    """``k * theta`` reduced into (-pi, pi], exactly enough for any ``k``: a phase that is a small
    rational multiple of pi (those of every fixed gate) is reduced in exact rational arithmetic;
    any other is taken as the exact value of its float and reduced with pi to enough digits."""
    ratio = Fraction(theta / math.pi).limit_denominator(_PHASE_DENOMINATOR)
    if abs(theta - float(ratio) * math.pi) <= _PHASE_SNAP:
        turns = (ratio * k) % 2  # in units of pi, in [0, 2)
        value = float(turns) * math.pi
    else:
        exact = Fraction(theta) * k
        digits = max(len(str(abs(exact.numerator))) - len(str(exact.denominator)), 0) + 30
        two_pi = 2 * _pi_fraction(digits)
        value = float(exact - two_pi * math.floor(exact / two_pi))
    return value - 2 * math.pi if value > math.pi else value


def _nearest_unitary(m: np.ndarray) -> np.ndarray:
    """The unitary factor of ``m``'s polar decomposition (the closest unitary matrix)."""
    w, _, vh = np.linalg.svd(m)
    return w @ vh


def matrix_power(u: np.ndarray, exponent) -> np.ndarray:
    """Principal power ``u**exponent`` of a unitary matrix; the result is unitary for any exponent.

    Small integer exponents are computed by repeated products (inverse = conjugate transpose), which
    keeps exact zeros and ones.  Any other exponent goes through the eigen-decomposition: each
    eigenphase is taken in (-pi, pi], multiplied by the exponent and reduced modulo 2 pi exactly
    enough (``_powered_phase``; so ``pow(10**12) @ x`` is the identity and ``pow(1e300) @ x`` too,
    1e300 being an even integer), and the result is re-unitarised.  A unitary is normal, so its
    eigenvectors can be made orthonormal even for degenerate eigenvalues: they are taken from a
    generic real combination of its Hermitian and anti-Hermitian parts, which commute.

    Raises:
        ValidationError: the exponent is not a finite real number.
    """
    k = exact_exponent(exponent)
    if isinstance(k, int) and abs(k) <= _SMALL_POWER:
        base = u if k >= 0 else u.conj().T
        return np.linalg.matrix_power(base, abs(k))
    rng = np.random.default_rng(12345)
    a, b = rng.uniform(0.5, 1.5, size=2)
    herm = a * (u + u.conj().T) / 2 + b * (u - u.conj().T) / 2j
    _, vecs = np.linalg.eigh(herm)
    eig = np.diag(vecs.conj().T @ u @ vecs)
    phases = np.angle(eig)
    phases = np.where(phases <= -np.pi + 1e-15, np.pi, phases)  # -pi is the same point as +pi
    powered = np.exp(1j * np.array([_powered_phase(float(t), k) for t in phases]))
    return _nearest_unitary((vecs * powered) @ vecs.conj().T)


_SMALL_POWER = 64


def is_unitary(m: np.ndarray, atol: float = 1e-8) -> bool:
    if m.ndim != 2 or m.shape[0] != m.shape[1] or not np.all(np.isfinite(m)):
        return False
    return bool(np.allclose(m @ m.conj().T, np.eye(m.shape[0]), atol=atol))
