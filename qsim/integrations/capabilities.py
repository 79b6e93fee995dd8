"""qsim's device capabilities in Braket's ``GateModelSimulatorDeviceCapabilities`` JSON form.

One home for the document, so that ``LocalSimulator("qsim")`` (``qsim.integrations.braket``) and the
local Braket endpoint's GetDevice (``jobs.endpoint.tasks``) describe the same gate set, result types
and qubit count. Plain data: importing this needs no Braket package.
"""

from __future__ import annotations

from qsim.circuit.gates import GATES


def gate_model_capabilities(props: dict, service: dict | None = None) -> dict:
    """The capabilities document for a qsim device whose ``properties`` are ``props``; ``service``
    adds or overrides members of its ``service`` section (e.g. ``getTaskPollIntervalMillis``)."""
    observables = ["x", "y", "z", "h", "i", "hermitian"]
    operations = sorted(set(GATES) - {"gphase"} | {"unitary", "GPhase"})
    doc = {
        "service": {"executionWindows": [{"executionDay": "Everyday", "windowStartHour": "00:00",
                                          "windowEndHour": "23:59:59"}],
                    "shotsRange": [0, 2 ** 63 - 1]},
        "action": {"braket.ir.openqasm.program": {
            "actionType": "braket.ir.openqasm.program", "version": ["1"],
            "supportedOperations": operations,
            "supportedModifiers": [{"name": "ctrl"}, {"name": "negctrl"},
                                   {"name": "pow", "exponent_types": ["int", "float"]}, {"name": "inv"}],
            "supportedPragmas": ["braket_unitary_matrix", "braket_result_type_state_vector",
                                 "braket_result_type_density_matrix", "braket_result_type_sample",
                                 "braket_result_type_expectation", "braket_result_type_variance",
                                 "braket_result_type_probability", "braket_result_type_amplitude",
                                 "braket_result_type_adjoint_gradient"],
            "forbiddenPragmas": ["braket_noise_amplitude_damping", "braket_noise_bit_flip",
                                 "braket_noise_depolarizing", "braket_noise_kraus",
                                 "braket_noise_pauli_channel", "braket_noise_generalized_amplitude_damping",
                                 "braket_noise_phase_flip", "braket_noise_phase_damping",
                                 "braket_noise_two_qubit_dephasing", "braket_noise_two_qubit_depolarizing"],
            "supportedResultTypes": [
                {"name": "Sample", "observables": observables, "minShots": 1, "maxShots": 2 ** 63 - 1},
                {"name": "Expectation", "observables": observables, "minShots": 0, "maxShots": 2 ** 63 - 1},
                {"name": "Variance", "observables": observables, "minShots": 0, "maxShots": 2 ** 63 - 1},
                {"name": "Probability", "minShots": 0, "maxShots": 2 ** 63 - 1},
                {"name": "StateVector", "minShots": 0, "maxShots": 0},
                {"name": "DensityMatrix", "minShots": 0, "maxShots": 0},
                {"name": "Amplitude", "minShots": 0, "maxShots": 0},
                {"name": "AdjointGradient", "observables": observables, "minShots": 0, "maxShots": 0},
            ],
            "supportPhysicalQubits": True, "supportsPartialVerbatimBox": False,
            "requiresContiguousQubitIndices": False, "requiresAllQubitsMeasurement": False,
            "supportsUnassignedMeasurements": True, "disabledQubitRewiringSupported": False,
        }},
        "paradigm": {"qubitCount": props["qubitCount"]},
        "deviceParameters": {},
    }
    doc["service"].update(service or {})
    return doc
