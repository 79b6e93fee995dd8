"""Where each qubit of the program lives: a local bit of the shard, or a bit of the rank's prefix.

Pure bookkeeping, no MPI and no arrays of amplitudes; every rank holds an identical ``Layout`` and
updates it identically, which is what keeps the ranks in step without messages.

*Physical* index of an amplitude = ``prefix << L | local``: ``local`` is its index in the rank's
shard (``L`` local bits), ``prefix`` the ``g``-bit number of the block the rank holds.  Physical bit
``p < L`` is local bit ``p``; physical bit ``p >= L`` is prefix bit ``p - L``.

* ``pos[q]``: physical bit of program qubit ``q``; initially ``n - 1 - q`` (big-endian, qubit 0
  on the top prefix bit), so physical index = program basis index.  Swapping a global qubit with a
  local one (an exchange) or two qubits (a ``swap`` gate: no data moves) changes ``pos``.
* ``prefix_of_rank[r]``: the block rank ``r`` holds; initially ``r``.  A permutation gate that acts
  only on global qubits (x, cnot, ccnot, swap of prefix bits, y with its phases) renumbers blocks
  instead of moving them.
"""

from __future__ import annotations

import numpy as np


class Layout:
    def __init__(self, n_qubits: int, global_qubits: int):
        self.n = n_qubits
        self.g = global_qubits
        self.L = n_qubits - global_qubits
        self.pos = [n_qubits - 1 - q for q in range(n_qubits)]
        self.qubit_at = [n_qubits - 1 - p for p in range(n_qubits)]
        self.prefix_of_rank = np.arange(1 << global_qubits, dtype=np.int64)
        self.rank_of_prefix = np.arange(1 << global_qubits, dtype=np.int64)

    def copy(self) -> "Layout":
        out = Layout.__new__(Layout)
        out.n, out.g, out.L = self.n, self.g, self.L
        out.pos = list(self.pos)
        out.qubit_at = list(self.qubit_at)
        out.prefix_of_rank = self.prefix_of_rank.copy()
        out.rank_of_prefix = self.rank_of_prefix.copy()
        return out

    # ------------------------------------------------------------------ queries
    def is_global(self, q: int) -> bool:
        return self.pos[q] >= self.L

    def local_bit(self, q: int) -> int:
        return self.pos[q]

    def prefix_bit(self, q: int) -> int:
        return self.pos[q] - self.L

    def is_identity(self) -> bool:
        return all(p == self.n - 1 - q for q, p in enumerate(self.pos))

    def physical_index(self, logical: int) -> int:
        """Physical index of program basis index ``logical`` (qubit 0 = most significant bit)."""
        out = 0
        for q in range(self.n):
            if (logical >> (self.n - 1 - q)) & 1:
                out |= 1 << self.pos[q]
        return out

    def same_as(self, other: "Layout") -> bool:
        return self.pos == other.pos and np.array_equal(self.prefix_of_rank, other.prefix_of_rank)

    # ------------------------------------------------------------------ updates (no data moves)
    def swap_qubits(self, a: int, b: int) -> None:
        """Exchange the physical bits of qubits ``a`` and ``b``."""
        pa, pb = self.pos[a], self.pos[b]
        self.pos[a], self.pos[b] = pb, pa
        self.qubit_at[pa], self.qubit_at[pb] = b, a

    def renumber_blocks(self, new_prefix_of_rank: np.ndarray) -> None:
        self.prefix_of_rank = np.asarray(new_prefix_of_rank, dtype=np.int64)
        self.rank_of_prefix = np.empty_like(self.prefix_of_rank)
        self.rank_of_prefix[self.prefix_of_rank] = np.arange(len(self.prefix_of_rank))

    def swap_prefix_bits(self, a: int, b: int) -> None:
        """Relabel: the qubits on prefix bits ``a`` and ``b`` trade places, every block is renumbered."""
        p = self.prefix_of_rank
        differ = ((p >> a) ^ (p >> b)) & 1
        self.renumber_blocks(p ^ (differ * ((1 << a) | (1 << b))))
        self.swap_qubits(self.qubit_at[self.L + a], self.qubit_at[self.L + b])
