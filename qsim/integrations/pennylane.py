"""qsim as a PennyLane device: ``qml.device("qsim.qubit", wires=n)``.

Registered through PennyLane's ``pennylane.plugins`` entry point (see pyproject.toml), so once qsim
is installed a PennyLane script can say::

    import pennylane as qml
    dev = qml.device("qsim.qubit", wires=2, seed=7)

    @qml.qnode(dev)
    def circuit(x):
        qml.RX(x, wires=0)
        qml.CNOT(wires=[0, 1])
        return qml.expval(qml.Z(0) @ qml.Z(1))

A thin translation layer, as PennyLane's device API intends: ``preprocess_transforms`` says what the
device takes (the capabilities file ``qsim_qubit.toml`` plus the rules in ``pennylane_translate``;
PennyLane decomposes everything else, defers mid-circuit measurements and splits parameter
broadcasting), and ``execute`` maps each tape onto a ``qsim.Circuit`` run on qsim's state-vector
device.  qsim is the only place that simulates: analytic results are qsim result types
(expectation, variance, probability, state vector, reduced density matrix); sampled results are
qsim's samples in the measurements' eigenbases, turned into expectation values, counts etc. by the
measurement processes' own ``process_samples``.

Under ``mpirun -n N`` (N > 1) the underlying ``qsim.device("local:qsim/statevector")`` shards one
state vector over all ranks (SPMD: every rank runs the same QNodes with the same parameters and
gets the same results; ``qml.state()`` is gathered on rank 0 and broadcast to every rank).
Gradients: PennyLane's parameter-shift and finite differences run on the device as it is;
``diff_method="adjoint"`` (and ``"best"``, analytic) uses qsim's own adjoint method (the
``adjoint_gradient`` result type: one forward pass and one backward sweep per expectation value).

This module is the only place qsim imports PennyLane, and nothing in qsim imports it.
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pennylane as qml
from pennylane.devices import Device, ExecutionConfig
from pennylane.devices.modifiers import simulator_tracking, single_tape_support
from pennylane.devices.preprocess import decompose, validate_device_wires, validate_measurements, validate_observables
from pennylane.exceptions import DeviceError
from pennylane.measurements import (DensityMatrixMP, ExpectationMP, ProbabilityMP, SampleMeasurement,
                                    StateMeasurement, StateMP, VarianceMP)
from pennylane.transforms import broadcast_expand, defer_measurements, split_non_commuting
from pennylane.transforms.core import CompilePipeline, transform
from pennylane.wires import Wires

import qsim
from qsim import Circuit
from qsim.integrations import pennylane_translate as tr

DEVICE_NAME = "qsim.qubit"


@transform
def split_non_commuting_with_shots(tape):
    """With shots, measurements that need different eigenbases go to different tapes (qsim samples
    one basis per run); analytic tapes are left as they are."""
    if not tape.shots:
        return (tape,), lambda results: results[0]
    return split_non_commuting(tape)


@simulator_tracking
@single_tape_support
class QsimQubit(Device):
    """qsim's state-vector simulator as a PennyLane device.

    Args:
        wires: number of wires or their labels (ints or any hashable labels); ``None`` takes the
            wires of each circuit.
        shots: deprecated by PennyLane on devices (use ``qml.set_shots``); still accepted.
        seed: ``None``, ``"global"`` (draw from NumPy's global generator, as default.qubit does), an
            int, a ``SeedSequence`` or a ``Generator``: seeds every sampled run, so sampled results
            repeat for the same seed.
        precision: ``"double"`` (complex128) or ``"single"`` (complex64); default ``$QSIM_PRECISION``
            if set, else ``"double"``.
        comm: an mpi4py communicator to shard over (default: COMM_WORLD under mpirun).
    """

    name = DEVICE_NAME
    config_filepath = os.path.join(os.path.dirname(__file__), "qsim_qubit.toml")

    def __init__(self, wires=None, shots=None, seed="global", precision=None, comm=None, fusion=True):
        super().__init__(wires=wires, shots=shots)
        if isinstance(seed, str) and seed == "global":
            seed = np.random.randint(0, 2 ** 31)
        self._rng = np.random.default_rng(seed)
        self._qsim = qsim.device("local:qsim/statevector", precision=precision, comm=comm, fusion=fusion)
        self.last_run_metadata: dict = {}  # qsim's metadata of the latest run (ranks, distributed, ...)

    @property
    def comm(self):
        """The communicator the state is sharded over, or None in a single process."""
        return getattr(self._qsim, "comm", None)

    # ------------------------------------------------------------------ configuration
    def setup_execution_config(self, config: ExecutionConfig | None = None, circuit=None) -> ExecutionConfig:
        config = config or ExecutionConfig()
        method = config.mcm_config.mcm_method
        if method not in (None, "deferred"):
            raise DeviceError(f"{self.name} runs mid-circuit measurements with mcm_method='deferred' only, "
                              f"got mcm_method={method!r}")
        if method is None:
            config = replace(config, mcm_config=replace(config.mcm_config, mcm_method="deferred"))
        if config.gradient_method in ("best", "adjoint") and self.supports_derivatives(config, circuit):
            config = replace(config, gradient_method="adjoint", use_device_gradient=True,
                             use_device_jacobian_product=False)
        return config

    def preprocess_transforms(self, execution_config: ExecutionConfig | None = None) -> CompilePipeline:
        caps = self.capabilities
        program = CompilePipeline()
        program.add_transform(defer_measurements, allow_postselect=False)
        program.add_transform(validate_device_wires, self.wires, name=self.name)
        program.add_transform(decompose, stopping_condition=lambda op: tr.supports_operation(op, caps),
                              skip_initial_state_prep=False, device_wires=self.wires,
                              target_gates=caps.gate_set(), name=self.name)
        program.add_transform(validate_measurements, name=self.name,
                              analytic_measurements=lambda mp: isinstance(mp, StateMeasurement),
                              sample_measurements=lambda mp: isinstance(mp, SampleMeasurement))
        program.add_transform(validate_observables, name=self.name,
                              stopping_condition=lambda o: tr.supports_observable(o, analytic=True),
                              stopping_condition_shots=lambda o: tr.supports_observable(o, analytic=False))
        program.add_transform(split_non_commuting_with_shots)
        program.add_transform(broadcast_expand)
        if execution_config is not None and execution_config.gradient_method == "adjoint":
            # trainable parameters must sit on gates qsim's adjoint method differentiates
            program.add_transform(decompose, name=self.name, skip_initial_state_prep=False,
                                  stopping_condition=lambda op: tr.supports_operation(op, caps) and (
                                      not any(qml.math.requires_grad(d) for d in op.data)
                                      or tr.is_adjoint_differentiable(op)))
            program.add_transform(validate_measurements, name=f"adjoint + {self.name}",
                                  analytic_measurements=lambda mp: isinstance(mp, ExpectationMP))
        return program

    # ------------------------------------------------------------------ derivatives (adjoint)
    def supports_derivatives(self, execution_config=None, circuit=None) -> bool:
        """Adjoint gradients of expectation values, analytic only (``diff_method="adjoint"``;
        also what ``"best"`` picks)."""
        if execution_config is None or execution_config.gradient_method not in ("adjoint", "best"):
            return False
        if circuit is None:
            return True
        return not circuit.shots and all(isinstance(mp, ExpectationMP) and mp.obs is not None
                                         for mp in circuit.measurements)

    def compute_derivatives(self, circuits, execution_config: ExecutionConfig | None = None):
        return tuple(self._adjoint_jacobian(tape) for tape in circuits)

    def execute_and_compute_derivatives(self, circuits, execution_config: ExecutionConfig | None = None):
        return self.execute(circuits, execution_config), self.compute_derivatives(circuits, execution_config)

    def _adjoint_jacobian(self, tape):
        """One qsim run per expectation value: its ``adjoint_gradient`` result type."""
        wires = self._wire_order(tape)
        wire_map = {w: i for i, w in enumerate(wires)}
        base, values = tr.parametric_circuit(tape, wire_map)
        names = [f"p{k}" for k in tape.trainable_params]
        jacobian = []
        for mp in tape.measurements:
            if not isinstance(mp, ExpectationMP) or mp.obs is None:
                raise DeviceError(f"{self.name}: adjoint gradients are of expectation values; got {mp!r}")
            terms = tr.pauli_terms(mp.obs)
            if terms is None:
                observable, targets = tr.dense_observable(mp.obs, wire_map)
                terms = [(1.0, observable, targets)]
            else:
                terms = [(float(np.real(c)), o, [wire_map[w] for w in t]) for c, o, t in terms if o is not None]
            if not names or not terms:  # nothing trainable, or a constant observable
                jacobian.append(tuple(np.float64(0.0) for _ in names))
                continue
            circuit = Circuit(base.instructions)
            circuit.adjoint_gradient(terms, parameters=names)
            gradient = self._qsim.run(circuit, shots=0, inputs=values).result().values[0]["gradient"]
            jacobian.append(tuple(np.float64(gradient[n]) for n in names))
        jacobian = [j[0] if len(j) == 1 else j for j in jacobian]
        return jacobian[0] if len(jacobian) == 1 else tuple(jacobian)

    # ------------------------------------------------------------------ execution
    def execute(self, circuits, execution_config: ExecutionConfig | None = None):
        return tuple(self._run(tape) for tape in circuits)

    def _wire_order(self, tape) -> Wires:
        return self.wires if self.wires is not None else tape.wires

    def _qsim_run(self, circuit, shots=0, seed=None):
        result = self._qsim.run(circuit, shots=shots, seed=seed).result()
        self.last_run_metadata = result.additional_metadata.get("qsimMetadata", {})
        return result

    def _seed(self) -> int:
        return int(self._rng.integers(0, 2 ** 63 - 1))

    def _run(self, tape):
        wires = self._wire_order(tape)
        wire_map = {w: i for i, w in enumerate(wires)}
        circuit = tr.to_circuit(tape.operations, wire_map)
        if tape.shots:
            return self._sampled(tape, circuit, wires, wire_map)
        return self._analytic(tape, circuit, wires, wire_map)

    # ------------------------------------------------------------------ analytic (shots=None)
    def _analytic(self, tape, circuit, wires, wire_map):
        finish = [self._analytic_request(mp, circuit, wires, wire_map) for mp in tape.measurements]
        values = self._qsim_run(circuit).values if circuit.result_types else []
        results = tuple(f(values) for f in finish)
        return results[0] if len(results) == 1 else results

    def _analytic_request(self, mp, circuit, wires, wire_map):
        """Add the qsim result types ``mp`` needs to ``circuit``; return how to read its value."""
        def add(result_type_method, *args):
            index = len(circuit.result_types)
            result_type_method(*args)
            return index

        if isinstance(mp, (ExpectationMP, VarianceMP)) and mp.obs is None:  # e.g. of a deferred measurement
            i = add(circuit.probability, [wire_map[w] for w in mp.wires])
            eigvals = np.asarray(mp.eigvals(), dtype=float)
            if isinstance(mp, ExpectationMP):
                return lambda values: np.float64(np.dot(values[i], eigvals))
            return lambda values: np.float64(np.dot(values[i], eigvals ** 2) - np.dot(values[i], eigvals) ** 2)
        if isinstance(mp, ExpectationMP):
            return self._expectation(mp.obs, circuit, wire_map, add)
        if isinstance(mp, VarianceMP):
            return self._variance(mp.obs, circuit, wire_map, add)
        if isinstance(mp, ProbabilityMP):
            targets = [wire_map[w] for w in (mp.wires or wires)]
            if mp.obs is not None:  # probabilities in the observable's eigenbasis: a run of its own
                rotated = tr.to_circuit(mp.obs.diagonalizing_gates(), wire_map)
                rotated.instructions = circuit.instructions + rotated.instructions
                rotated.probability(targets)
                value = self._qsim_run(rotated).values[0]
                return lambda values: np.asarray(value)
            i = add(circuit.probability, targets)
            return lambda values: np.asarray(values[i])
        if isinstance(mp, StateMP) and not isinstance(mp, DensityMatrixMP):
            for w in wires:  # the state is over every wire, used or not
                circuit.gate("i", (wire_map[w],))
            i = add(circuit.state_vector)
            return lambda values: self._broadcast_state(values[i])
        # density matrix, entropies, purity, mutual information, any other state measurement: from
        # qsim's reduced density matrix of the measurement's wires
        mp_wires = mp.wires or wires
        i = add(circuit.density_matrix, [wire_map[w] for w in mp_wires])
        # (relabelled onto positions 0..k-1 of that matrix: some of them read wire labels as indices)
        local = mp.map_wires({w: k for k, w in enumerate(mp_wires)})
        return lambda values: local.process_density_matrix(np.asarray(values[i]), wire_order=Wires(range(len(mp_wires))))

    def _expectation(self, obs, circuit, wire_map, add):
        terms = tr.pauli_terms(obs)
        if terms is not None:
            return self._pauli_expectation(terms, circuit, wire_map, add)
        if isinstance(obs, qml.ops.Sum):
            fns = [self._expectation(o, circuit, wire_map, add) for o in obs.operands]
            return lambda values: np.float64(sum(f(values) for f in fns))
        if isinstance(obs, qml.ops.SProd):
            f = self._expectation(obs.base, circuit, wire_map, add)
            scalar = complex(obs.scalar)
            return lambda values: np.float64(np.real(scalar * f(values)))
        i = add(circuit.expectation, *tr.dense_observable(obs, wire_map))
        return lambda values: np.float64(values[i])

    @staticmethod
    def _pauli_expectation(terms, circuit, wire_map, add):
        constant, parts = 0.0, []
        for coeff, observable, targets in terms:
            if observable is None:
                constant += coeff
            else:
                parts.append((coeff, add(circuit.expectation, observable, [wire_map[w] for w in targets])))
        return lambda values: np.float64(np.real(constant + sum(c * values[i] for c, i in parts)))

    def _variance(self, obs, circuit, wire_map, add):
        terms = tr.pauli_terms(obs)
        if terms is not None:
            nontrivial = [t for t in terms if t[1] is not None]
            if not nontrivial:
                return lambda values: np.float64(0.0)
            if len(nontrivial) == 1:  # c P + d: Var = |c|^2 Var(P)
                coeff, observable, targets = nontrivial[0]
                i = add(circuit.variance, observable, [wire_map[w] for w in targets])
                return lambda values: np.float64(abs(coeff) ** 2 * values[i])
            mean = self._pauli_expectation(terms, circuit, wire_map, add)
            square = self._pauli_expectation(tr.sentence_terms(obs.pauli_rep @ obs.pauli_rep), circuit, wire_map, add)
            return lambda values: np.float64(max(square(values) - mean(values) ** 2, 0.0))
        i = add(circuit.variance, *tr.dense_observable(obs, wire_map))
        return lambda values: np.float64(values[i])

    def _broadcast_state(self, state):
        comm = self.comm
        if comm is not None and comm.Get_size() > 1:
            state = comm.bcast(state, root=0)
        return np.asarray(state)

    # ------------------------------------------------------------------ sampled (shots > 0)
    def _sampled(self, tape, circuit, wires, wire_map):
        shots = tape.shots
        per_mp = [None] * len(tape.measurements)
        for group in _basis_groups(tape.measurements, wires):
            run = tr.to_circuit(group.gates, wire_map)
            run.instructions = circuit.instructions + run.instructions
            for w in group.wires:  # every measured wire must be simulated, even if no gate touches it
                run.gate("i", (wire_map[w],))
            result = self._qsim_run(run, shots.total_shots, self._seed())
            samples = np.zeros((shots.total_shots, len(wires)), dtype=np.int64)
            samples[:, list(result.measured_qubits)] = result.measurements
            for index in group.indices:
                mp = tape.measurements[index]
                per_mp[index] = [_process(mp, samples[lo:hi], wires) for lo, hi in shots.bins()]
        per_bin = [tuple(values[b] for values in per_mp) for b in range(shots.num_copies)]
        per_bin = [r[0] if len(r) == 1 else r for r in per_bin]
        return tuple(per_bin) if shots.has_partitioned_shots else per_bin[0]


def _process(mp, samples, wires):
    value = mp.process_samples(samples, wire_order=wires)
    if isinstance(mp, (ExpectationMP, VarianceMP)):
        return np.float64(value)
    return np.asarray(value) if isinstance(mp, ProbabilityMP) else value


class _Group:
    def __init__(self):
        self.basis = {}  # wire -> key of the diagonalising gates acting on it (() = computational)
        self.gates, self.indices, self.wires, self._seen = [], [], set(), set()


def _gate_key(op):
    return op.name, tuple(op.wires), tuple(np.asarray(d).tobytes() for d in op.data)


def _basis_groups(measurements, all_wires):
    """Measurements grouped so that one sampled run serves each group: on every wire, the
    members' diagonalising gates agree."""
    groups = []
    for index, mp in enumerate(measurements):
        gates = mp.diagonalizing_gates() if mp.obs is not None else []
        mp_wires = list(mp.wires) or list(all_wires)
        basis = {w: () for w in mp_wires}
        for g in gates:
            for w in g.wires:
                basis[w] = basis.get(w, ()) + (_gate_key(g),)
        for group in groups:
            if all(group.basis.get(w, b) == b for w, b in basis.items()):
                break
        else:
            group = _Group()
            groups.append(group)
        group.basis.update(basis)
        group.indices.append(index)
        group.wires.update(mp_wires)
        for g in gates:
            if _gate_key(g) not in group._seen:
                group._seen.add(_gate_key(g))
                group.gates.append(g)
    return groups
