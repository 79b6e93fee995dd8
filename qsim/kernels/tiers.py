"""Which build of a kernel runs on a state of a given size: the one home of the size tiers.

Every kernel of ``qsim.kernels`` (gates and reductions alike) is wrapped in ``BySize``, which picks

* its plain-Python body (``py_func``) up to ``PYTHON_MAX_AMPLITUDES``: a few dozen amplitudes take
  microseconds, far less than loading compiled kernels from the cache in a fresh process (about a
  second);
* its serial build below ``PARALLEL_MIN_AMPLITUDES``: a parallel region costs more than the work on
  a small state (a few microseconds of fork/join on a quiet machine; milliseconds when another
  process holds the second core and the region must wait for it);
* its parallel build otherwise.

The plain-Python tier is for a single process's cold start only.  An MPI rank (detected from the
launcher's environment, ``qsim.launch.launched_under_mpi``, without importing mpi4py) has paid
seconds for ``mpirun`` already, and its shards of a small test state would otherwise never exercise
the compiled kernels the other ranks share through the cache.

Compiled code targets the host CPU as LLVM reports it (``numba -s``: CPU name and features), and
Numba's on-disk cache is keyed on both, so a cache directory shared between machines never hands
one machine another's instructions.  Set ``NUMBA_CPU_NAME``/``NUMBA_CPU_FEATURES`` only to build
for an older CPU on purpose.

The vector width is LLVM's choice for the CPU.  On an AVX-512 Xeon (LLVM's ``rocketlake``, the
2026-12-04 machine) its tuning prefers 256-bit vectors: the kernels use ymm registers, all 32 of
them (``VECTOR_REGISTERS`` counts registers, not width).  Forcing zmm there (``NUMBA_CPU_FEATURES``
= the host's features plus ``-prefer-256-bit``; two alternating runs, n=24, two threads) made the
dense blocks 0-10% faster and the one-pass kernels ~8% faster, but a complex64 2-qubit block on
bits 4-5 30% slower and a complex64 one-qubit gate on bit 2 0.36 -> 0.6 ns per amplitude, and the
whole brick and QFT circuits no faster (with the 4x4 register blocks of then; brick n=24
1.26-1.34 s against 1.30-1.32 s at complex128, 0.65-0.71 against 0.74-0.79 at complex64): not
taken.
"""

from __future__ import annotations

import types

from numba import njit

from qsim.launch import launched_under_mpi

OPTS = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")
# FMA contraction allowed (one rounding per multiply-add instead of two, never less accurate), which
# LLVM needs to emit packed FMAs: the options of every kernel that must run at memory speed
CONTRACT_OPTS = dict(OPTS, fastmath={"contract"})


def _vector_registers() -> int:
    """32 when the CPU the kernels are compiled for has AVX-512 (``NUMBA_CPU_FEATURES`` when set,
    else the host as LLVM reports it), else 16.  A kernel that blocks its sums in registers reads
    this at compile time; the builds of either choice are cached apart, because Numba's cache key
    holds the CPU name and features."""
    import os

    features = os.environ.get("NUMBA_CPU_FEATURES")
    if not features:
        try:
            from llvmlite import binding as ll

            features = ll.get_host_cpu_features().flatten()
        except Exception:  # noqa: BLE001  (an LLVM without the query: assume the smaller file)
            return 16
    return 32 if "+avx512f" in features.split(",") else 16


VECTOR_REGISTERS = _vector_registers()

PARALLEL_MIN_AMPLITUDES = 1 << 15
PYTHON_MAX_AMPLITUDES = 0 if launched_under_mpi() else 1 << 5


def renamed(f, name: str):
    """A copy of Python function ``f`` called ``name`` (closure and globals kept).  Numba's on-disk
    cache is keyed by qualified name and line, not by flags or closure contents, so every build of
    a shared body (a serial twin, a driver around a different core) needs a name of its own."""
    code = f.__code__.replace(co_name=name, co_qualname=name)
    out = types.FunctionType(code, f.__globals__, name, f.__defaults__, f.__closure__)
    out.__qualname__ = name
    out.__doc__ = f.__doc__
    return out


class BySize:
    """A kernel that runs its plain-Python body, serial build or parallel build by the state's size
    (first argument).  Same call signature as the kernel; ``py_func`` is the plain-Python body and
    ``parallel``/``serial`` the two builds, as attributes for tests and benchmarks."""

    options = OPTS  # Numba options of the compiled builds

    def __init__(self, py_func, name: str | None = None):
        py_func = getattr(py_func, "py_func", py_func)  # a Numba dispatcher: wrap its Python body
        name = name or py_func.__name__
        self.py_func = renamed(py_func, name)
        self.parallel = njit(parallel=True, **self.options)(self.py_func)
        self.serial = njit(**self.options)(renamed(py_func, name + "_serial"))
        self.__name__ = name
        self.__doc__ = py_func.__doc__

    @staticmethod
    def tier(size: int) -> str:
        """``"py_func"``, ``"serial"`` or ``"parallel"``: the build that runs on ``size`` amplitudes."""
        if size <= PYTHON_MAX_AMPLITUDES:
            return "py_func"
        return "serial" if size < PARALLEL_MIN_AMPLITUDES else "parallel"

    def __call__(self, state, *args):
        return getattr(self, self.tier(state.shape[0]))(state, *args)

    def __repr__(self):
        return f"<size-tiered kernel {self.__name__}>"


class Contracted(BySize):
    """``BySize`` whose compiled builds use ``CONTRACT_OPTS``: the kernels that must run at memory
    speed (``qsim.kernels.dense``, ``onequbit``, ``diagonal``'s pivot kernel)."""

    options = CONTRACT_OPTS


def serial_build(kernel):
    """The serial build of a kernel (a Python function or a Numba dispatcher), under its own name."""
    f = getattr(kernel, "py_func", kernel)
    return njit(**OPTS)(renamed(f, f.__name__ + "_serial"))


def by_size(f):
    """Decorator: ``BySize(f)``."""
    return BySize(f)
