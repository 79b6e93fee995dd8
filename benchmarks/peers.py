"""qsim and its peers in ONE run, interleaved, on the same circuits: time, passes over the state, peak RSS.

Each cell (simulator, workload, n, precision) runs in a fresh subprocess (so its peak RSS is its
own; what is reported is the peak resident size the run adds to the warmed-up process, as
``benchmarks/memory.py`` measures it, so 1.0 is the state alone): it builds the circuit in the simulator's own API, runs one untimed warm-up at n=14 (JIT
and plan caches), then times ``reps`` runs of the full circuit including handing the final state
back as an array.  Cells are interleaved: rep 1 of every simulator, then rep 2, ... so that noise
from other tenants hits them alike.  "passes" = time / one in-place read-modify-write pass over a
state of the same size, measured in its own subprocess between the cells (the bound for one
unfused gate); ratios from one run are the figures to quote, not seconds.  ``dense1`` (one dense
1-qubit gate on every bit: passes / n per gate) and ``block4`` (four 4-qubit unitaries: passes / 4
per block; qsim only) check the kernels against the pass.

    python benchmarks/peers.py                 # brick + QFT, n=24
    python benchmarks/peers.py --n 26 --reps 1
    python benchmarks/peers.py --smoke

Peers (the ``peers`` extra): qsimcirq (Google qsim, complex64, max_fused_gate_size 2-4),
qiskit-aer (complex128, its default fusion), qulacs (complex128, optimize(c, 2)),
pennylane-lightning (lightning.qubit, complex128), the Braket local simulator's core (complex128).
A peer that is not installed is reported as such and skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

try:
    from benchmarks import _common as C
except ImportError:  # run as a script
    import _common as C

HERE = os.path.dirname(os.path.abspath(__file__))
SIMS = ["qsim-c128", "qsim-c64", "qsimcirq-f2", "qsimcirq-f3", "qsimcirq-f4", "aer", "qulacs", "lightning",
        "braket"]


# ----------------------------------------------------------------------------- the workloads, as gate lists
def gates(kind: str, n: int, seed: int = 1234):
    """[(name, qubits, angle)] for the peers' QFT and brick circuits (benchmarks/workloads.py)."""
    out = []
    if kind == "qft":
        for q in range(n):
            out.append(("h", (q,), 0.0))
            for k, ctrl in enumerate(range(q + 1, n), start=2):
                out.append(("cphase", (ctrl, q), 2 * np.pi / 2 ** k))
        for q in range(n // 2):
            out.append(("swap", (q, n - 1 - q), 0.0))
    elif kind == "brick":
        rng = np.random.default_rng(seed)
        for layer in range(10):
            for q in range(n):
                for g in ("rx", "ry", "rz"):
                    out.append((g, (q,), float(rng.uniform(0, 2 * np.pi))))
            for q in range(layer % 2, n - 1, 2):
                out.append(("cnot", (q, q + 1), 0.0))
    elif kind == "dense1":  # one dense 1-qubit gate on every bit
        out = [("ry", (q,), 0.3 + 0.01 * q) for q in range(n)]
    elif kind == "block4":  # one fused 4-qubit block (a random unitary) on mid qubits, 4 times
        rng = np.random.default_rng(seed)
        out = [("i", (q,), 0.0) for q in range(n)]  # every qubit used (only used qubits are simulated)
        for r in range(4):
            u, _ = np.linalg.qr(rng.normal(size=(16, 16)) + 1j * rng.normal(size=(16, 16)))
            out.append(("unitary", tuple(range(n // 2 - 2 + r, n // 2 + 2 + r)), u))
    else:
        raise ValueError(kind)
    return out


# ----------------------------------------------------------------------------- one runner per simulator
def _qsim(precision):
    import qsim
    from qsim import Circuit

    dev = qsim.device(precision=precision)

    def build(gl, n):
        c = Circuit()
        for name, qs, a in gl:
            if name == "cphase":
                c.cphaseshift(qs[0], qs[1], a)
            elif name == "unitary":
                c.unitary(a, list(qs))
            elif name in ("rx", "ry", "rz"):
                getattr(c, name)(qs[0], a)
            else:
                getattr(c, name)(*qs)
        return c.state_vector()

    return build, lambda c: dev.run(c).result().values[0]


def _qsimcirq(fused):
    import cirq
    import qsimcirq

    sim = qsimcirq.QSimSimulator(qsimcirq.QSimOptions(max_fused_gate_size=fused, cpu_threads=os.cpu_count()))

    def build(gl, n):
        q = cirq.LineQubit.range(n)
        ops = []
        for name, qs, a in gl:
            if name == "h":
                ops.append(cirq.H(q[qs[0]]))
            elif name == "cphase":
                ops.append(cirq.CZPowGate(exponent=a / np.pi).on(q[qs[0]], q[qs[1]]))
            elif name == "swap":
                ops.append(cirq.SWAP(q[qs[0]], q[qs[1]]))
            elif name == "cnot":
                ops.append(cirq.CNOT(q[qs[0]], q[qs[1]]))
            else:
                ops.append(getattr(cirq, name)(a).on(q[qs[0]]))
        return cirq.Circuit(ops)

    return build, lambda c: sim.simulate(c).final_state_vector


def _aer():
    from qiskit import QuantumCircuit
    from qiskit_aer import AerSimulator

    sim = AerSimulator(method="statevector", max_parallel_threads=os.cpu_count())

    def build(gl, n):
        c = QuantumCircuit(n)
        for name, qs, a in gl:
            if name == "cphase":
                c.cp(a, qs[0], qs[1])
            elif name == "cnot":
                c.cx(*qs)
            elif name in ("rx", "ry", "rz"):
                getattr(c, name)(a, qs[0])
            else:
                getattr(c, name)(*qs)
        c.save_statevector()
        return c

    return build, lambda c: np.asarray(sim.run(c).result().get_statevector())


def _qulacs():
    from qulacs import QuantumCircuit, QuantumState
    from qulacs.circuit import QuantumCircuitOptimizer
    from qulacs.gate import CNOT, RX, RY, RZ, SWAP, DenseMatrix, H

    def build(gl, n):
        c = QuantumCircuit(n)
        for name, qs, a in gl:
            if name == "cphase":
                g = DenseMatrix(qs[1], np.diag([1, np.exp(1j * a)]))
                g.add_control_qubit(qs[0], 1)
                c.add_gate(g)
            elif name == "h":
                c.add_gate(H(qs[0]))
            elif name == "swap":
                c.add_gate(SWAP(*qs))
            elif name == "cnot":
                c.add_gate(CNOT(*qs))
            else:
                c.add_gate({"rx": RX, "ry": RY, "rz": RZ}[name](qs[0], a))
        QuantumCircuitOptimizer().optimize(c, 2)
        return c, n

    def run(cn):
        c, n = cn
        s = QuantumState(n)
        c.update_quantum_state(s)
        return s.get_vector()

    return build, run


def _lightning():
    import pennylane as qml

    def build(gl, n):
        dev = qml.device("lightning.qubit", wires=n)
        ops = {"h": qml.Hadamard, "swap": qml.SWAP, "cnot": qml.CNOT}

        @qml.qnode(dev)
        def circuit():
            for name, qs, a in gl:
                if name == "cphase":
                    qml.ControlledPhaseShift(a, wires=list(qs))
                elif name in ops:
                    ops[name](wires=list(qs))
                else:
                    {"rx": qml.RX, "ry": qml.RY, "rz": qml.RZ}[name](a, wires=qs[0])
            return qml.state()

        return circuit

    return build, lambda c: c()


def _braket():
    from braket.circuits import Circuit
    from braket.default_simulator.gate_operations import CPhaseShift, CX, Hadamard, RotX, RotY, RotZ, Swap
    from braket.default_simulator.state_vector_simulation import StateVectorSimulation

    def build(gl, n):
        ops = []
        for name, qs, a in gl:
            if name == "cphase":
                ops.append(CPhaseShift(list(qs), a))
            elif name == "h":
                ops.append(Hadamard(list(qs)))
            elif name == "swap":
                ops.append(Swap(list(qs)))
            elif name == "cnot":
                ops.append(CX(list(qs)))
            else:
                ops.append({"rx": RotX, "ry": RotY, "rz": RotZ}[name](list(qs), a))
        return ops, n

    def run(on):
        ops, n = on
        sim = StateVectorSimulation(n, 0, 1)
        sim.evolve(ops)
        return sim.state_vector

    del Circuit
    return build, run


def runner(sim):
    if sim == "qsim-c128":
        return _qsim("double")
    if sim == "qsim-c64":
        return _qsim("single")
    if sim.startswith("qsimcirq"):
        return _qsimcirq(int(sim[-1]))
    return {"aer": _aer, "qulacs": _qulacs, "lightning": _lightning, "braket": _braket}[sim]()


def cell(sim, kind, n, reps):
    """Run in a subprocess: warm up at a small n, then time ``reps`` runs at n."""
    build, run = runner(sim)
    run(build(gates(kind, 14), 14))  # 14: the width from which fusion makes k-qubit blocks
    if sim.startswith("qsim-"):  # the fusion cost model: calibrated once per machine (cached), not timed
        from qsim.kernels.costs import dense_costs

        dense_costs("single" if sim == "qsim-c64" else "double", width=n)
    base = C.peak_rss_bytes()  # interpreter, libraries, compiled kernels: not the run's cost
    c = build(gates(kind, n), n)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        state = run(c)
        times.append(time.perf_counter() - t0)
        del state
    return {"times": times, "maxrss_mib": (C.peak_rss_bytes() - base) / 2 ** 20}


def rmw_cell(n, itemsize):
    from numba import njit, prange

    @njit(parallel=True)
    def rmw(s, w):
        for i in prange(s.shape[0]):
            s[i] *= w

    s = np.ones(1 << n, dtype=np.complex128 if itemsize == 16 else np.complex64)
    w = s.dtype.type(1.0)
    rmw(s, w)
    ts = []
    for _ in range(5):
        t0 = time.perf_counter()
        rmw(s, w)
        ts.append(time.perf_counter() - t0)
    return {"times": [min(ts)]}


def _sub(args, timeout):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([C.REPO.as_posix(), os.environ.get("PYTHONPATH", "")]))
    try:
        out = subprocess.run([sys.executable, os.path.join(HERE, "peers.py"), *args], capture_output=True, text=True,
                             timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": last[:300]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    p = C.add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    p.add_argument("--n", type=int, nargs="*", default=[24])
    p.add_argument("--kind", nargs="*", default=["brick", "qft"], choices=["brick", "qft", "dense1", "block4"])
    p.add_argument("--sims", nargs="*", default=None, help=f"subset of {SIMS}")
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--cell", nargs=4, metavar=("SIM", "KIND", "N", "REPS"), help=argparse.SUPPRESS)
    p.add_argument("--rmw", nargs=2, type=int, metavar=("N", "ITEMSIZE"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.cell:
        sim, kind, n, reps = args.cell
        print(json.dumps(cell(sim, kind, int(n), int(reps))))
        return {}
    if args.rmw:
        print(json.dumps(rmw_cell(*args.rmw)))
        return {}
    ns = [10] if args.smoke else args.n
    reps = 1 if args.smoke else (args.reps or 2)
    sims = args.sims or (["qsim-c128", "qsim-c64"] if args.smoke else SIMS)
    ctx = C.context()
    rows = {}
    for n in ns:
        for kind in args.kind:
            passes = {isz: _sub(["--rmw", str(n), str(isz)], args.timeout) for isz in (16, 8)}
            for rep in range(reps):
                for sim in sims:
                    if (sim == "braket" and n > 26) or (kind == "block4" and not sim.startswith("qsim-")):
                        continue
                    r = _sub(["--cell", sim, kind, str(n), "1"], args.timeout)
                    row = rows.setdefault((kind, n, sim), {"times": [], "maxrss_mib": 0.0})
                    if "error" in r:
                        row["error"] = r["error"]
                        continue
                    row["times"] += r["times"]
                    row["maxrss_mib"] = max(row["maxrss_mib"], r["maxrss_mib"])
            for sim in sims:
                row = rows.get((kind, n, sim))
                if not row or not row["times"]:
                    continue
                isz = 8 if sim in ("qsim-c64",) or sim.startswith("qsimcirq") else 16
                one = passes[isz].get("times", [float("nan")])[0]
                row["best_s"] = min(row["times"])
                row["median_s"] = float(np.median(row["times"]))
                row["passes"] = row["best_s"] / one
                row["pass_s"] = one
                row["rss_over_state"] = row["maxrss_mib"] * 2 ** 20 / (isz * 2 ** n)
    table = []
    print(f"{'workload':8s} {'n':>3s} {'simulator':12s} {'best s':>8s} {'passes':>7s} {'RSS/state':>9s}  vs qsim-c128")
    for (kind, n, sim), row in rows.items():
        base = rows.get((kind, n, "qsim-c128"), {}).get("best_s")
        if "best_s" not in row:
            print(f"{kind:8s} {n:3d} {sim:12s} {row.get('error', 'no result')}")
            table.append({"kind": kind, "n": n, "sim": sim, **row})
            continue
        ratio = row["best_s"] / base if base else float("nan")
        print(f"{kind:8s} {n:3d} {sim:12s} {row['best_s']:8.3f} {row['passes']:7.1f} {row['rss_over_state']:9.2f}  "
              f"{ratio:6.2f}x")
        table.append({"kind": kind, "n": n, "sim": sim, **row, "time_over_qsim_c128": ratio})
    out = {"context": ctx, "reps": reps, "rows": table}
    C.write("peers", out, args.out)
    return out


if __name__ == "__main__":
    main()
