"""qsim: an embedded quantum state-vector simulator (Numba kernels, MPI-distributed).

Layers, top to bottom (each imports only the ones below it):

    qsim.cli / qsim.device      front doors: ARN -> device, command line
    qsim.qasm                   OpenQASM 3 (Braket dialect) -> Circuit      (never imports the simulator)
    qsim.circuit                the one circuit representation: gates, observables, result types
    qsim.distributed            one state vector sharded over MPI ranks; wraps qsim.state
    qsim.state                  the single-process state vector, execution and results
    qsim.kernels                Numba gate kernels: pure array code, no MPI, no Python objects

Bit order: qubit 0 is the most significant bit of every bitstring and basis index, as in Braket.
"""

__version__ = "0.1.0"

from qsim.circuit import Circuit, FreeParameter, observables  # noqa: E402
from qsim.errors import InternalError, ProgramError, QsimError, ResourceError, ValidationError  # noqa: E402

# `qsim.device("local:qsim/statevector")` returns a device; `qsim.device` is also the module that
# holds KNOWN_DEVICES (a callable module, so the name cannot be shadowed by a submodule import).
from qsim import device  # noqa: E402


__all__ = ["Circuit", "FreeParameter", "observables", "device", "QsimError", "ValidationError", "ProgramError",
           "ResourceError", "InternalError", "__version__"]
