"""Observables: tensor products of x, y, z, h, i and Hermitian factors.

An observable knows its factors and, for each factor, its eigenvalues and the gates that rotate its
eigenbasis onto the computational basis (used when results are sampled).  ``X() @ Z()`` builds a
tensor product, as in Braket's SDK.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qsim.errors import ValidationError

_SQ = 1.0 / math.sqrt(2.0)
_PAULI = {
    "i": np.eye(2, dtype=np.complex128),
    "x": np.array([[0, 1], [1, 0]], dtype=np.complex128),
    "y": np.array([[0, -1j], [1j, 0]], dtype=np.complex128),
    "z": np.array([[1, 0], [0, -1]], dtype=np.complex128),
    "h": _SQ * np.array([[1, 1], [1, -1]], dtype=np.complex128),
}


@dataclass(frozen=True, eq=False)
class Factor:
    """One factor of a tensor product: a named 1-qubit observable or a Hermitian matrix."""

    name: str  # 'x', 'y', 'z', 'h', 'i' or 'hermitian'
    matrix: np.ndarray

    @property
    def qubit_count(self) -> int:
        return int(round(math.log2(self.matrix.shape[0])))

    def eigh(self) -> tuple[np.ndarray, np.ndarray]:
        """Eigenvalues (ascending for hermitian, Braket's +1/-1 order for Paulis) and the unitary
        ``D`` with ``D @ M @ D^H`` diagonal, in the order of the returned eigenvalues."""
        if self.name in ("z", "i"):
            eig = np.array([1.0, -1.0]) if self.name == "z" else np.array([1.0, 1.0])
            return eig, np.eye(2, dtype=np.complex128)
        if self.name == "x":  # H diagonalises X
            return np.array([1.0, -1.0]), _PAULI["h"].copy()
        if self.name == "y":  # H S^dagger diagonalises Y
            return np.array([1.0, -1.0]), _PAULI["h"] @ np.diag([1, -1j]).astype(np.complex128)
        if self.name == "h":  # Ry(-pi/4) diagonalises H
            c, s = math.cos(-math.pi / 8), math.sin(-math.pi / 8)
            return np.array([1.0, -1.0]), np.array([[c, -s], [s, c]], dtype=np.complex128)
        vals, vecs = np.linalg.eigh(self.matrix)
        return vals, vecs.conj().T

    def to_json(self):
        if self.name != "hermitian":
            return self.name
        return [[[float(v.real), float(v.imag)] for v in row] for row in self.matrix]

    def __eq__(self, other):
        return isinstance(other, Factor) and self.name == other.name and np.array_equal(self.matrix, other.matrix)

    def __hash__(self):
        return hash(self.name)


class Observable:
    """A tensor product of factors; ``len(self.factors)`` may be 1."""

    def __init__(self, factors: tuple[Factor, ...]):
        self.factors = tuple(factors)

    @property
    def qubit_count(self) -> int:
        return sum(f.qubit_count for f in self.factors)

    def __matmul__(self, other: "Observable") -> "Observable":
        if not isinstance(other, Observable):
            return NotImplemented
        return Observable(self.factors + other.factors)

    def matrix(self) -> np.ndarray:
        out = np.ones((1, 1), dtype=np.complex128)
        for f in self.factors:
            out = np.kron(out, f.matrix)
        return out

    def to_json(self):
        return [f.to_json() for f in self.factors]

    def __eq__(self, other):
        return isinstance(other, Observable) and self.factors == other.factors

    def __hash__(self):
        return hash(self.factors)

    def __repr__(self):
        return " @ ".join(f.name.upper() if f.name != "hermitian" else f"Hermitian({f.qubit_count}q)"
                          for f in self.factors)


def named(name: str) -> Observable:
    try:
        return Observable((Factor(name, _PAULI[name]),))
    except KeyError:
        raise ValidationError(f"unknown observable '{name}'; known: x, y, z, h, i, hermitian") from None


def Hermitian(matrix, where: str = "") -> Observable:
    m = np.asarray(matrix, dtype=np.complex128)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 2 or m.shape[0] & (m.shape[0] - 1):
        raise ValidationError(f"{where}hermitian observable must be a square matrix of size 2^k (k >= 1), "
                              f"got shape {m.shape}")
    if not np.allclose(m, m.conj().T, atol=1e-8):
        raise ValidationError(f"{where}hermitian observable matrix is not Hermitian: {m.tolist()}")
    return Observable((Factor("hermitian", m),))


def X() -> Observable: return named("x")
def Y() -> Observable: return named("y")
def Z() -> Observable: return named("z")
def H() -> Observable: return named("h")
def I() -> Observable: return named("i")  # noqa: E743
