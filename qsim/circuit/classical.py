"""Classical expressions over measured bits, for feed-forward (``if (b[0] == 1) { x q[1]; }``).

Front ends build these trees; the simulator evaluates them per branch against the bits measured so
far.  Values are Python ints/floats/bools; ``bits`` is the program's classical bit array.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Sequence

_BINARY = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
    ">=": operator.ge, "&&": lambda a, b: bool(a) and bool(b), "||": lambda a, b: bool(a) or bool(b),
    "&": operator.and_, "|": operator.or_, "^": operator.xor, "+": operator.add, "-": operator.sub,
    "*": operator.mul, "<<": operator.lshift, ">>": operator.rshift, "%": operator.mod,
}
_UNARY = {"!": lambda a: not bool(a), "~": lambda a: ~a, "-": operator.neg}


class ClassicalExpr:
    def evaluate(self, bits: Sequence[int]):
        raise NotImplementedError

    def bits_used(self) -> frozenset[int]:
        raise NotImplementedError


@dataclass(frozen=True)
class BitRef(ClassicalExpr):
    index: int

    def evaluate(self, bits):
        return int(bits[self.index])

    def bits_used(self):
        return frozenset([self.index])


@dataclass(frozen=True)
class BitsValue(ClassicalExpr):
    """An unsigned integer read from a bit register: ``indices[0]`` (``c[0]``) is the least
    significant bit, as OpenQASM 3 defines the cast of ``bit[n]`` to ``uint``."""

    indices: tuple[int, ...]

    def evaluate(self, bits):
        value = 0
        for position, index in enumerate(self.indices):
            value |= int(bits[index]) << position
        return value

    def bits_used(self):
        return frozenset(self.indices)


@dataclass(frozen=True)
class Const(ClassicalExpr):
    value: object

    def evaluate(self, bits):
        return self.value

    def bits_used(self):
        return frozenset()


@dataclass(frozen=True)
class Unary(ClassicalExpr):
    op: str
    operand: ClassicalExpr

    def evaluate(self, bits):
        return _UNARY[self.op](self.operand.evaluate(bits))

    def bits_used(self):
        return self.operand.bits_used()


@dataclass(frozen=True)
class Binary(ClassicalExpr):
    op: str
    left: ClassicalExpr
    right: ClassicalExpr

    def evaluate(self, bits):
        return _BINARY[self.op](self.left.evaluate(bits), self.right.evaluate(bits))

    def bits_used(self):
        return self.left.bits_used() | self.right.bits_used()


SUPPORTED_BINARY = frozenset(_BINARY)
SUPPORTED_UNARY = frozenset(_UNARY)
