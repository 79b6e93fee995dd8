"""PennyLane operators and observables as qsim circuit instructions and observables.

Called by ``qsim.integrations.pennylane`` (the ``qsim.qubit`` device) only.  Every PennyLane wire is
first mapped to a qsim qubit index (``wire_map``: the device's wire order, so the first wire is the
most significant bit, PennyLane's convention and qsim's alike).

Gates: the names in ``NAMED`` go over as the qsim gate of the same matrix (a test compares every pair
with ``qml.matrix``); ``qml.ctrl`` becomes qsim controls (``control=``/``control_state=``),
``qml.adjoint`` and integer ``qml.pow`` become qsim powers; any other operator with a matrix goes over
as a qsim ``unitary``.  Observables: anything with a Pauli representation (Paulis, products, sums,
Hamiltonians) becomes a list of Pauli words, each one qsim tensor-product observable; the rest
(Hermitian, Projector, Exp, ...) becomes a qsim ``Hermitian`` on the observable's wires.
"""

from __future__ import annotations

import numpy as np
import pennylane as qml
from pennylane.ops import Adjoint, Controlled, Pow

from qsim import Circuit
from qsim.circuit import observables as qobs
from qsim.errors import ValidationError

# PennyLane name -> qsim gate with the same matrix for the same parameters.
NAMED = {
    "PauliX": "x", "PauliY": "y", "PauliZ": "z", "Hadamard": "h", "S": "s", "T": "t", "SX": "v",
    "RX": "rx", "RY": "ry", "RZ": "rz", "PhaseShift": "phaseshift", "U3": "U",
    "SWAP": "swap", "ISWAP": "iswap", "ECR": "ecr", "PSWAP": "pswap",
    "IsingXX": "xx", "IsingYY": "yy", "IsingZZ": "zz", "IsingXY": "xy",
}

# Operators with a matrix but no entry in the capabilities file are sent as a dense unitary up to
# this many wires (PennyLane decomposes larger ones); observables without a Pauli form likewise.
MAX_MATRIX_WIRES = 3
MAX_DENSE_OBSERVABLE_WIRES = 10


def append_operation(circuit: Circuit, op, wire_map, controls=(), control_values=(), power=1, params=None):
    """Append PennyLane operator ``op`` (its parameters numbers, not tensors) to ``circuit``.
    ``params`` replaces a named gate's parameters (e.g. by qsim ``FreeParameter``s)."""
    if isinstance(op, Controlled):
        return append_operation(circuit, op.base, wire_map,
                                controls + tuple(wire_map[w] for w in op.control_wires),
                                control_values + tuple(int(bool(v)) for v in op.control_values), power, params)
    if isinstance(op, Adjoint):
        return append_operation(circuit, op.base, wire_map, controls, control_values, -power, params)
    if isinstance(op, Pow) and float(op.z) == int(op.z):
        return append_operation(circuit, op.base, wire_map, controls, control_values, power * int(op.z), params)
    kwargs = dict(control=controls or None, control_state=control_values or None,
                  power=None if power == 1 else power)
    targets = tuple(wire_map[w] for w in op.wires)
    name = op.name
    if name == "Identity":
        for q in targets:
            circuit.gate("i", (q,))
        return circuit
    if name == "GlobalPhase":  # PennyLane's GlobalPhase(phi) is exp(-i phi); qsim's gphase(g) is exp(i g)
        return circuit.gate("gphase", (), (-float(op.data[0]),), **kwargs)
    if name in NAMED:
        return circuit.gate(NAMED[name], targets, tuple(float(p) for p in op.data) if params is None else params,
                            **kwargs)
    if op.has_matrix:
        return circuit.unitary(qml.matrix(op, wire_order=op.wires), targets, **kwargs)
    raise ValidationError(f"qsim.qubit cannot run operator {op!r}: it has no matrix and was not decomposed")


def parametric_circuit(tape, wire_map):
    """The tape's operations with each trainable parameter ``k`` a qsim ``FreeParameter("p<k>")``
    (for adjoint gradients); returns the circuit and ``{name: value}``."""
    from qsim import FreeParameter

    trainable = set(tape.trainable_params)
    circuit, values, index = Circuit(), {}, 0
    for op in tape.operations:
        params = None
        mine = [k for k in range(index, index + len(op.data)) if k in trainable]
        if mine:
            if not is_adjoint_differentiable(op):
                raise ValidationError(f"qsim.qubit: adjoint gradients need trainable parameters on named rotation "
                                      f"gates (optionally controlled), not on {op!r}")
            params = []
            for k, value in zip(range(index, index + len(op.data)), op.data):
                if k in trainable:
                    values[f"p{k}"] = float(value)
                    params.append(FreeParameter(f"p{k}"))
                else:
                    params.append(float(value))
            params = tuple(params)
        append_operation(circuit, op, wire_map, params=params)
        index += len(op.data)
    return circuit, values


def is_adjoint_differentiable(op) -> bool:
    """A gate whose parameters qsim's adjoint method differentiates: a named qsim gate, maybe controlled."""
    base = op
    while isinstance(base, Controlled):
        base = base.base
    return base.name in NAMED


def to_circuit(operations, wire_map) -> Circuit:
    circuit = Circuit()
    for op in operations:
        append_operation(circuit, op, wire_map)
    return circuit


def pauli_terms(obs):
    """``[(coefficient, qsim Observable or None, targets)]`` with ``sum(c * <P>)`` equal to ``<obs>``
    (``None`` is the identity), or ``None`` if ``obs`` has no Pauli representation."""
    sentence = obs.pauli_rep
    return None if sentence is None else sentence_terms(sentence)


def sentence_terms(sentence):
    """The terms of a ``PauliSentence``, as ``pauli_terms`` gives them."""
    return [(complex(c), *_word(w)) for w, c in sentence.items()]


def _word(word):
    wires = list(word.keys())
    if not wires:
        return None, ()
    observable = qobs.named(word[wires[0]].lower())
    for w in wires[1:]:
        observable = observable @ qobs.named(word[w].lower())
    return observable, tuple(wires)


def dense_observable(obs, wire_map):
    """``obs`` as one qsim Hermitian observable on its wires (and those targets)."""
    if len(obs.wires) > MAX_DENSE_OBSERVABLE_WIRES:
        raise ValidationError(f"qsim.qubit: observable {obs!r} on {len(obs.wires)} wires has no Pauli form and is "
                              f"too large for a dense matrix (at most {MAX_DENSE_OBSERVABLE_WIRES} wires)")
    matrix = qml.matrix(obs, wire_order=obs.wires)
    return qobs.Hermitian(np.asarray(matrix), where=f"observable {obs!r}: "), tuple(wire_map[w] for w in obs.wires)


def supports_operation(op, capabilities) -> bool:
    """The ``decompose`` stopping condition: what ``append_operation`` takes as it is."""
    if capabilities.supports_operation(op):
        return _matrix_ok(op)
    if isinstance(op, (Controlled, Adjoint)) or (isinstance(op, Pow) and float(op.z) == int(op.z)):
        return supports_operation(op.base, capabilities)
    return op.has_matrix and (len(op.wires) <= MAX_MATRIX_WIRES or not op.has_decomposition)


_USER_MATRICES = ("QubitUnitary", "DiagonalQubitUnitary")


def _matrix_ok(op):
    """Named gates always; listed gates without a qsim name only as small dense matrices."""
    base = op
    while isinstance(base, (Controlled, Adjoint, Pow)):
        base = base.base
    if base.name in NAMED or base.name in ("Identity", "GlobalPhase") or base.name in _USER_MATRICES:
        return True
    return base.has_matrix and len(base.wires) <= MAX_MATRIX_WIRES


def supports_observable(obs, analytic: bool) -> bool:
    if obs.pauli_rep is not None:
        return True
    if isinstance(obs, (qml.ops.Sum, qml.ops.Prod)):
        return all(supports_observable(o, analytic) for o in obs.operands)
    if isinstance(obs, qml.ops.SProd):
        return supports_observable(obs.base, analytic)
    if not analytic and not obs.has_diagonalizing_gates:
        return False
    return (obs.has_matrix or isinstance(obs, qml.SparseHamiltonian)) and len(obs.wires) <= MAX_DENSE_OBSERVABLE_WIRES
