"""Classical values of the OpenQASM interpreter: types, casts, operators and built-in functions.

Called by: ``qsim.qasm.interpreter``.

Values are plain Python objects: ``int``, ``float``, ``bool``, ``complex``, ``Bit`` (an ``int`` whose
``~`` is a one-bit NOT), ``BitReg`` (the cells of a ``bit[n]``, ``cells[0]`` = ``c[0]`` = least
significant bit of its integer value) and nested ``list`` for arrays.  A value that depends on a
mid-circuit measurement is a ``qsim.circuit.classical.ClassicalExpr``; only the operators the circuit
layer can evaluate per branch are allowed on those.  Every failure raises ``QasmValueError`` with a
message naming the values; the interpreter adds the source location.
"""

from __future__ import annotations

import cmath
import math
import operator

from qsim.circuit.classical import (SUPPORTED_BINARY, SUPPORTED_UNARY, Binary, BitRef, BitsValue, ClassicalExpr,
                                    Const, Unary)

TAU = 2.0 * math.pi
CONSTANTS = {"pi": math.pi, "π": math.pi, "tau": TAU, "τ": TAU, "euler": math.e, "ℇ": math.e}


class QasmValueError(Exception):
    """A classical operation the program asked for is invalid; the message names the values."""


class Bit(int):
    """One classical bit (0 or 1); ``~b`` flips it instead of giving -1/-2."""

    def __new__(cls, value):
        return super().__new__(cls, 1 if value else 0)

    def __invert__(self):
        return Bit(not self)

    def __repr__(self):
        return f"Bit({int(self)})"


class BitReg:
    """The value of a ``bit[n]``: a list of cells, each a ``Bit`` or a symbolic ``ClassicalExpr``."""

    __slots__ = ("cells",)

    def __init__(self, cells):
        self.cells = list(cells)

    def __len__(self):
        return len(self.cells)

    @property
    def symbolic(self) -> bool:
        return any(isinstance(c, ClassicalExpr) for c in self.cells)

    def as_uint(self):
        """Integer value (``cells[0]`` least significant); symbolic if any cell is."""
        if not self.symbolic:
            return sum(int(c) << i for i, c in enumerate(self.cells))
        if all(isinstance(c, BitRef) for c in self.cells):
            return BitsValue(tuple(c.index for c in self.cells))
        expr = None
        for i, c in enumerate(self.cells):
            term = _wrap(c) if i == 0 else Binary("<<", _wrap(c), Const(i))
            expr = term if expr is None else Binary("|", expr, term)
        return expr

    def __repr__(self):
        return "BitReg(" + "".join(str(int(c)) if not isinstance(c, ClassicalExpr) else "?"
                                   for c in reversed(self.cells)) + ")"


def bits_of_int(value: int, width: int) -> list:
    return [Bit((value >> i) & 1) for i in range(width)]


def is_symbolic(v) -> bool:
    return isinstance(v, ClassicalExpr) or (isinstance(v, BitReg) and v.symbolic)


def _wrap(v) -> ClassicalExpr:
    if isinstance(v, ClassicalExpr):
        return v
    if isinstance(v, BitReg):
        u = v.as_uint()
        return u if isinstance(u, ClassicalExpr) else Const(u)
    if isinstance(v, Bit):
        return Const(int(v))
    return Const(v)


def scalar(v):
    """A register used in arithmetic is its unsigned value."""
    if isinstance(v, BitReg):
        return v.as_uint()
    return v


def describe(v) -> str:
    if isinstance(v, ClassicalExpr):
        return "a measurement-dependent value"
    if isinstance(v, list):
        return f"array {v!r}"
    return repr(v)


# ---------------------------------------------------------------------------------------- operators
def _div(a, b):
    if b == 0:
        raise QasmValueError(f"division by zero in {describe(a)} / {describe(b)}")
    if isinstance(a, int) and isinstance(b, int) and not isinstance(a, bool) and not isinstance(b, bool):
        # int / int stays an int when exact; otherwise it is a real number (so ``pow(1/2) @`` means 0.5).
        return a // b if a % b == 0 else a / b
    return a / b


def _mod(a, b):
    if b == 0:
        raise QasmValueError(f"modulo by zero in {describe(a)} % {describe(b)}")
    return a % b


def _shift(op):
    def f(a, b):
        if not isinstance(a, int) or not isinstance(b, int):
            raise QasmValueError(f"shift needs integers, got {describe(a)} and {describe(b)}")
        if b < 0:
            raise QasmValueError(f"negative shift count {b}")
        return op(a, b)
    return f


def _int_op(op, sym):
    def f(a, b):
        if not isinstance(a, int) or not isinstance(b, int):
            raise QasmValueError(f"'{sym}' needs integers or bits, got {describe(a)} and {describe(b)}")
        r = op(a, b)
        return Bit(r) if isinstance(a, Bit) and isinstance(b, Bit) else r
    return f


def _pow(a, b):
    try:
        r = a ** b
    except ZeroDivisionError:
        raise QasmValueError(f"{describe(a)} ** {describe(b)} divides by zero") from None
    except OverflowError:
        raise QasmValueError(f"{describe(a)} ** {describe(b)} overflows") from None
    return r


BINARY = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": _div, "%": _mod, "**": _pow,
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "&&": lambda a, b: bool(a) and bool(b), "||": lambda a, b: bool(a) or bool(b),
    "&": _int_op(operator.and_, "&"), "|": _int_op(operator.or_, "|"), "^": _int_op(operator.xor, "^"),
    "<<": _shift(operator.lshift), ">>": _shift(operator.rshift),
}


def binary(op: str, a, b):
    """``a op b``; symbolic (measurement-dependent) operands give a ``ClassicalExpr``."""
    if isinstance(a, BitReg) and isinstance(b, BitReg) and op in ("&", "|", "^") and not (a.symbolic or b.symbolic):
        if len(a) != len(b):
            raise QasmValueError(f"'{op}' of bit registers of different sizes {len(a)} and {len(b)}")
        f = BINARY[op]
        return BitReg([f(x, y) for x, y in zip(a.cells, b.cells)])
    a, b = scalar(a), scalar(b)
    if isinstance(a, ClassicalExpr) or isinstance(b, ClassicalExpr):
        if op not in SUPPORTED_BINARY:
            raise QasmValueError(f"operator '{op}' is not supported with measurement-dependent values")
        return Binary(op, _wrap(a), _wrap(b))
    if isinstance(a, list) or isinstance(b, list):
        raise QasmValueError(f"operator '{op}' cannot be applied to an array ({describe(a)}, {describe(b)})")
    try:
        r = BINARY[op](a, b)
    except TypeError:
        raise QasmValueError(f"operator '{op}' cannot be applied to {describe(a)} and {describe(b)}") from None
    if isinstance(r, float) and not math.isfinite(r) and math.isfinite(a) and math.isfinite(b):
        raise QasmValueError(f"{describe(a)} {op} {describe(b)} is not finite")
    return r


def unary(op: str, a):
    if op == "~" and isinstance(a, BitReg) and not a.symbolic:
        return BitReg([Bit(not c) for c in a.cells])
    if op == "~" and isinstance(a, BitReg):
        return Binary("^", _wrap(a), Const((1 << len(a)) - 1))
    a = scalar(a)
    if isinstance(a, ClassicalExpr):
        if op == "~" and isinstance(a, BitRef):
            return Binary("^", a, Const(1))
        if op not in SUPPORTED_UNARY:
            raise QasmValueError(f"operator '{op}' is not supported with measurement-dependent values")
        return Unary(op, a)
    if op == "!":
        return not a
    if op == "-":
        if isinstance(a, (bool, list)):
            raise QasmValueError(f"cannot negate {describe(a)}")
        return -a
    if not isinstance(a, int) or isinstance(a, bool):
        raise QasmValueError(f"'~' needs an integer or bits, got {describe(a)}")
    return ~a


# ---------------------------------------------------------------------------------------- functions
def _real(x):
    if isinstance(x, complex):
        raise QasmValueError(f"expected a real number, got {x!r}")
    if not isinstance(x, (int, float)):
        raise QasmValueError(f"expected a number, got {describe(x)}")
    return x


def _math1(real_fn, complex_fn=None, domain=None):
    def f(x):
        if isinstance(x, complex):
            if complex_fn is None:
                raise QasmValueError(f"expected a real number, got {x!r}")
            return complex_fn(x)
        x = _real(x)
        if domain is not None and not domain(x):
            if complex_fn is not None:
                return complex_fn(x)
            raise QasmValueError(f"{x!r} is outside the function's domain")
        try:
            return real_fn(x)
        except (ValueError, OverflowError):
            raise QasmValueError(f"{x!r} is outside the function's domain") from None
    return f


def _popcount(x):
    if isinstance(x, BitReg):
        return sum(int(c) for c in x.cells)
    if isinstance(x, int) and x >= 0:
        return bin(x).count("1")
    raise QasmValueError(f"popcount needs bits or a non-negative integer, got {describe(x)}")


def _rot(direction):
    def f(x, k):
        if not isinstance(x, BitReg) or not isinstance(k, int):
            raise QasmValueError(f"rot{'l' if direction > 0 else 'r'} needs a bit register and an integer "
                                 f"count, got {describe(x)} and {describe(k)}")
        n = len(x)
        if n == 0:
            return BitReg([])
        # rotl moves bits toward the most significant end; cells[0] is the least significant bit.
        k = (k * direction) % n
        return BitReg(x.cells[n - k:] + x.cells[:n - k])
    return f


def _mod_fn(a, b):
    a, b = _real(a), _real(b)
    if b == 0:
        raise QasmValueError(f"mod({a!r}, 0) divides by zero")
    if isinstance(a, int) and isinstance(b, int):
        return a % b
    return math.fmod(a, b)


def _floor(x):
    return math.floor(_real(x))


def _ceil(x):
    return math.ceil(_real(x))


FUNCTIONS = {
    "sin": (1, _math1(math.sin, cmath.sin)),
    "cos": (1, _math1(math.cos, cmath.cos)),
    "tan": (1, _math1(math.tan, cmath.tan)),
    "arcsin": (1, _math1(math.asin, None, lambda x: -1 <= x <= 1)),
    "arccos": (1, _math1(math.acos, None, lambda x: -1 <= x <= 1)),
    "arctan": (1, _math1(math.atan)),
    "exp": (1, _math1(math.exp, cmath.exp)),
    "log": (1, _math1(math.log, None, lambda x: x > 0)),
    "sqrt": (1, _math1(math.sqrt, cmath.sqrt, lambda x: x >= 0)),
    "ceiling": (1, _ceil),
    "floor": (1, _floor),
    "mod": (2, _mod_fn),
    "popcount": (1, _popcount),
    "pow": (2, lambda a, b: _pow(a, b)),
    "rotl": (2, _rot(+1)),
    "rotr": (2, _rot(-1)),
    "real": (1, lambda z: complex(z).real if isinstance(z, (int, float, complex)) else _real(z)),
    "imag": (1, lambda z: complex(z).imag if isinstance(z, (int, float, complex)) else _real(z)),
}


# ---------------------------------------------------------------------------------------- types
class QType:
    """A classical type: kind in int, uint, float, angle, bool, bit, complex, array."""

    __slots__ = ("kind", "width", "base", "dims")

    def __init__(self, kind: str, width: int | None = None, base: "QType | None" = None, dims=()):
        self.kind, self.width, self.base, self.dims = kind, width, base, tuple(dims)

    def __repr__(self):
        if self.kind == "array":
            return f"array[{self.base!r}, {', '.join(map(str, self.dims))}]"
        return self.kind + (f"[{self.width}]" if self.width is not None else "")

    @property
    def is_bits(self) -> bool:
        return self.kind == "bit" and self.width is not None


def default_value(t: QType):
    if t.kind == "bit":
        return BitReg([Bit(0)] * t.width) if t.width is not None else Bit(0)
    if t.kind == "array":
        return _nested(t.dims, lambda: default_value(t.base))
    return {"int": 0, "uint": 0, "float": 0.0, "angle": 0.0, "bool": False, "complex": 0j}[t.kind]


def _nested(dims, make):
    if len(dims) == 1:
        return [make() for _ in range(dims[0])]
    return [_nested(dims[1:], make) for _ in range(dims[0])]


def cast(value, t: QType):
    """``value`` converted to type ``t`` as an OpenQASM assignment or cast would."""
    if is_symbolic(value):
        if t.kind in ("int", "uint", "bool") and t.width is None:
            return scalar(value)
        if t.kind == "bit" and t.width is None:
            v = scalar(value)
            return v if isinstance(v, BitRef) else Binary("!=", _wrap(v), Const(0))
        if t.kind == "bit" and isinstance(value, BitReg) and len(value) == t.width:
            return BitReg(value.cells)
        raise QasmValueError(f"a measurement-dependent value cannot be converted to {t!r} here")
    k = t.kind
    if k == "array":
        if not isinstance(value, list) or len(value) != t.dims[0]:
            raise QasmValueError(f"{describe(value)} does not fit {t!r}")
        sub = QType("array", base=t.base, dims=t.dims[1:]) if len(t.dims) > 1 else t.base
        return [cast(v, sub) for v in value]
    if isinstance(value, list):
        raise QasmValueError(f"cannot convert {describe(value)} to {t!r}")
    if k == "bit":
        if t.width is None:
            if isinstance(value, BitReg):
                if len(value) != 1:
                    raise QasmValueError(f"cannot convert a bit[{len(value)}] to a single bit")
                return Bit(value.cells[0])
            if isinstance(value, complex):
                raise QasmValueError(f"cannot convert {value!r} to bit")
            return Bit(value)
        if isinstance(value, BitReg):
            if len(value) != t.width:
                raise QasmValueError(f"cannot assign a bit[{len(value)}] to a bit[{t.width}]")
            return BitReg(value.cells)
        if isinstance(value, bool) or (isinstance(value, int)):
            return BitReg(bits_of_int(int(value), t.width))
        raise QasmValueError(f"cannot convert {describe(value)} to {t!r}")
    value = scalar(value)
    if isinstance(value, complex) and k != "complex":
        raise QasmValueError(f"cannot convert the complex value {value!r} to {t!r}")
    if k == "bool":
        return bool(value)
    if k == "complex":
        return complex(value)
    if k == "float":
        return float(value)
    if k == "angle":
        return float(value) % TAU
    if k in ("int", "uint"):
        if isinstance(value, float):
            if not math.isfinite(value):
                raise QasmValueError(f"cannot convert {value!r} to {t!r}")
            value = int(value)  # truncation toward zero, as C casts do
        value = int(value)
        if t.width is not None:
            mask = (1 << t.width) - 1
            value &= mask
            if k == "int" and value >> (t.width - 1):
                value -= 1 << t.width
        elif k == "uint" and value < 0:
            raise QasmValueError(f"cannot store the negative value {value} in a uint")
        return value
    raise QasmValueError(f"unknown type {t!r}")  # pragma: no cover - every kind is handled above
