"""The command line: ``python -m qsim run PROGRAM.qasm``, ``python -m qsim info``, plus sub-commands
that other installed packages register under the ``qsim.cli`` entry-point group (``job``).

Bad input ends with exit code 2 and one line ``qsim: error: ...`` on stderr, never a traceback.
Under mpirun every rank runs the same command.  Errors every rank meets alike (a bad program, a bad
rank count, a result that does not fit) are agreed on collectively (``qsim.distributed.spmd.settle``)
and printed once by rank 0, and every rank exits with the same code; an error on some ranks only is
printed once by the rank that met it, which aborts the whole MPI job if the others cannot reach the
agreement point (they wait for it in a collective).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from qsim.errors import QsimError

EXIT_USER = 2
EXIT_INTERNAL = 3


def _comm():
    from qsim.device import world_comm

    return world_comm()


def _fail(message: str, code: int) -> int:
    print(f"qsim: error: {message}", file=sys.stderr, flush=True)
    return code


def _one_line(exc: BaseException) -> str:
    from qsim.distributed.spmd import one_line

    return one_line(exc)


def _parse_inputs(pairs):
    inputs = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise QsimError(f"--input {pair!r} is not NAME=VALUE")
        try:
            inputs[name] = float(value)
        except ValueError:
            raise QsimError(f"--input {name}={value!r}: the value is not a number") from None
    return inputs


def _agree(comm, error: str | None) -> int | None:
    """Agreement point after a phase every rank does alike (qsim.distributed.spmd.settle): None if
    no rank failed, else the exit code (the same on every rank), the message printed once."""
    from qsim.distributed.spmd import settle

    return settle(comm, error, EXIT_USER) or None


def _abort(comm, message: str, code: int):
    """An error met by this rank alone during collective work: say so once and end every rank."""
    from qsim.distributed.spmd import abort

    abort(comm, message, code)


def _cmd_run(args) -> int:
    comm = _comm()
    agree_comm = None
    if comm is not None:
        from qsim.distributed.spmd import agreement_comm

        agree_comm = agreement_comm(comm)
    rank = 0 if comm is None else comm.Get_rank()
    error = None
    try:
        from qsim.qasm.source import read_program_file

        source = read_program_file(args.program)
        inputs = _parse_inputs(args.input)
        import qsim
        from qsim.state.executor import validate
        from qsim.state.memory import check_results_fit, check_shots_fit

        dev = qsim.device("local:qsim/statevector", precision=args.precision, comm=comm)
        circuit = dev.to_circuit(source, inputs)
        validate(circuit, args.shots)
        share = 1 if comm is None else comm.Get_size()
        # every rank holds the results: agree on whether they fit, before running
        if args.shots:
            check_shots_fit(args.shots, len(circuit.qubits), circuit.bit_count, share=share)
        else:
            check_results_fit(circuit.result_types, len(circuit.qubits), share=share, listed=True)
    except QsimError as e:
        error = _one_line(e)
    code = _agree(agree_comm, error)
    if code is not None:
        return code
    result, error = None, None
    try:
        result = dev.run(circuit, shots=args.shots, seed=args.seed).result()
    except QsimError as e:  # on every rank alike (agreed checks), or on this one: settle decides
        error = _one_line(e)
    code = _agree(agree_comm, error)
    if code is not None:
        return code
    if rank == 0:
        result.write_json(sys.stdout, indent=None if args.compact else 1)  # large arrays a chunk at a time
        sys.stdout.write("\n")
        sys.stdout.flush()
    return 0


def _cmd_info(args) -> int:
    import numba
    import numpy as np

    import qsim
    from qsim.state.memory import available_bytes, max_qubits, total_bytes

    comm = _comm()
    ranks = 1 if comm is None else comm.Get_size()
    split = {}
    error = None
    if comm is not None:
        try:
            from qsim.distributed import DistributedRuntime

            split = DistributedRuntime(comm, "double").describe(args.qubits)  # sets threads per rank
        except QsimError as e:
            error = _one_line(e)
    code = _agree(comm, error)
    if code is not None:
        return code
    info = {
        "version": qsim.__version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "numba": numba.__version__,
        "threads": numba.get_num_threads(),
        "threadingLayer": os.environ.get("NUMBA_THREADING_LAYER", "default"),
        "cpuCount": os.cpu_count(),
        "memoryTotalBytes": total_bytes(),
        "memoryAvailableBytes": available_bytes(),
        "ranks": ranks,
    }
    try:
        from mpi4py import MPI

        info["mpiLibrary"] = MPI.Get_library_version().strip().splitlines()[0]
        info["mpi4py"] = __import__("mpi4py").__version__
    except Exception as e:  # noqa: BLE001 - info must still print without MPI
        info["mpiLibrary"] = f"unavailable ({type(e).__name__}: {e})"
    info["maxQubits"] = {p: max_qubits(np.dtype(d), share=ranks if ranks > 1 else 1) + (ranks.bit_length() - 1)
                         for p, d in (("double", np.complex128), ("single", np.complex64))}
    info.update(split)
    if comm is None or comm.Get_rank() == 0:
        print(json.dumps(info, indent=1))
    return 0


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; give a non-negative integer")
    return value


def _qubit_count(text: str) -> int:
    value = _non_negative_int(text)
    if value > 128:
        raise argparse.ArgumentTypeError(f"{value} qubits is more than any state vector can hold (at most 128)")
    return value


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``qsim: error: ...``) and exit code 2."""

    def error(self, message):
        self.exit(EXIT_USER, f"qsim: error: {self.prog}: {message} (see --help)\n")


BUILT_IN = ("run", "info")


def build_parser(plugins: bool = True) -> argparse.ArgumentParser:
    """The parser; ``plugins=False`` leaves out the sub-commands of other packages (finding them
    scans every installed distribution's entry points and imports them: ~70 ms of a cold start)."""
    parser = _OneLineParser(prog="python -m qsim", description="qsim: embedded state-vector simulator")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run an OpenQASM 3 program and print the result JSON")
    run.add_argument("program", help="path of an OpenQASM 3 file")
    run.add_argument("--shots", type=_non_negative_int, default=0,
                     help="0 (default): exact results; N > 0: sample N shots")
    run.add_argument("--seed", type=_non_negative_int, default=None,
                     help="seed for sampling, a non-negative integer (same results for the same seed)")
    run.add_argument("--precision", choices=["double", "single"], default=None,
                     help="double: complex128; single: complex64, about twice as fast, amplitudes to about "
                          "1e-6 (docs/precision.md); default $QSIM_PRECISION if set, else double")
    run.add_argument("--input", action="append", metavar="NAME=VALUE", help="value of an `input` parameter")
    run.add_argument("--compact", action="store_true", help="print the JSON on one line")
    run.set_defaults(func=_cmd_run)
    info = sub.add_parser("info", help="version, threads, MPI library and memory limits")
    info.add_argument("--qubits", type=_qubit_count, default=None,
                      help="show the local/global split for this many qubits")
    info.set_defaults(func=_cmd_info)
    if plugins:
        from importlib.metadata import entry_points  # (~25 ms: only when plug-ins are wanted)
    for ep in entry_points(group="qsim.cli") if plugins else ():
        try:
            ep.load()(sub)
        except Exception as e:  # noqa: BLE001 - a broken plug-in must not break `qsim run`
            print(f"qsim: warning: sub-command '{ep.name}' could not be loaded: {e}", file=sys.stderr)
    return parser



def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(plugins=not (argv and argv[0] in BUILT_IN))
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse already printed a one-line usage error
        return int(e.code or 0)
    try:
        return int(args.func(args) or 0)
    except QsimError as e:
        return _fail(_one_line(e), EXIT_USER)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - the CLI promises no traceback; keep one line + a hint
        if os.environ.get("QSIM_TRACEBACK"):
            raise
        from qsim.device import launched_under_mpi

        if launched_under_mpi() and args.command in ("run", "info"):  # never leave other ranks waiting
            _abort(_comm(), f"internal error ({type(e).__name__}: {_one_line(e)}); please report it",
                   EXIT_INTERNAL)
        return _fail(f"internal error ({type(e).__name__}: {_one_line(e)}); set QSIM_TRACEBACK=1 for the "
                     f"traceback and please report it", EXIT_INTERNAL)
