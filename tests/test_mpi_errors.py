"""``python -m qsim run`` under ``mpirun -n 2`` and ``-n 4``: an error every rank meets prints once,
exits 2 on every rank and never goes through ``MPI_Abort`` (issue 10, item 11); a state too small
to shard for its widest gate runs replicated.  Each launch has a timeout (``test_mpi.mpirun``)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from test_mpi import ROOT, mpirun

pytestmark = [pytest.mark.mpi]

ENV = {"QSIM_MIN_DISTRIBUTED_QUBITS": "0"}
SMALL = """OPENQASM 3.0;
qubit[4] q;
h q;
ry(0.3) q[2];
ccnot q[0], q[1], q[3];
#pragma braket unitary([[1,0,0,0,0,0,0,0],[0,1,0,0,0,0,0,0],[0,0,1,0,0,0,0,0],[0,0,0,1,0,0,0,0],\
[0,0,0,0,0,0.6,0.8,0],[0,0,0,0,0,0.8,-0.6,0],[0,0,0,0,1,0,0,0],[0,0,0,0,0,0,0,1]]) q[3], q[2], q[0]
#pragma braket result probability
"""
PROGRAMS = {
    # met alike by every rank while reading and checking the program
    "empty": ("// nothing but a comment\n", (), "the program is empty"),
    "shots": ("OPENQASM 3.0;\nqubit[2] q;\nh q;\n", ("--shots", "1000000000"), "1000000000 shots"),
    # met alike by every rank after the distributed run (a result type on a mixture)
    "mixture": ("OPENQASM 3.0;\nqubit[5] q;\nbit b;\nh q;\nb = measure q[0];\nh q[0];\n"
                "#pragma braket result state_vector\n", (), "mixture of 2 branches"),
}


def _errors(text):
    return [line for line in text.splitlines() if line.startswith("qsim: error:")]


@pytest.mark.parametrize("ranks", [2, 4])
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_an_error_every_rank_meets_prints_once_without_abort(tmp_path, ranks, name):
    source, extra, match = PROGRAMS[name]
    prog = tmp_path / f"{name}.qasm"
    prog.write_text(source)
    code, out, err = mpirun(ranks, ["-m", "qsim", "run", str(prog), *extra], timeout=120, env=ENV)
    assert code == 2, err
    errors = _errors(err)
    assert len(errors) == 1 and match in errors[0], err
    assert "MPI_Abort" not in out + err and "BAD TERMINATION" not in out + err, err
    assert out.strip() == ""


@pytest.mark.parametrize("ranks", [2, 4])
def test_three_qubit_gate_on_four_qubits_runs_replicated(tmp_path, ranks):
    prog = tmp_path / "small.qasm"
    prog.write_text(SMALL)
    code, out, err = mpirun(ranks, ["-m", "qsim", "run", str(prog), "--compact"], timeout=120, env=ENV)
    assert code == 0, err
    assert _errors(err) == []
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    got = json.loads(lines[0])
    single = subprocess.run([sys.executable, "-m", "qsim", "run", str(prog), "--compact"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    want = json.loads(single.stdout)
    assert got["resultTypes"][0]["value"] == pytest.approx(want["resultTypes"][0]["value"], abs=1e-12)
    meta = got["additionalMetadata"]["qsimMetadata"]
    # 4 qubits over 4 ranks leave 2 local qubits: too few for the 3-qubit gates, so replicated
    assert meta["ranks"] == ranks and meta["distributed"] is (ranks == 2)
