"""Task results in the shape of Braket's GateModelTaskResult.

``Result.values`` are the result-type values in the order they were requested; ``to_dict()`` gives the
JSON form (complex numbers as ``[re, im]`` pairs, result-type ``type`` objects spelled as Braket
spells them).  Bitstrings are big-endian: the first character is the first measured qubit.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import numpy as np


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        if np.iscomplexobj(value):
            return _jsonable(value.tolist())
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, complex) or isinstance(value, np.complexfloating):
        return [float(value.real), float(value.imag)]
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


@dataclass
class Result:
    result_types: list
    values: list
    measurements: np.ndarray  # shots x len(measured_qubits), uint8
    measured_qubits: list
    shots: int
    task_metadata: dict = field(default_factory=dict)
    additional_metadata: dict = field(default_factory=dict)

    @property
    def measurement_counts(self) -> Counter:
        """Counts of measured bitstrings (empty with shots=0)."""
        if self.measurements.size == 0:
            return Counter()
        chars = np.where(self.measurements.astype(bool), "1", "0")
        return Counter("".join(row) for row in chars)

    @property
    def measurement_probabilities(self) -> dict:
        counts = self.measurement_counts
        return {k: v / self.shots for k, v in counts.items()} if self.shots else {}

    def get_value_by_result_type(self, result_type):
        for rt, value in zip(self.result_types, self.values):
            if rt == result_type:
                return value
        raise ValueError(f"result type {result_type!r} was not requested; requested: "
                         f"{[r.to_json() for r in self.result_types]}")

    def to_dict(self) -> dict:
        out = {
            "braketSchemaHeader": {"name": "braket.task_result.gate_model_task_result", "version": "1"},
        }
        # Braket's schema wants at least one shot row when "measurements" is present: with shots=0
        # (or nothing measured) the key is left out, as the Braket service does.
        if self.measurements.size:
            out["measurements"] = self.measurements.astype(int).tolist()
        if self.measured_qubits:
            out["measuredQubits"] = list(self.measured_qubits)
        return out | {
            "resultTypes": [{"type": rt.to_json(), "value": _jsonable(v)}
                            for rt, v in zip(self.result_types, self.values)],
            "taskMetadata": {"braketSchemaHeader": {"name": "braket.task_result.task_metadata", "version": "1"},
                             **self.task_metadata},
            "additionalMetadata": _jsonable(self.additional_metadata),
        }

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)
