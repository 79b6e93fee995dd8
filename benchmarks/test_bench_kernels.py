"""pytest-benchmark versions of the per-gate, circuit and variational figures.

    python -m pytest benchmarks/ --benchmark-only                       # n = 20 (seconds)
    QSIM_BENCH_N=24 python -m pytest benchmarks/ --benchmark-only       # the headline size
    python -m pytest benchmarks/ --benchmark-only --benchmark-json=benchmarks/results/pytest_benchmark.json

The state size is ``QSIM_BENCH_N`` (default 20, so a plain run takes seconds; the scripts in this
directory do the full 24/26-qubit tables and write JSON).  ``rmw`` is the one-pass reference: compare
every gate's mean with it.  These are timing runs only; nothing here asserts a speed.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

N = int(os.environ.get("QSIM_BENCH_N", "20"))

pytest.importorskip("pytest_benchmark")


@pytest.fixture(scope="module")
def state():
    return np.full(1 << N, 1 / np.sqrt(1 << N), dtype=np.complex128)


def _ry(theta):
    c, s = np.cos(theta / 2), np.sin(theta / 2)
    return np.array([[c, -s], [s, c]], dtype=np.complex128)


def test_rmw_one_pass(benchmark, state):
    from benchmarks.bandwidth import rmw_c128

    w = np.complex128(np.exp(1e-9j))
    rmw_c128(state, w)
    benchmark(rmw_c128, state, w)


@pytest.mark.parametrize("bit", [0, 1, 2, 3, N // 2, N - 1])
def test_dense_1(benchmark, state, bit):
    from qsim.state.apply import apply_unitary

    u = _ry(0.3)
    apply_unitary(state, [bit], u)
    benchmark(apply_unitary, state, [bit], u)


@pytest.mark.parametrize("bit", [0, N // 2, N - 1])
def test_braket_dense_1(benchmark, state, bit):
    linalg = pytest.importorskip("braket.default_simulator.linalg_utils")
    t = state.reshape((2,) * N).copy()
    out = np.zeros_like(t)
    disp = linalg.QuantumGateDispatcher(N)
    u = _ry(0.3)
    box = [t, out]

    def run():
        res, swapped = linalg.multiply_matrix(box[0], u, (N - 1 - bit,), out=box[1], dispatcher=disp,
                                              return_swap_info=True)
        if swapped:
            box.reverse()

    run()
    benchmark(run)


@pytest.mark.parametrize("case", ["cnot", "cz", "dense2", "rz", "swap"])
def test_other_gates(benchmark, state, case):
    from qsim.state.apply import apply_unitary

    rng = np.random.default_rng(1)
    u2, _ = np.linalg.qr(rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4)))
    x = np.array([[0, 1], [1, 0]], dtype=complex)
    args = {"cnot": ([N // 2], x, [N - 1], [1]),
            "cz": ([N // 2, 2], np.diag([1, 1, 1, -1]).astype(complex), [], []),
            "dense2": ([N // 2, 1], u2, [], []),
            "rz": ([N // 2], np.diag(np.exp([-0.2j, 0.2j])), [], []),
            "swap": ([N - 1, 3], np.eye(4)[[0, 2, 1, 3]].astype(complex), [], [])}[case]
    apply_unitary(state, *args)
    benchmark(apply_unitary, state, *args)


@pytest.mark.parametrize("kind", ["qft", "brick"])
def test_circuit(benchmark, kind):
    import qsim
    from benchmarks import workloads as W

    circuit = {"qft": W.qft, "brick": W.brick}[kind](N)
    dev = qsim.device()
    dev.run(circuit).result()
    benchmark.pedantic(lambda: dev.run(circuit).result(), rounds=3, iterations=1)


@pytest.mark.parametrize("n", [12, 16])
def test_variational_call(benchmark, n):
    import qsim
    from benchmarks import workloads as W

    circuit, names = W.hea(n)
    dev = qsim.device()
    rng = np.random.default_rng(0)

    def call():
        return dev.run(circuit, inputs=dict(zip(names, rng.uniform(-3, 3, len(names))))).result()

    call()
    benchmark(call)
