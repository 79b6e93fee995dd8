"""Running lowered steps over measurement *paths*.

Who calls this: ``qsim.state.executor`` (``_run``), with the steps of ``qsim.state.lowering``.
Mid-circuit measurement and reset are physical.  The run keeps a list of paths, each a weight, a
state and the classical bits measured on it.  With shots=0 a path's weight is its probability and
results are exact averages over paths (``qsim.state.result_values``); with shots>0 it is its number
of shots (split binomially at each measurement) and each shot follows its own sampled outcomes.
Paths that end up with equal states and bits are merged (a reset of an unentangled qubit leaves one
path).  On a single-process state a compiled circuit's items run as one packed program
(``qsim.state.packed``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qsim.errors import InternalError
from qsim.state.lowering import Branch, MeasureStep, ResetStep, Unitaries
from qsim.state.memory import check_branch_fits

_X = np.array([[0, 1], [1, 0]], dtype=np.complex128)
_PROB_EPS = 1e-14


@dataclass
class Path:
    weight: float  # probability (shots=0) or shot count (shots>0)
    state: object
    bits: list


def apply_items(state, step, want_z=False):
    """``state.apply_all(step.items)``; on a single-process state, items known to be dense for every
    parameter value go straight to the dense kernels (no structure analysis per call).  Returns
    [<Z_q>] when ``want_z`` and the packed program gave them on the way (else None)."""
    if state.distributed:
        state.apply_all(step.items)
        return None
    program = step.program
    if program is not None and program.n == state.n_qubits and state.is_canonical():
        return program.apply(state, step.items, want_z)  # one kernel call for all items (qsim.state.packed)
    if step.dense is None:
        state.apply_all(step.items)
        return None
    state.apply_known_dense(step.items, step.dense)  # in the state's own qubit placement
    return None


class Runner:
    def __init__(self, shots, rng, make_state):
        self.shots = shots
        self.rng = rng
        self.make_state = make_state
        self.stats = {"pathsMax": 1, "midCircuitMeasurements": 0, "resets": 0}
        self.branch_budget = None  # bytes all branch states together may take (qsim.state.memory)
        # [<Z_q>] of the final state, when the only step was a packed program asked for them
        self.want_z = False
        self.z = None

    def run(self, steps, paths):
        for step in steps:
            if isinstance(step, Unitaries):
                want = self.want_z and len(steps) == 1 and len(paths) == 1
                for p in paths:
                    self.z = apply_items(p.state, step, want)
            elif isinstance(step, MeasureStep):
                self.stats["midCircuitMeasurements"] += 1
                paths = self._measure(paths, step.qubit, step.bit, reset=False)
            elif isinstance(step, ResetStep):
                self.stats["resets"] += 1
                paths = self._measure(paths, step.qubit, None, reset=True)
            elif isinstance(step, Branch):
                yes, no = [], []
                for p in paths:
                    (yes if bool(step.condition.evaluate(p.bits)) else no).append(p)
                paths = (self.run(step.then_steps, yes) if yes else []) + \
                        (self.run(step.else_steps, no) if no else [])
            else:
                raise InternalError(f"unknown step {step!r}")
            self.stats["pathsMax"] = max(self.stats["pathsMax"], len(paths))
        return paths

    def _measure(self, paths, qubit, bit, reset):
        out = []
        for i, p in enumerate(paths):
            p1 = min(max(p.state.prob_one(qubit), 0.0), 1.0)
            p0 = 1.0 - p1
            if self.shots:
                n1 = int(self.rng.binomial(int(p.weight), p1)) if 0 < p1 < 1 else (int(p.weight) if p1 >= 1 else 0)
                w0, w1 = int(p.weight) - n1, n1
                keep0, keep1 = w0 > 0, w1 > 0
            else:
                w0, w1 = p.weight * p0, p.weight * p1
                keep0, keep1 = p0 > _PROB_EPS, p1 > _PROB_EPS
            children = []
            if keep0 and keep1:
                if not getattr(p.state, "distributed", False):  # a distributed copy agrees on its own check
                    self.branch_budget = check_branch_fits(
                        len(out) + len(paths) - i, p.state.n_qubits, p.state.dtype,
                        self.stats["midCircuitMeasurements"] + self.stats["resets"], self.branch_budget)
                children = [(0, w0, p0, p.state), (1, w1, p1, p.state.copy())]
            elif keep0:
                children = [(0, w0, p0, p.state)]
            elif keep1:
                children = [(1, w1, p1, p.state)]
            for outcome, weight, prob, state in children:
                if 0 < prob < 1:
                    state.collapse(qubit, outcome, prob)
                bits = list(p.bits)
                if reset:
                    if outcome == 1:
                        state.apply((qubit,), _X)
                else:
                    bits[bit] = outcome
                out.append(Path(weight, state, bits))
        return self._merge(out)

    @staticmethod
    def _merge(paths):
        merged: list[Path] = []
        for p in paths:
            for m in merged:
                if m.bits == p.bits and m.state.same_as(p.state):
                    m.weight += p.weight
                    break
            else:
                merged.append(p)
        return merged
