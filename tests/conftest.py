"""Shared fixtures for qsim's single-process tests (generic: the MPI and jobs suites under
``tests/distributed`` and ``tests/jobs`` have their own conftests; nothing here imports MPI)."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

# ``import oracle`` from any test module, whatever pytest's import mode.
sys.path.insert(0, os.path.dirname(__file__))

from oracle import random_state, random_unitary  # noqa: E402


@pytest.fixture
def rng(request):
    """A generator seeded from the test's node id: deterministic, different per test."""
    seed = sum(ord(c) * (i + 1) for i, c in enumerate(request.node.nodeid)) % (2**32)
    return np.random.default_rng(seed)


@pytest.fixture
def make_random_state(rng):
    """``make_random_state(n)``: a normalised random complex128 state on n qubits."""
    return lambda n: random_state(n, rng)


@pytest.fixture
def make_random_unitary(rng):
    return lambda k: random_unitary(k, rng)


@pytest.fixture(params=["double", "single"])
def precision(request):
    return request.param

