"""The benchmark scripts still run: each in its ``--smoke`` mode (tiny sizes, one repetition),
writing its JSON to a temporary path.  No timing is asserted here, only that the scripts finish and
write the fields the README's tables are built from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _run(module: str, tmp_path: Path, *extra: str) -> dict:
    import importlib

    mod = importlib.import_module(f"benchmarks.{module}")
    out = tmp_path / f"{module}.json"
    mod.main(["--smoke", "--out", str(out), *extra])
    return json.loads(out.read_text())


def test_bandwidth_smoke(tmp_path):
    data = _run("bandwidth", tmp_path)
    assert {r["kernel"] for r in data["rows"]} == {"rmw_c128", "triad"}
    assert data["B_rmw_GBs"] > 0 and "24" in data["one_pass"]


def test_gates_smoke(tmp_path):
    data = _run("gates", tmp_path)
    cases = {r["case"] for r in data["results"][0]["rows"]}
    assert {"rmw", "dense1 bit 0", "dense1 bit n-1", "<Z> bit mid", "sample 1000 shots"} <= cases
    assert any(c.startswith("braket ") for c in cases)


def test_circuits_smoke(tmp_path):
    data = _run("circuits", tmp_path)
    assert {r["kind"] for r in data["rows"]} == {"qft", "brick"}
    assert all(r["best_s"] > 0 and r["gates"] > 0 for r in data["rows"])


def test_variational_smoke(tmp_path):
    data = _run("variational", tmp_path)
    row = data["rows"][0]
    assert row["calls"] >= 1 and row["parameters"] == 8 * row["n"]


def test_coldstart_smoke(tmp_path):
    data = _run("coldstart", tmp_path)
    assert data["best_s"] > 0 and "first run (kernel cache loads)" in data["phases_s"]


def test_workloads_match_the_peers_gate_counts():
    from benchmarks import workloads as W

    assert W.gate_count(W.qft(24)) == 312 and W.gate_count(W.brick(24)) == 835
    circuit, names = W.hea(12)
    assert W.gate_count(circuit) == 140 and len(names) == 96


def test_pytest_benchmark_file_runs_once(tmp_path):
    import pytest_benchmark  # noqa: F401  (a test dependency)
    env = dict(os.environ, QSIM_BENCH_N="8")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--benchmark-disable",
                           str(ROOT / "benchmarks" / "test_bench_kernels.py")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_qasm_parse_smoke(tmp_path):
    data = _run("qasm_parse", tmp_path)
    assert data["gates"] == 100 and len(data["cold_s"]) == len(data["reparse_s"]) == 1


def test_peers_smoke(tmp_path):
    """benchmarks/peers.py end to end on qsim alone (each cell a subprocess); peers need the extra."""
    data = _run("peers", tmp_path, "--kind", "brick", "block4")
    done = {(r["kind"], r["sim"]) for r in data["rows"] if "best_s" in r}
    assert {("brick", "qsim-c128"), ("brick", "qsim-c64"), ("block4", "qsim-c128")} <= done
    assert all(r["passes"] > 0 and r["rss_over_state"] > 0 for r in data["rows"] if "best_s" in r)
