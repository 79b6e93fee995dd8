"""The arithmetic of sampling, shared by the single-process and the distributed state so that both
draw the same shots for the same seed, for any rank count.

A state of 2^n amplitudes is cut into ``chunk_count(2^n)`` equal contiguous chunks; their masses,
summed left to right (``cdf_starts``), place ``sorted_draws`` (uniforms scaled by the total) in
chunks; ``qsim.kernels.measure.sample_sorted`` then inverts the CDF inside each chunk.
"""

from __future__ import annotations

import numpy as np

MIN_CHUNK_AMPLITUDES_LOG2 = 12
MAX_CHUNKS = 4096


def chunk_count(amplitudes: int) -> int:
    return int(min(max(1, amplitudes >> MIN_CHUNK_AMPLITUDES_LOG2), MAX_CHUNKS))


def sorted_draws(rng: np.random.Generator, shots: int) -> np.ndarray:
    return np.sort(rng.random(shots))


def cdf_starts(weights: np.ndarray) -> tuple[np.ndarray, float]:
    """Starting mass of each chunk and the total, from one running sum (so that no scaled draw
    can land past the last chunk with mass)."""
    ends = np.cumsum(weights)
    return np.concatenate(([0.0], ends[:-1])), float(ends[-1])
