"""The circuit layer: gates, observables, result types and the one circuit representation.

Everything above the simulator (the Python API, the OpenQASM front end) produces a ``Circuit``;
everything below it (``qsim.state``, ``qsim.distributed``) consumes one.  Nothing here imports the
simulator.
"""

from qsim.circuit import observables
from qsim.circuit.circuit import Circuit
from qsim.circuit.observables import Observable
from qsim.circuit.operations import Conditional, GateOp, Measure, Reset
from qsim.circuit.parameters import FreeParameter
from qsim.circuit.result_types import (Amplitude, DensityMatrix, Expectation, Probability, Sample, StateVector,
                                       Variance)

__all__ = ["Circuit", "FreeParameter", "GateOp", "Measure", "Reset", "Conditional", "Observable", "observables",
           "Expectation", "Variance", "Sample", "Probability", "DensityMatrix", "StateVector", "Amplitude"]
