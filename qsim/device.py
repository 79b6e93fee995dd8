"""Devices by ARN: the front door of the simulator.

    dev = qsim.device("local:qsim/statevector")
    result = dev.run(openqasm_source_or_circuit, shots=0, inputs={"theta": 0.3}).result()
    result.values, result.measurement_counts, result.to_dict()

Under ``mpirun -n N`` (N > 1) the device shards one state vector over all ranks of
``MPI.COMM_WORLD`` (or the ``comm`` you pass); every rank must call ``run`` with the same program,
shots and inputs (SPMD), and gets the same result.  See ``qsim.distributed`` for what is global.
"""

from __future__ import annotations

import sys
import types
import uuid
from collections import OrderedDict

from qsim.circuit import Circuit
from qsim.errors import ValidationError
from qsim.launch import launched_under_mpi  # noqa: F401  (re-exported: qsim.device.launched_under_mpi)
from qsim.state.memory import dtype_for

STATEVECTOR_ARN = "local:qsim/statevector"
KNOWN_DEVICES = {STATEVECTOR_ARN: "state-vector simulator (Numba kernels; sharded over MPI ranks under mpirun)"}

def world_comm():
    """``MPI.COMM_WORLD`` if this process runs under mpirun with more than one rank, else None."""
    if not launched_under_mpi():
        return None
    from mpi4py import MPI

    return MPI.COMM_WORLD if MPI.COMM_WORLD.Get_size() > 1 else None


class Task:
    """A finished local task (runs are synchronous); ``result()`` returns its ``Result``."""

    def __init__(self, result):
        self.id = result.task_metadata.get("id") or str(uuid.uuid4())
        self._result = result

    def result(self):
        return self._result

    def state(self) -> str:
        return "COMPLETED"


class FailedTask:
    """A task of a batch that failed: ``state()`` is "FAILED", ``error`` the exception (a
    ``QsimError``), and ``result()`` raises it."""

    def __init__(self, error):
        self.id = str(uuid.uuid4())
        self.error = error

    def result(self):
        raise self.error

    def state(self) -> str:
        return "FAILED"


class TaskBatch:
    """The tasks of ``run_batch`` in order (Braket's ``LocalQuantumTaskBatch``): ``results()`` gives
    one ``Result`` per task, ``None`` for a failed one (``fail_unsuccessful=True`` raises the first
    failure instead); ``unsuccessful`` holds the failed tasks' ids, ``errors`` their messages."""

    def __init__(self, tasks):
        self.tasks = list(tasks)

    @property
    def unsuccessful(self) -> set:
        return {t.id for t in self.tasks if t.state() == "FAILED"}

    @property
    def errors(self) -> dict:
        return {t.id: str(t.error) for t in self.tasks if t.state() == "FAILED"}

    def results(self, fail_unsuccessful: bool = False) -> list:
        out = []
        for t in self.tasks:
            if t.state() == "FAILED":
                if fail_unsuccessful:
                    raise t.error
                out.append(None)
            else:
                out.append(t.result())
        return out

    def __len__(self):
        return len(self.tasks)


_CACHE_SIZE = 64


class StateVectorDevice:
    """qsim's state-vector simulator.

    Args:
        precision: 'double' (complex128) or 'single' (complex64); default ``$QSIM_PRECISION`` if
            set, else 'double' (``docs/precision.md``: the tolerance of 'single').
        seed: default seed for sampling; a run's own ``seed=`` overrides it.
        comm: an mpi4py communicator to shard over; default: COMM_WORLD when launched under mpirun.
        fusion: merge gates into fewer, larger unitaries (exact up to rounding).

    Programs are compiled once (``qsim.state.compile.CompiledCircuit``: remapped, lowered and
    fusion-planned) and cached per Circuit object or OpenQASM text: a run with new ``inputs`` only
    recomputes the parametrised gates' matrices and the fused blocks that hold them.  A Circuit
    changed after a run (gates appended) is compiled again; do not replace its instructions in place.
    """

    arn = STATEVECTOR_ARN

    def __init__(self, *, precision: str | None = None, seed: int | None = None, comm=None, fusion: bool = True):
        from qsim.backends import backend_for
        from qsim.state.memory import resolve_precision

        precision = resolve_precision(precision)
        self.precision = precision
        self.seed = seed
        self.fusion = fusion
        self.comm = comm if comm is not None else world_comm()
        self.backend = backend_for(self.comm, precision, fusion=fusion)
        self._cache: OrderedDict = OrderedDict()
        self._not_symbolic: set = set()

    @property
    def name(self) -> str:
        return "qsim statevector"

    @property
    def properties(self) -> dict:
        from qsim.circuit.gates import GATES
        from qsim.state.memory import max_qubits

        ranks = 1 if self.comm is None else self.comm.Get_size()
        return {
            "deviceArn": self.arn,
            "precision": self.precision,
            "ranks": ranks,
            "qubitCount": max_qubits(dtype_for(self.precision)) + (ranks.bit_length() - 1),
            "supportedOperations": sorted(set(GATES) | {"unitary"}),
            "supportedModifiers": ["ctrl", "negctrl", "pow", "inv"],
            "supportedResultTypes": ["expectation", "variance", "probability", "sample", "statevector",
                                     "densitymatrix", "amplitude", "adjoint_gradient"],
            "shotsRange": [0, 2 ** 63 - 1],
        }

    def to_circuit(self, program, inputs=None) -> Circuit:
        """An OpenQASM string or a Circuit, with ``inputs`` bound."""
        if isinstance(program, Circuit):
            return program.bind(inputs)
        source = program if isinstance(program, str) else getattr(program, "source", None)
        if isinstance(source, str):  # a braket.ir.openqasm.Program (or alike): its inputs, then ours
            from qsim import qasm

            if not isinstance(program, str):
                inputs = {**(getattr(program, "inputs", None) or {}), **(inputs or {})}
            if "adjoint_gradient" in source:
                # the gradient is taken through the gate angles' expressions of the inputs
                return qasm.parse(source, inputs or {}, symbolic_inputs=True).bind(inputs or {})
            return qasm.parse(source, inputs or {})
        raise ValidationError(f"a program must be an OpenQASM 3 string, a qsim.Circuit or an object with an OpenQASM "
                              f"`source` (braket.ir.openqasm.Program), got {type(program).__name__}")

    # ------------------------------------------------------------------ compiled programs
    def _remember(self, key, entry):
        self._cache[key] = entry
        self._cache.move_to_end(key)
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)

    def compile(self, program, inputs=None):
        """``(CompiledCircuit, values)`` for ``program`` run with ``inputs``, from the cache when this
        program (the same Circuit object, or the same OpenQASM text and non-float inputs) was
        compiled before; None for a program that cannot be compiled symbolically (it is then parsed
        and lowered per call)."""
        from qsim.state.compile import CompiledCircuit

        options = self.backend.fusion_options()
        inputs = dict(inputs or {})
        if isinstance(program, Circuit):
            key = ("circuit", id(program), len(program.instructions), len(program.result_types))
            entry = self._cache.get(key)
            if entry is None or entry.circuit is not program:
                entry = CompiledCircuit(program, **options)
                self._remember(key, entry)
            return entry, inputs
        source = program if isinstance(program, str) else getattr(program, "source", None)
        if not isinstance(source, str):
            return None
        if not isinstance(program, str):
            inputs = {**(getattr(program, "inputs", None) or {}), **inputs}
        if source in self._not_symbolic:
            return None
        entry = self._cache.get(("qasm", source))
        if entry is not None:
            compiled, fixed = entry
            if all(k in inputs and inputs[k] == v for k, v in fixed.items()):
                self._cache.move_to_end(("qasm", source))
                return compiled, inputs
        compiled = self._compile_qasm(source, inputs)
        if compiled is None:
            self._not_symbolic.add(source)
            return None
        fixed = {k: v for k, v in inputs.items() if k not in compiled.free}
        self._remember(("qasm", source), (compiled, fixed))
        return compiled, inputs

    def _compile_qasm(self, source, inputs):
        """The program parsed with symbolic float inputs, if that means the same circuit as parsing
        it with the values (checked once, here); else None."""
        from qsim import qasm
        from qsim.errors import QsimError
        from qsim.state.compile import CompiledCircuit

        try:
            symbolic = qasm.parse(source, inputs, symbolic_inputs=True)
        except (QsimError, TypeError, ValueError, ArithmeticError):
            return None
        plain = qasm.parse(source, inputs)  # errors here are the program's own: raised
        bound = symbolic.bind(inputs) if symbolic.free_parameters() <= set(inputs) else None
        if bound is None or not _same_circuit(bound, plain):
            return None
        return CompiledCircuit(symbolic, **self.backend.fusion_options())

    # ------------------------------------------------------------------ running
    def run(self, program, shots: int = 0, inputs: dict | None = None, *, seed: int | None = None) -> Task:
        """Run ``program`` and return a finished task."""
        from qsim.state.executor import execute, execute_compiled

        backend = self.backend
        seed = backend.agree_on_seed(self.seed if seed is None else seed, shots)
        compiled = self.compile(program, inputs)
        circuit = compiled[0].circuit if compiled is not None else self.to_circuit(program, inputs)
        # the circuit: a distributed backend replicates a state too small to shard for its widest gate
        make_state, extra = backend.state_factory(circuit), backend.metadata()
        if compiled is not None:
            result = execute_compiled(compiled[0], compiled[1], shots, make_state, seed=seed, device_id=self.arn,
                                      extra_metadata=extra)
        else:
            result = execute(circuit, shots, make_state, seed=seed, device_id=self.arn, extra_metadata=extra,
                             **backend.fusion_options())
        return Task(result)

    def run_batch(self, programs, shots: int = 0, inputs=None, *, seed: int | None = None) -> TaskBatch:
        """Run several programs, or one program with several input sets, in order (Braket's
        ``run_batch``): ``programs`` a list (or one program, repeated for each of ``inputs``),
        ``inputs`` one dict for all or a list with one dict per program.  A task that fails
        (a ``QsimError``) is reported in its place and the others still run; with ``seed`` task
        ``i`` uses ``seed + i``.  Many input sets of one program reuse its compiled circuit."""
        single = isinstance(programs, (str, Circuit)) or hasattr(programs, "source")
        if isinstance(inputs, (list, tuple)):
            input_list = [dict(i or {}) for i in inputs]
            if single:
                programs = [programs] * len(input_list)
            elif len(programs) != len(input_list):
                raise ValidationError(f"run_batch got {len(programs)} programs but {len(input_list)} input sets")
        else:
            programs = [programs] if single else list(programs)
            input_list = [dict(inputs or {})] * len(programs)
        from qsim.errors import QsimError

        tasks = []
        for i, (program, values) in enumerate(zip(programs, input_list)):
            try:
                tasks.append(self.run(program, shots, values, seed=None if seed is None else seed + i))
            except QsimError as e:
                tasks.append(FailedTask(e))
        return TaskBatch(tasks)


def _same_circuit(a, b) -> bool:
    """Whether two bound circuits have the same instructions (gate angles to rounding)."""
    from qsim.circuit.operations import GateOp

    if len(a.instructions) != len(b.instructions) or len(a.result_types) != len(b.result_types):
        return False
    for x, y in zip(a.instructions, b.instructions):
        if isinstance(x, GateOp) != isinstance(y, GateOp):
            return False
        if isinstance(x, GateOp):
            if (x.name, x.targets, x.controls, x.control_states, x.exponents) != \
                    (y.name, y.targets, y.controls, y.control_states, y.exponents):
                return False
            if len(x.params) != len(y.params) or any(abs(float(p) - float(q)) > 1e-12 * max(1.0, abs(float(q)))
                                                     for p, q in zip(x.params, y.params)):
                return False
        elif type(x) is not type(y):
            return False
    return True


def get_device(arn: str = STATEVECTOR_ARN, **options):
    if arn not in KNOWN_DEVICES:
        known = ", ".join(f"'{k}'" for k in KNOWN_DEVICES)
        raise ValidationError(f"unknown device ARN {arn!r}; known devices: {known}")
    return StateVectorDevice(**options)


class _CallableModule(types.ModuleType):
    """``qsim.device`` is both this module and the function ``qsim.device(arn, **options)``."""

    def __call__(self, arn: str = STATEVECTOR_ARN, **options):
        return get_device(arn, **options)


sys.modules[__name__].__class__ = _CallableModule
