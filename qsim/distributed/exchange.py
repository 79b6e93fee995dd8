"""Every MPI call that moves amplitudes, and the bounded buffer they go through.

Called only by ``qsim.distributed.state``.  Only mpi4py's buffer (uppercase) calls on NumPy views
are used for amplitudes, never pickling.  Sizes (STYLE item 6):

* buffer: ``max(64 MiB, shard/8)`` bytes in all (``QSIM_EXCHANGE_BUFFER_BYTES`` overrides, for
  tests), split into a send half and a receive half, allocated on the first exchange that needs
  it and kept for the run.  No second shard-sized array is ever allocated.
* messages: at most half the buffer and at most ``MAX_MESSAGE_AMPS = 2^28`` amplitudes (the count
  stays far below 2^31 and under the 2^29 that UCX handles, as QuEST found), each with its own tag.

``swap_bits`` is the one exchange used for gates: k global bits trade places with k local bits.
Each rank splits its shard into 2^k groups by the values of the k local bits; group ``v`` goes to
the rank whose block differs from ours in the k global bits by ``v ^ u`` (``u`` = our value of
them), and that rank's group ``u`` comes back into the same slots.  Rounds ``s = 1 .. 2^k-1`` pair
ranks by XOR, so every call is a matched ``Sendrecv``; one group stays put.  Bytes sent per rank:
``(1 - 2^-k) * shard`` (a single swap: half the shard).
"""

from __future__ import annotations

import os
import time

import numpy as np

from qsim.kernels import exchange as KX
from qsim.kernels.indices import index_array

MAX_MESSAGE_AMPS = 1 << 28
MIN_BUFFER_BYTES = 64 << 20


def buffer_bytes_for(shard_bytes: int) -> int:
    env = os.environ.get("QSIM_EXCHANGE_BUFFER_BYTES")
    if env:
        return max(int(env), 32)
    return max(MIN_BUFFER_BYTES, shard_bytes // 8)


class Exchanger:
    """The communication side of one run: buffers and counters, shared by a state and its copies."""

    def __init__(self, comm, dtype, local_qubits: int):
        self.comm = comm
        self.rank = comm.Get_rank()
        self.dtype = np.dtype(dtype)
        self.local_qubits = local_qubits
        shard_bytes = (1 << local_qubits) * self.dtype.itemsize
        self.buffer_bytes = buffer_bytes_for(shard_bytes)
        half = max(self.buffer_bytes // (2 * self.dtype.itemsize), 1)
        self.piece_amps = min(1 << (half.bit_length() - 1), MAX_MESSAGE_AMPS)
        self._send = self._recv = None
        self.exchanges = 0  # collective data exchanges (a batched swap counts once)
        self.swapped_qubits = 0
        self.bytes_sent = 0
        self.messages = 0
        self.relabels = 0  # permutations of global qubits done by renumbering blocks
        self.seconds = 0.0  # wall time inside swap_bits (pack, transfer, unpack)

    # ------------------------------------------------------------------ buffers
    def _buffers(self, amps: int):
        if self._recv is None or self._recv.shape[0] < amps:
            self._send = np.empty(amps, dtype=self.dtype)
            self._recv = np.empty(amps, dtype=self.dtype)
        return self._send, self._recv

    def allocated_bytes(self) -> int:
        return 0 if self._recv is None else 2 * self._recv.nbytes

    # ------------------------------------------------------------------ gate exchange
    def swap_bits(self, array, my_prefix: int, rank_of_prefix, prefix_bits, local_bits) -> None:
        """Trade ``prefix_bits[j]`` with ``local_bits[j]`` for every j (see module docstring)."""
        t0 = time.perf_counter()
        k = len(prefix_bits)
        group = array.shape[0] >> k
        piece = min(self.piece_amps, group)
        fixed = index_array(sorted(local_bits))
        run = min(1 << int(fixed[0]), piece)
        contiguous = (1 << int(fixed[0])) >= group  # each group is one stretch of the array
        u = 0
        for j, b in enumerate(prefix_bits):
            u |= ((my_prefix >> b) & 1) << j
        send, recv = self._buffers(piece)
        tag = 0
        for s in range(1, 1 << k):
            v = u ^ s
            flip = 0
            cval = 0
            for j in range(k):
                if (s >> j) & 1:
                    flip |= 1 << prefix_bits[j]
                if (v >> j) & 1:
                    cval |= 1 << local_bits[j]
            partner = int(rank_of_prefix[my_prefix ^ flip])
            for start in range(0, group, piece):
                if contiguous:
                    lo = cval + start
                    out = array[lo:lo + piece]
                else:
                    KX.pack_group(array, fixed, np.int64(cval), np.int64(start), send[:piece], np.int64(run))
                    out = send[:piece]
                self.comm.Sendrecv(out, partner, tag, recv[:piece], partner, tag)
                KX.unpack_group(array, fixed, np.int64(cval), np.int64(start), recv[:piece], np.int64(run))
                tag += 1
                self.messages += 1
                self.bytes_sent += piece * self.dtype.itemsize
        self.exchanges += 1
        self.swapped_qubits += k
        self.seconds += time.perf_counter() - t0

    # ------------------------------------------------------------------ whole-shard moves
    def permuted_pieces(self, array, source: int, dest: int):
        """Yield ``(start, piece)``: my ``array`` goes to rank ``dest`` while rank ``source``'s comes
        back piece by piece (a permutation of shards; ``source == dest == self`` yields views)."""
        n = array.shape[0]
        piece = min(self.piece_amps, n)
        if source == self.rank:
            for start in range(0, n, piece):
                yield start, array[start:start + piece]
            return
        _, recv = self._buffers(piece)
        from mpi4py import MPI

        for tag, start in enumerate(range(0, n, piece)):
            reqs = [self.comm.Irecv(recv[:piece], source, tag), self.comm.Isend(array[start:start + piece], dest, tag)]
            MPI.Request.Waitall(reqs)
            self.messages += 1
            self.bytes_sent += piece * self.dtype.itemsize
            yield start, recv[:piece]

    def gather_blocks(self, array, block_of_rank, out, root: int = 0) -> None:
        """Copy every rank's ``array`` into ``out[block * len : (block + 1) * len]`` on ``root``
        (``out`` is None elsewhere), in messages of at most ``MAX_MESSAGE_AMPS``."""
        n = array.shape[0]
        piece = min(MAX_MESSAGE_AMPS, n)
        size = self.comm.Get_size()
        if self.rank == root:
            base = int(block_of_rank[root]) * n
            out[base:base + n] = array
            for r in range(size):
                if r == root:
                    continue
                base = int(block_of_rank[r]) * n
                tmp = None if out.dtype == array.dtype else np.empty(piece, dtype=array.dtype)
                for tag, start in enumerate(range(0, n, piece)):
                    if tmp is None:
                        self.comm.Recv(out[base + start:base + start + piece], r, tag)
                    else:
                        self.comm.Recv(tmp, r, tag)
                        out[base + start:base + start + piece] = tmp
        else:
            for tag, start in enumerate(range(0, n, piece)):
                self.comm.Send(array[start:start + piece], root, tag)
                self.messages += 1
                self.bytes_sent += piece * array.dtype.itemsize

    def stats(self) -> dict:
        return {"exchanges": self.exchanges, "swappedQubits": self.swapped_qubits, "bytesSent": self.bytes_sent,
                "messages": self.messages, "relabels": self.relabels, "exchangeBufferBytes": self.buffer_bytes,
                "messageAmplitudesMax": self.piece_amps}
