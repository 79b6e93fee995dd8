"""``python -m qsim``: run programs and print Braket-shaped JSON; bad input -> non-zero exit and one
``qsim: error: ...`` line on stderr, never a traceback; ``info`` reports the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

BELL = """OPENQASM 3.0;
qubit[2] q;
h q[0];
cnot q[0], q[1];
#pragma braket result state_vector
#pragma braket result probability
#pragma braket result expectation z(q[0]) @ z(q[1])
"""

PARAMETRIC = """OPENQASM 3.0;
input float theta;
bit[2] b;
qubit[2] q;
rx(theta) q[0];
cnot q[0], q[1];
b = measure q;
"""


def qsim_cli(*args, cwd=None):
    env = dict(os.environ)
    env.pop("QSIM_TRACEBACK", None)
    return subprocess.run([sys.executable, "-m", "qsim", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or REPO, env=env, timeout=120)


@pytest.fixture
def programs(tmp_path):
    (tmp_path / "bell.qasm").write_text(BELL)
    (tmp_path / "param.qasm").write_text(PARAMETRIC)
    (tmp_path / "bad.qasm").write_text("OPENQASM 3.0;\nqubit[2] q;\ncnot q[1], q[1];\n")
    (tmp_path / "syntax.qasm").write_text("OPENQASM 3.0;\nqubit[2] q;\nh q[0]\nx q[1];\n")
    (tmp_path / "mixed.qasm").write_text(
        "OPENQASM 3.0;\nqubit[2] q;\nh q[0];\ncnot q[0], q[1];\nreset q[0];\n#pragma braket result state_vector\n")
    return tmp_path


def _assert_one_error_line(out, code=2):
    assert out.returncode == code, (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qsim: error: "), out.stderr
    assert out.stdout == ""
    return lines[0]


def test_run_exact(programs):
    out = qsim_cli("run", programs / "bell.qasm")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert [r["type"]["type"] for r in d["resultTypes"]] == ["statevector", "probability", "expectation"]
    sv = np.array([complex(*z) for z in d["resultTypes"][0]["value"]])
    np.testing.assert_allclose(sv, [2 ** -0.5, 0, 0, 2 ** -0.5], atol=1e-12)
    assert d["resultTypes"][2]["value"] == pytest.approx(1.0)
    assert d["taskMetadata"]["shots"] == 0
    from braket.task_result import GateModelTaskResult

    GateModelTaskResult.parse_obj(d)


def test_run_with_shots_seed_inputs_compact(programs):
    args = ("run", programs / "param.qasm", "--shots", "50", "--seed", "3", "--input", "theta=1.2", "--compact")
    a, b = qsim_cli(*args), qsim_cli(*args)
    assert a.returncode == 0, a.stderr
    assert len(a.stdout.strip().splitlines()) == 1
    da, db = json.loads(a.stdout), json.loads(b.stdout)
    assert da["measurements"] == db["measurements"] and len(da["measurements"]) == 50
    assert {tuple(m) for m in da["measurements"]} <= {(0, 0), (1, 1)}
    assert da["measuredQubits"] == [0, 1]
    single = qsim_cli("run", programs / "bell.qasm", "--precision", "single")
    assert json.loads(single.stdout)["additionalMetadata"]["qsimMetadata"]["precision"] == "single"


def test_repository_example_runs():
    example = REPO / "examples" / "qasm" / "bell.qasm"
    if not example.exists():
        pytest.skip("examples/qasm/bell.qasm is not in this checkout")
    out = qsim_cli("run", example)
    assert out.returncode == 0 and json.loads(out.stdout)["resultTypes"]


BAD_INPUT = [
    (("run", "{dir}/missing.qasm"), "cannot read program file"),
    (("run", "{dir}/bell.qasm", "--shots", "-3"), "negative"),
    (("run", "{dir}/bell.qasm", "--input", "theta"), "is not NAME=VALUE"),
    (("run", "{dir}/bell.qasm", "--input", "theta=abc"), "not a number"),
    (("run", "{dir}/param.qasm"), "theta"),  # missing input
    (("run", "{dir}/bad.qasm"), "line 3"),
    (("run", "{dir}/syntax.qasm"), "line 4"),
    (("run", "{dir}/bell.qasm", "--shots", "10"), "only available with shots=0"),
    (("run", "{dir}/mixed.qasm"), "mixture"),
]


@pytest.mark.parametrize("args, match", BAD_INPUT)
def test_bad_input_gives_one_line_in_process(programs, args, match, capsys):
    """The same entry point as ``python -m qsim``, called in-process (fast) for every bad input."""
    from qsim.cli import main

    code = main([a.format(dir=programs) for a in args])
    captured = capsys.readouterr()
    line = _assert_one_error_line(subprocess.CompletedProcess(args, code, captured.out, captured.err))
    assert match in line


@pytest.mark.parametrize("args, match", [BAD_INPUT[0], BAD_INPUT[5], BAD_INPUT[6]])
def test_bad_input_gives_one_line_subprocess(programs, args, match):
    out = qsim_cli(*[a.format(dir=programs) for a in args])
    line = _assert_one_error_line(out)
    assert match in line


def test_argparse_errors_are_one_line(programs):
    _assert_one_error_line(qsim_cli("run", programs / "bell.qasm", "--shots", "abc"))


def test_argparse_errors_have_no_traceback(programs):
    out = qsim_cli("run", programs / "bell.qasm", "--shots", "abc")
    assert out.returncode == 2 and "Traceback" not in out.stderr and "'abc' is not an integer" in out.stderr
    out = qsim_cli("frobnicate")
    assert out.returncode == 2 and "Traceback" not in out.stderr


def test_info_fields():
    out = qsim_cli("info")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    for key in ("version", "python", "numpy", "numba", "threads", "cpuCount", "memoryTotalBytes",
                "memoryAvailableBytes", "ranks", "maxQubits", "mpiLibrary"):
        assert key in info, key
    import qsim

    assert info["version"] == qsim.__version__
    assert info["ranks"] == 1 and info["threads"] >= 1
    assert 0 <= info["maxQubits"]["single"] - info["maxQubits"]["double"] <= 2
    assert 0 < info["memoryAvailableBytes"] <= info["memoryTotalBytes"]


# ------------------------------------------------------------------ bad programs of every kind (issue 10, item 13)
_MEASURED = "OPENQASM 3.0;\nqubit q;\nbit b;\nb = measure q;\n"
BAD_PROGRAMS = {
    # name: (bytes of the file, extra CLI arguments, substring of the one error line)
    "empty": (b"", (), "the program is empty"),
    "whitespace": (b"  \n\t\n  \n", (), "the program is empty"),
    "comments": (b"// just a comment\n/* and a block\n comment */\n", (), "the program is empty"),
    "binary": (bytes(range(256)) * 4, (), "is not UTF-8 text: byte 0x80 at offset 128"),
    "utf16": ("OPENQASM 3.0;\nqubit q;\nh q;\n".encode("utf-16"), (), "UTF-16"),
    "utf16-no-bom": ("OPENQASM 3.0;\nqubit q;\n".encode("utf-16-le"), (), "NUL"),
    "latin1": ("OPENQASM 3.0;\n// caf\xe9\nqubit q;\n".encode("latin-1"), (), "line 2, column 7: "),
    "deep-ifs": ((_MEASURED + "if (b) {\n" * 300 + "x q;\n" + "}\n" * 300).encode(), (), "nest 257 deep"),
    "deep-parens": (("OPENQASM 3.0;\nqubit q;\nrx(" + "(" * 3000 + "1" + ")" * 3000 + ") q;\n").encode(), (),
                    "more than the limit of 256"),
    "huge-register": (b"OPENQASM 3.0;\nqubit[2**63] q;\nh q[0];\n", ("--shots", "1"), "qubit register 'q'"),
    "huge-bit-width": (b"OPENQASM 3.0;\nbit[2**40] b;\n", ("--shots", "1"), "bit register size 1099511627776"),
    "for-cap": (b"OPENQASM 3.0;\nint n = 0;\nfor int i in [0:10**12] { n += 1; }\n", ("--shots", "1"),
                "'for' loop ran more than"),
    "pow-inf": (b"OPENQASM 3.0;\nqubit q;\npow(1e400) @ x q;\n", ("--shots", "1"), "pow() exponent"),
    "unitary-1e400": (b"OPENQASM 3.0;\nqubit q;\n#pragma braket unitary([[1e400, 0], [0, 1]]) q\n",
                      ("--shots", "1"), "not a finite number"),
    "shots-1e9": (b"OPENQASM 3.0;\nqubit[2] q;\nh q;\n", ("--shots", "1000000000"), "1000000000 shots"),
    "shots-1e30": (b"OPENQASM 3.0;\nqubit[2] q;\nh q;\n", ("--shots", str(10 ** 30)), str(10 ** 30) + " shots"),
    "density-matrix-1TiB": (b"OPENQASM 3.0;\nqubit[18] q;\nh q;\n#pragma braket result density_matrix\n", (),
                            "has 68719476736 entries"),
    "shots-caret": (b"OPENQASM 3.0;\nqubit[2] q;\nh q;\n", ("--shots", "10^30"), "'10^30' is not an integer"),
    "seed-negative": (b"OPENQASM 3.0;\nqubit[2] q;\nh q;\n", ("--shots", "3", "--seed", "-1"), "-1 is negative"),
}


@pytest.mark.parametrize("name", sorted(BAD_PROGRAMS))
def test_bad_program_one_error_line_exit_2(tmp_path, name, capsys):
    """Every category of bad program: exit 2, exactly one ``qsim: error:`` line, never exit 3."""
    from qsim.cli import main

    data, extra, match = BAD_PROGRAMS[name]
    path = tmp_path / f"{name}.qasm"
    path.write_bytes(data)
    code = main(["run", str(path), *extra])
    captured = capsys.readouterr()
    line = _assert_one_error_line(subprocess.CompletedProcess(name, code, captured.out, captured.err))
    assert match in line, line


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory"])
def test_program_that_is_not_a_regular_file_is_refused_without_blocking(tmp_path, kind):
    """A FIFO with no writer would block ``open``/``read``; /dev/zero would read without end."""
    if kind == "fifo":
        path = tmp_path / "prog.qasm"
        os.mkfifo(path)
        match = "is a FIFO"
    elif kind == "dev-zero":
        path, match = Path("/dev/zero"), "is a character device"
    else:
        path, match = tmp_path, "is a directory"
    out = qsim_cli("run", path)  # the subprocess timeout (120 s) turns a block into a failure
    assert match in _assert_one_error_line(out)


def test_bad_programs_in_a_subprocess_exit_2(tmp_path):
    """The real ``python -m qsim`` for the categories that once crashed the interpreter (exit 3), and
    the unitary with 1e400, which printed numpy warnings (pytest would catch those in-process)."""
    for name in ("comments", "latin1", "deep-parens", "unitary-1e400"):
        data, extra, match = BAD_PROGRAMS[name]
        (tmp_path / f"{name}.qasm").write_bytes(data)
        assert match in _assert_one_error_line(qsim_cli("run", tmp_path / f"{name}.qasm", *extra))


def test_program_file_over_the_size_cap_is_refused(tmp_path):
    from qsim.errors import QsimError
    from qsim.qasm.source import read_program_file

    path = tmp_path / "big.qasm"
    path.write_bytes(b"OPENQASM 3.0;\n" + b"// padding\n" * 100)
    assert read_program_file(str(path), limit=10_000).startswith("OPENQASM")
    with pytest.raises(QsimError, match="more than the limit of 100"):
        read_program_file(str(path), limit=100)


def test_utf8_byte_order_mark_is_accepted(tmp_path, capsys):
    from qsim.cli import main

    path = tmp_path / "bom.qasm"
    path.write_bytes(b"\xef\xbb\xbf" + BELL.encode())
    assert main(["run", str(path), "--compact"]) == 0
    assert json.loads(capsys.readouterr().out)["resultTypes"][1]["value"] == pytest.approx([0.5, 0, 0, 0.5])


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_a_bad_seed_through_the_api_is_a_validation_error(seed):
    import qsim
    from qsim.errors import ValidationError

    with pytest.raises(ValidationError, match="seed must be a non-negative integer"):
        qsim.device("local:qsim/statevector").run(qsim.Circuit().h(0), shots=3, seed=seed)


@pytest.mark.parametrize("value, match", [("-1", "-1 is negative"), ("1000", "at most 128"), ("x", "not an integer")])
def test_info_qubits_is_checked(value, match, capsys):
    from qsim.cli import main

    code = main(["info", "--qubits", value])
    captured = capsys.readouterr()
    assert match in _assert_one_error_line(subprocess.CompletedProcess("info", code, captured.out, captured.err))
