"""Free parameters: symbolic angles bound when a circuit is run.

``FreeParameter("theta")`` supports ``+ - * /``, negation and powers with numbers and other
parameters, so ``2 * theta + 0.1`` is a valid gate angle.  Binding evaluates the expression tree.
"""

from __future__ import annotations

import math
import operator
from typing import Mapping

from qsim.errors import ValidationError

_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "**": operator.pow,
        "%": operator.mod}


class ParameterExpression:
    """A node of an angle expression over free parameters."""

    def free_parameters(self) -> frozenset[str]:
        raise NotImplementedError

    def bind(self, values: Mapping[str, float]) -> float:
        raise NotImplementedError

    def value_and_gradient(self, values: Mapping[str, float]) -> tuple[float, dict]:
        """The value and the exact partial derivatives ``{name: d value / d name}`` (forward-mode
        differentiation of the expression tree; only names the expression uses appear)."""
        raise NotImplementedError

    def _wrap(self, other):
        if isinstance(other, ParameterExpression):
            return other
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            return _Const(float(other))
        return NotImplemented

    def _bin(self, op, other, swap=False):
        other = self._wrap(other)
        if other is NotImplemented:
            return NotImplemented
        return _BinOp(op, other, self) if swap else _BinOp(op, self, other)

    def __add__(self, o): return self._bin("+", o)
    def __radd__(self, o): return self._bin("+", o, True)
    def __sub__(self, o): return self._bin("-", o)
    def __rsub__(self, o): return self._bin("-", o, True)
    def __mul__(self, o): return self._bin("*", o)
    def __rmul__(self, o): return self._bin("*", o, True)
    def __truediv__(self, o): return self._bin("/", o)
    def __rtruediv__(self, o): return self._bin("/", o, True)
    def __pow__(self, o): return self._bin("**", o)
    def __mod__(self, o): return self._bin("%", o)
    def __neg__(self): return _BinOp("*", _Const(-1.0), self)
    def __pos__(self): return self


class FreeParameter(ParameterExpression):
    """A named angle, bound at run time from ``inputs={name: value}``."""

    def __init__(self, name: str):
        if not isinstance(name, str) or not name.isidentifier():
            raise ValidationError(f"free parameter name {name!r} is not a valid identifier")
        self.name = name

    def free_parameters(self):
        return frozenset([self.name])

    def bind(self, values):
        if self.name not in values:
            raise ValidationError(f"no value given for free parameter '{self.name}'")
        value = values[self.name]
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValidationError(f"free parameter '{self.name}' must be a real number, got {value!r}") from None
        if not math.isfinite(value):
            raise ValidationError(f"free parameter '{self.name}' must be finite, got {value!r}")
        return value

    def value_and_gradient(self, values):
        return self.bind(values), {self.name: 1.0}

    def __repr__(self):
        return self.name

    def __eq__(self, other):
        return isinstance(other, FreeParameter) and other.name == self.name

    def __hash__(self):
        return hash(("FreeParameter", self.name))


class _Const(ParameterExpression):
    def __init__(self, value: float):
        self.value = value

    def free_parameters(self):
        return frozenset()

    def bind(self, values):
        return self.value

    def value_and_gradient(self, values):
        return self.value, {}

    def __repr__(self):
        return repr(self.value)


class _BinOp(ParameterExpression):
    def __init__(self, op: str, left: ParameterExpression, right: ParameterExpression):
        self.op, self.left, self.right = op, left, right

    def free_parameters(self):
        return self.left.free_parameters() | self.right.free_parameters()

    def bind(self, values):
        return float(_OPS[self.op](self.left.bind(values), self.right.bind(values)))

    def value_and_gradient(self, values):
        a, da = self.left.value_and_gradient(values)
        b, db = self.right.value_and_gradient(values)
        value = float(_OPS[self.op](a, b))
        op = self.op
        if op in ("+", "-", "%"):  # d(a % c)/da = 1 where it is differentiable
            sign = -1.0 if op == "-" else 1.0
            if op == "%" and db:
                raise ValidationError(f"cannot differentiate {self!r}: the modulus depends on a parameter")
            return value, _combine(da, 1.0, db, sign)
        if op == "*":
            return value, _combine(da, b, db, a)
        if op == "/":
            return value, _combine(da, 1.0 / b, db, -a / (b * b))
        # a ** b = exp(b ln a): d = b a^(b-1) da + a^b ln(a) db
        left = b * a ** (b - 1) if da else 0.0
        right = value * math.log(a) if db else 0.0
        return value, _combine(da, left, db, right)

    def __repr__(self):
        return f"({self.left!r} {self.op} {self.right!r})"


def _combine(da: dict, ca: float, db: dict, cb: float) -> dict:
    out = {k: ca * v for k, v in da.items()}
    for k, v in db.items():
        out[k] = out.get(k, 0.0) + cb * v
    return out


def bind_value(value, values: Mapping[str, float]) -> float:
    """A gate angle as a float: numbers pass through, expressions are evaluated."""
    if isinstance(value, ParameterExpression):
        return value.bind(values)
    return float(value)
