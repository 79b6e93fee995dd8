"""Free parameters: symbolic angles bound when a circuit is run.

``FreeParameter("theta")`` supports ``+ - * /``, negation and powers with numbers and other
parameters, so ``2 * theta + 0.1`` is a valid gate angle.  Binding evaluates the expression tree.
"""

from __future__ import annotations

import math
import operator
from typing import Mapping

from qsim.errors import ValidationError

_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "**": operator.pow}


class ParameterExpression:
    """A node of an angle expression over free parameters."""

    def free_parameters(self) -> frozenset[str]:
        raise NotImplementedError

    def bind(self, values: Mapping[str, float]) -> float:
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

    def __repr__(self):
        return repr(self.value)


class _BinOp(ParameterExpression):
    def __init__(self, op: str, left: ParameterExpression, right: ParameterExpression):
        self.op, self.left, self.right = op, left, right

    def free_parameters(self):
        return self.left.free_parameters() | self.right.free_parameters()

    def bind(self, values):
        return float(_OPS[self.op](self.left.bind(values), self.right.bind(values)))

    def __repr__(self):
        return f"({self.left!r} {self.op} {self.right!r})"


def bind_value(value, values: Mapping[str, float]) -> float:
    """A gate angle as a float: numbers pass through, expressions are evaluated."""
    if isinstance(value, ParameterExpression):
        return value.bind(values)
    return float(value)
