"""Task results in the shape of Braket's GateModelTaskResult.

``Result.values`` are the result-type values in the order they were requested, as NumPy arrays
where they are vectors (the state vector is the simulated array itself, in the run's precision:
no copy); ``to_dict()`` gives the JSON form (complex numbers as ``[re, im]`` pairs, result-type
``type`` objects spelled as Braket spells them).  Bitstrings are big-endian: the first character is
the first measured qubit.

Large arrays are turned into JSON a chunk at a time: ``write_json(fp)`` (and ``dump``, for a dict
from ``to_dict(arrays=True)`` that a caller extends) never holds the list form of a whole state
vector, only ``CHUNK_ENTRIES`` entries of it.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

CHUNK_ENTRIES = 1 << 16  # entries of an array turned into lists (and text) at a time
_STREAM_MIN_ENTRIES = 1 << 12  # smaller arrays are converted in one go


def _array_lists(value: np.ndarray):
    """``value`` as nested lists, a complex entry as [re, im], without an intermediate list of
    Python complex numbers."""
    if np.iscomplexobj(value):
        value = np.ascontiguousarray(value)
        real = value.view(value.real.dtype).reshape(value.shape + (2,))
        return real.tolist()
    return value.tolist()


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return _array_lists(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, complex) or isinstance(value, np.complexfloating):
        return [float(value.real), float(value.imag)]
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _placeholders(value, arrays: list):
    """``value`` JSON-ready, except that every large array is replaced by a placeholder string
    (its index in ``arrays``, where it is appended)."""
    if isinstance(value, np.ndarray) and value.size >= _STREAM_MIN_ENTRIES and value.ndim >= 1:
        arrays.append(value)
        return f"\x00qsim-array-{len(arrays) - 1}\x00"
    if isinstance(value, dict):
        return {k: _placeholders(v, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_placeholders(v, arrays) for v in value]
    return _jsonable(value)


def _write_array(fp, value: np.ndarray) -> None:
    """``json.dumps(_jsonable(value))``, written a chunk of rows at a time."""
    rows = max(1, CHUNK_ENTRIES // max(1, value.size // max(value.shape[0], 1)))
    fp.write("[")
    for lo in range(0, value.shape[0], rows):
        if lo:
            fp.write(", ")
        fp.write(json.dumps(_array_lists(value[lo:lo + rows]))[1:-1])
    fp.write("]")


def dump(obj, fp, *, indent=None) -> None:
    """Write ``obj`` (a dict as ``Result.to_dict(arrays=True)`` gives, possibly extended by the
    caller) as JSON to ``fp``: NumPy arrays and complex numbers as ``to_dict()`` spells them, large
    arrays streamed a chunk at a time (on one line each, whatever ``indent``)."""
    arrays: list = []
    text = json.dumps(_placeholders(obj, arrays), indent=indent)
    for i, arr in enumerate(arrays):
        marker = json.dumps(f"\x00qsim-array-{i}\x00")
        head, _, text = text.partition(marker)
        fp.write(head)
        _write_array(fp, arr)
    fp.write(text)


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

    def to_dict(self, *, arrays: bool = False) -> dict:
        """The Braket-shaped JSON form.  ``arrays=True``: the measurements and result values stay
        NumPy arrays (no list form of a large result is built); ``dump`` writes such a dict."""
        out = {
            "braketSchemaHeader": {"name": "braket.task_result.gate_model_task_result", "version": "1"},
        }
        conv = (lambda v: v) if arrays else _jsonable
        # Braket's schema wants at least one shot row when "measurements" is present: with shots=0
        # (or nothing measured) the key is left out, as the Braket service does.
        if self.measurements.size:
            out["measurements"] = self.measurements if arrays else self.measurements.astype(int).tolist()
        if self.measured_qubits:
            out["measuredQubits"] = list(self.measured_qubits)
        return out | {
            "resultTypes": [{"type": rt.to_json(), "value": conv(v)}
                            for rt, v in zip(self.result_types, self.values)],
            "taskMetadata": {"braketSchemaHeader": {"name": "braket.task_result.task_metadata", "version": "1"},
                             **self.task_metadata},
            "additionalMetadata": _jsonable(self.additional_metadata),
        }

    def write_json(self, fp, *, indent=None) -> None:
        """``to_dict()`` as JSON to the text file ``fp``, large arrays a chunk at a time."""
        dump(self.to_dict(arrays=True), fp, indent=indent)

    def to_json(self, **kwargs) -> str:
        if set(kwargs) <= {"indent"}:
            buf = io.StringIO()
            self.write_json(buf, **kwargs)
            return buf.getvalue()
        return json.dumps(self.to_dict(), **kwargs)
