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
    assert out.returncode == 2 and "Traceback" not in out.stderr and "invalid int value" in out.stderr
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
