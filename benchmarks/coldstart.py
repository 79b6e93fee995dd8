"""Cold start: wall time of ``python -m qsim run`` on a 5-qubit program, in a fresh process.

The Numba on-disk cache is warmed first (one untimed run), so the figure is what a user sees on
every later invocation: interpreter start, imports, parsing, loading the cached kernels, the run
and printing the JSON.  A second, instrumented subprocess splits that time into phases, and
``python -X importtime`` lists the slowest imports.

    python benchmarks/coldstart.py                 # 5 runs, best and median
    python benchmarks/coldstart.py --smoke
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    from benchmarks import _common as C
except ImportError:  # run as a script
    import _common as C

PROGRAM = """OPENQASM 3.0;
qubit[5] q;
bit[5] c;
h q[0];
cnot q[0], q[1];
rx(0.3) q[2];
cnot q[1], q[2];
ry(0.7) q[3];
cz q[2], q[3];
h q[4];
cnot q[3], q[4];
c = measure q;
"""

# Phases, timed inside one fresh interpreter (printed as JSON on stdout).
PHASES = r"""
import json, sys, time
t = {"start": time.perf_counter()}
import numpy
t["numpy"] = time.perf_counter()
import qsim
t["import qsim"] = time.perf_counter()
from qsim import qasm
t["import qsim.qasm"] = time.perf_counter()
import qsim.state.executor, qsim.state.statevector
t["import qsim.state (numba)"] = time.perf_counter()
src = open(sys.argv[1]).read()
circuit = qasm.parse(src, {})
t["parse"] = time.perf_counter()
dev = qsim.device()
result = dev.run(circuit, shots=100, seed=1).result()
t["first run (kernel cache loads)"] = time.perf_counter()
result = dev.run(circuit, shots=100, seed=1).result()
t["second run"] = time.perf_counter()
keys = list(t)
print(json.dumps({k: t[k] - t[p] for p, k in zip(keys, keys[1:])}))
"""


def _env():
    env = dict(os.environ)
    env.setdefault("PYTHONDONTWRITEBYTECODE", "0")
    return env


def time_cli(path: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "qsim", "run", path, "--shots", "100", "--compact"], check=True,
                   stdout=subprocess.DEVNULL, env=_env(), cwd=C.REPO)
    return time.perf_counter() - t0


def phases(path: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PHASES, path], check=True, capture_output=True, text=True,
                         env=_env(), cwd=C.REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def slow_imports(path: str, top: int = 12) -> list:
    err = subprocess.run([sys.executable, "-X", "importtime", "-m", "qsim", "run", path, "--shots", "10"],
                         capture_output=True, text=True, env=_env(), cwd=C.REPO).stderr
    rows = []
    for line in err.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line[len("import time:"):].split("|")
        try:
            self_us, cum_us = int(parts[0]), int(parts[1])
        except ValueError:
            continue
        name = parts[2].rstrip()
        depth = (len(name) - len(name.lstrip())) // 2
        rows.append({"module": name.strip(), "self_ms": self_us / 1e3, "cumulative_ms": cum_us / 1e3,
                     "depth": depth})
    tops = [r for r in rows if r["depth"] <= 1]
    return sorted(tops, key=lambda r: -r["cumulative_ms"])[:top]


def main(argv=None) -> dict:
    p = C.add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    args = p.parse_args(argv)
    reps = args.reps or (1 if args.smoke else 5)
    ctx = C.context()
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "five.qasm")
        Path(path).write_text(PROGRAM)
        time_cli(path)  # warm the Numba cache and the OS file cache
        times = [time_cli(path) for _ in range(reps)]
        split = phases(path)
        imports = [] if args.smoke else slow_imports(path)
    payload = {"benchmark": "coldstart", "context": ctx, "reps": reps, "cli_times_s": times,
               "best_s": min(times), "median_s": sorted(times)[len(times) // 2], "phases_s": split,
               "slowest_imports": imports}
    path_out = C.write("coldstart" + ("_smoke" if args.smoke else ""), payload, args.out)
    print(f"python -m qsim run (5 qubits, 100 shots): best {min(times):.2f} s, median {payload['median_s']:.2f} s "
          f"over {reps}")
    for k, v in split.items():
        print(f"  {k:34s} {v * 1e3:8.1f} ms")
    for r in imports:
        print(f"  import {r['module']:40s} {r['cumulative_ms']:8.1f} ms cumulative")
    print(f"-> {path_out}")
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
