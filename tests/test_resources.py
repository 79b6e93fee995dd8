"""Every allocation that grows with the input is checked first (issue 10, item 8): shots whose
results would not fit, shots=0 branching on mid-circuit measurements, loops, registers, nesting."""

from __future__ import annotations

import numpy as np
import pytest

import qsim
from qsim.errors import ProgramError, ResourceError
from qsim.qasm import limits, parse
from qsim.state import memory

BRANCHING = """OPENQASM 3.0;
qubit[12] q;
bit[4] b;
h q;
b[0] = measure q[0];
b[1] = measure q[1];
b[2] = measure q[2];
b[3] = measure q[3];
h q[0:3];
#pragma braket result probability q[4]
"""


def _pretend_available(monkeypatch, usable_bytes):
    """Make ``memory`` see ``usable_bytes`` usable (after its 5% and 256 MiB headroom)."""
    have = int((usable_bytes + (256 << 20)) / 0.95) + 1
    monkeypatch.setattr(memory, "available_bytes", lambda: have)


def test_shot_results_that_do_not_fit_are_refused_naming_the_numbers(monkeypatch):
    _pretend_available(monkeypatch, 50 << 20)
    dev = qsim.device("local:qsim/statevector")
    circuit = parse("OPENQASM 3.0;\nqubit[2] q;\nh q;\n")
    with pytest.raises(ResourceError, match=r"1000000000 shots on 2 qubit\(s\) need about \d+ bytes.*available"):
        dev.run(circuit, shots=10 ** 9)
    need = memory.shot_result_bytes(10 ** 9, 2, 1, 2)
    assert need > 50 << 20
    assert len(dev.run(circuit, shots=1000).result().measurements) == 1000  # a small count still runs


def test_shot_estimate_grows_with_shots_and_qubits():
    assert memory.shot_result_bytes(2000, 3) == 2 * memory.shot_result_bytes(1000, 3)
    assert memory.shot_result_bytes(1000, 20) > memory.shot_result_bytes(1000, 2)
    memory.check_shots_fit(10, 2)  # does not raise
    with pytest.raises(ResourceError, match=str(10 ** 30)):
        memory.check_shots_fit(10 ** 30, 2)


def test_branching_is_bounded_by_memory(monkeypatch):
    """12 qubits (64 KiB a state) and 4 measurements of |+> would hold 16 branch states: allow 5."""
    one = memory.state_bytes(12, np.complex128)
    _pretend_available(monkeypatch, 5 * one)
    dev = qsim.device("local:qsim/statevector")
    with pytest.raises(ResourceError, match=r"mid-circuit measurement \d+ .* 12-qubit states .* bytes"):
        dev.run(parse(BRANCHING), shots=0)


def test_branching_that_fits_runs(monkeypatch):
    result = qsim.device("local:qsim/statevector").run(parse(BRANCHING), shots=0).result()
    np.testing.assert_allclose(result.values[0], [0.5, 0.5], atol=1e-12)
    assert result.additional_metadata["qsimMetadata"]["pathsMax"] == 16


@pytest.mark.parametrize("loop", [
    "for int i in [0:{n}] {{ x q; }}",
    "for int i in [{n}:-1:0] {{ }}",
    "int j = 0;\nwhile (j < {n} + 5) {{ j += 1; }}",
])
def test_for_and_while_share_one_iteration_cap(loop, monkeypatch):
    assert qsim.qasm.MAX_WHILE_ITERATIONS == limits.MAX_LOOP_ITERATIONS == 100_000
    n = 1000
    monkeypatch.setattr(limits, "MAX_LOOP_ITERATIONS", n)  # the one home: both loops see it
    kind = "for" if loop.startswith("for") else "while"
    with pytest.raises(ProgramError, match=f"'{kind}' loop ran more than {n} iterations"):
        parse("OPENQASM 3.0;\nqubit q;\n" + loop.format(n=n) + "\n")
    parse("OPENQASM 3.0;\nqubit q;\n" + loop.format(n=n - 10) + "\n")  # under the cap: fine


def test_a_for_loop_that_breaks_early_over_a_huge_range_is_fine():
    c = parse("OPENQASM 3.0;\nqubit q;\nfor int i in [0:10**15] { if (i == 3) { break; } x q; }\n")
    assert len(c.instructions) == 3


@pytest.mark.parametrize("decl, match", [
    ("qubit[2**63] q;", "qubit register 'q' of 9223372036854775808 qubits"),
    ("qubit[40000] a;\nqubit[40000] b;", "40000 declared before"),
    ("bit[2**40] b;", "bit register size 1099511627776"),
    ("int[2**20] i;", "type width 1048576"),
    ("array[int[8], 2**20, 2**20] a;", "more than 65536 elements"),
])
def test_declarations_that_grow_without_bound_are_refused(decl, match):
    with pytest.raises(ProgramError, match=match):
        parse("OPENQASM 3.0;\n" + decl + "\n")


def test_nesting_up_to_the_limit_runs_and_beyond_is_refused():
    depth = limits.MAX_NESTING - 1  # the measured-if blocks, plus one level for `(b)` inside the last if
    body = "OPENQASM 3.0;\nqubit q;\nbit b;\nb = measure q;\n" + "if (b) {\n" * depth + "x q;\n" + "}\n" * depth
    result = qsim.device("local:qsim/statevector").run(parse(body + "#pragma braket result probability\n"),
                                                       shots=0).result()
    np.testing.assert_allclose(result.values[0], [1.0, 0.0], atol=1e-12)  # measured 1 -> odd number of x
    expr = "OPENQASM 3.0;\nqubit q;\nrx(" + "(" * 200 + "0.5" + ")" * 200 + ") q;\n"
    assert parse(expr).instructions[0].params == (0.5,)
    with pytest.raises(ProgramError, match=f"nest {limits.MAX_NESTING + 1} deep"):
        parse("OPENQASM 3.0;\nqubit q;\nrx(" + "(" * 3000 + "1" + ")" * 3000 + ") q;\n")


@pytest.mark.parametrize("program", [
    "int x = " + "+".join(["1"] * 5000) + ";",               # a long chain without brackets
    "int x = " + "-" * 3000 + "1;",
    "int x = 0;\n" + "if (x == 1) { x = 2; } else " * 400 + "{ x = 3; }",
])
def test_deep_recursion_without_brackets_is_retried_with_a_big_stack(program):
    parse("OPENQASM 3.0;\n" + program + "\n")  # no RecursionError, no ProgramError


def test_exact_results_that_do_not_fit_are_refused_before_the_run(monkeypatch):
    """A density matrix on 18 qubits has 4^18 entries (1 TiB): refused up front, naming the numbers."""
    dev = qsim.device("local:qsim/statevector")
    with pytest.raises(ResourceError, match=r"'densitymatrix' on 18 qubit\(s\) has 68719476736 entries"):
        dev.run(parse("OPENQASM 3.0;\nqubit[18] q;\nh q;\n#pragma braket result density_matrix\n"), shots=0)
    _pretend_available(monkeypatch, 1 << 20)
    with pytest.raises(ResourceError, match=r"'probability' on 18 qubit\(s\)"):
        dev.run(parse("OPENQASM 3.0;\nqubit[18] q;\nh q;\n#pragma braket result probability\n"), shots=0)
    result = dev.run(parse("OPENQASM 3.0;\nqubit[2] q;\nh q;\n#pragma braket result density_matrix q[0]\n"))
    np.testing.assert_allclose(result.result().values[0], [[0.5, 0.5], [0.5, 0.5]], atol=1e-12)


@pytest.mark.parametrize("program, match", [
    ("int x = 2**(10**9);", r"2 \*\* 1000000000 would have about 1000000001 bits"),
    ("int x = 1 << (1 << 40);", "more than the limit of 4096"),
    ("int x = 3;\nfor int i in [0:100] { x = x * x; }", "integer result of '\\*' has"),
    ("qubit q;\npow(2**(2**30)) @ x q;", "more than the limit of 4096"),
    ("array[int[8], 4] a = {1, 2, 3, 4};\narray[int[8], 4] b = a[0:10**9];", "slice bound 1000000000"),
    ("qubit[2] q;\n#pragma braket result probability q[0:1000000000]", "slice bound 1000000000"),
])
def test_values_and_slices_that_grow_without_bound_are_refused_before_computing(program, match):
    """Found by tests/fuzz/fuzz_qasm.py: these once ran for minutes or allocated gigabytes."""
    with pytest.raises(ProgramError, match=match):
        parse("OPENQASM 3.0;\n" + program + "\n")
    assert parse("OPENQASM 3.0;\nint x = 10**300 + 1;\n") is not None  # big but bounded is fine
