"""The variational loop: HEA (4 layers of ry, rz on every qubit + a CNOT chain), <sum_i Z_i>, side by
side with the peers in one run, and a full adjoint gradient.

Each qsim evaluation is ``dev.run(circuit_with_FreeParameters, inputs={...}).result()`` with new
random angles, so it pays the whole per-call cost (the device compiles the circuit once and then
rebinds only the angles).  The peers do the same work their own fastest documented way: qulacs
(``ParametricQuantumCircuit.set_parameter`` + ``update_quantum_state`` + ``Observable``), PennyLane
Lightning (a QNode returning ``expval`` of the sum, ``diff_method="adjoint"`` for its gradient) and
qsimcirq (``simulate_expectation_values`` with a ``ParamResolver``, complex64).  A peer that is not
installed (``pip install -e '.[peers]'``) is skipped.  Evaluations per second = calls / total time
spent in calls (at least ``--seconds`` each); the simulators take their calls in turn, one each,
round robin, so that on a shared machine they all see the same load (likewise the gradients).  The gradient rows time one full gradient (8n parameters).

``--profile`` breaks one qsim call down into parse, bind (parameter values and gate matrices),
lower, fuse (re-binding the fused blocks), apply (kernels), results and other, for the circuit and
for the same program as OpenQASM text (Braket's form; parsed once, then re-bound).

    python benchmarks/variational.py                      # n = 12 20, qsim and peers, gradients at 20
    python benchmarks/variational.py --n 12 --profile
    python benchmarks/variational.py --ranks 2            # also the gradient on 2 MPI ranks
    python benchmarks/variational.py --smoke
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
    from benchmarks import workloads as W
except ImportError:  # run as a script
    import _common as C
    import workloads as W


# ------------------------------------------------------------------------------------- qsim
def qsim_evaluator(n, precision="double"):
    import qsim

    circuit, names = W.hea(n)
    dev = qsim.device(precision=precision)

    def evaluate(theta):
        return float(np.sum(dev.run(circuit, inputs=dict(zip(names, theta))).result().values[0]))

    return evaluate, len(names)


def qsim_gradient(n, precision="double"):
    import qsim
    from qsim.circuit import observables as obs

    circuit, names = W.hea(n)
    circuit.result_types.clear()
    circuit.adjoint_gradient([(1.0, obs.Z(), [q]) for q in range(n)])
    dev = qsim.device(precision=precision)

    def gradient(theta):
        value = dev.run(circuit, inputs=dict(zip(names, theta))).result().values[0]
        return value["expectation"], np.array([value["gradient"][k] for k in names])

    return gradient, len(names)


def hea_qasm(n, layers=4):
    """The HEA as Braket's SDK would send it (OpenQASM 3 with `input float` angles)."""
    lines = ["OPENQASM 3.0;"]
    names = [f"{ab}_{layer}_{q}" for layer in range(layers) for q in range(n) for ab in "ab"]
    lines += [f"input float {p};" for p in names]
    lines.append(f"qubit[{n}] q;")
    for layer in range(layers):
        for q in range(n):
            lines += [f"ry(a_{layer}_{q}) q[{q}];", f"rz(b_{layer}_{q}) q[{q}];"]
        lines += [f"cnot q[{q}], q[{q + 1}];" for q in range(n - 1)]
    lines.append("#pragma braket result expectation z all")
    return "\n".join(lines), names


# ------------------------------------------------------------------------------------- peers
def qulacs_evaluator(n, layers=4):
    from qulacs import Observable, ParametricQuantumCircuit, QuantumState

    c = ParametricQuantumCircuit(n)
    for _ in range(layers):
        for q in range(n):
            c.add_parametric_RY_gate(q, 0.0)
            c.add_parametric_RZ_gate(q, 0.0)
        for q in range(n - 1):
            c.add_CNOT_gate(q, q + 1)
    H = Observable(n)
    for q in range(n):
        H.add_operator(1.0, f"Z {q}")
    state = QuantumState(n)

    def evaluate(theta):
        for i, t in enumerate(theta):
            c.set_parameter(i, float(t))
        state.set_zero_state()
        c.update_quantum_state(state)
        return H.get_expectation_value(state)

    def gradient(theta):
        for i, t in enumerate(theta):
            c.set_parameter(i, float(t))
        return None, np.array(c.backprop(H))

    return evaluate, gradient, 2 * n * layers


def lightning_evaluator(n, layers=4, c_dtype=np.complex128):
    import pennylane as qml
    from pennylane import numpy as pnp

    dev = qml.device("lightning.qubit", wires=n, c_dtype=c_dtype)
    H = qml.sum(*[qml.Z(q) for q in range(n)])

    def body(theta):
        k = 0
        for _ in range(layers):
            for q in range(n):
                qml.RY(theta[k], wires=q)
                qml.RZ(theta[k + 1], wires=q)
                k += 2
            for q in range(n - 1):
                qml.CNOT(wires=[q, q + 1])
        return qml.expval(H)

    plain = qml.QNode(body, dev, diff_method=None)
    adjoint = qml.QNode(body, dev, diff_method="adjoint")
    grad = qml.grad(adjoint)

    def evaluate(theta):
        return float(plain(np.asarray(theta)))

    def gradient(theta):
        return None, np.asarray(grad(pnp.array(theta, requires_grad=True)))

    return evaluate, gradient, 2 * n * layers


def qsimcirq_evaluator(n, layers=4):
    import cirq
    import qsimcirq
    import sympy

    qubits = cirq.LineQubit.range(n)
    symbols = []
    ops = []
    for layer in range(layers):
        for q in range(n):
            a, b = sympy.Symbol(f"a_{layer}_{q}"), sympy.Symbol(f"b_{layer}_{q}")
            symbols += [a, b]
            ops += [cirq.ry(a)(qubits[q]), cirq.rz(b)(qubits[q])]
        ops += [cirq.CNOT(qubits[q], qubits[q + 1]) for q in range(n - 1)]
    circuit = cirq.Circuit(ops)
    sim = qsimcirq.QSimSimulator(qsimcirq.QSimOptions(cpu_threads=os.cpu_count() or 1))
    H = sum(cirq.Z(q) for q in qubits)

    def evaluate(theta):
        resolver = cirq.ParamResolver({s: float(t) for s, t in zip(symbols, theta)})
        return float(np.real(sim.simulate_expectation_values(circuit, observables=[H], param_resolver=resolver)[0]))

    return evaluate, None, len(symbols)


PEERS = {
    "qulacs c128": lambda n: qulacs_evaluator(n),
    "lightning c128": lambda n: lightning_evaluator(n),
    "lightning c64": lambda n: lightning_evaluator(n, c_dtype=np.complex64),
    "qsimcirq c64": lambda n: qsimcirq_evaluator(n),
}


# ------------------------------------------------------------------------------------- timing
def interleaved(sims, seconds, min_calls, seed=11):
    """Evaluations per second of every simulator in ``sims`` ({name: (evaluate, params, extra)}),
    calls taken in turn (one each, round robin) so that all of them see the same machine load;
    each keeps going until it has spent ``seconds`` and made ``min_calls`` calls."""
    rng = np.random.default_rng(seed)
    spent = {k: 0.0 for k in sims}
    calls: dict = {k: [] for k in sims}
    while any(spent[k] < seconds or len(calls[k]) < min_calls for k in sims):
        for name, (evaluate, params, _) in sims.items():
            if spent[name] >= seconds and len(calls[name]) >= min_calls:
                continue
            theta = rng.uniform(-np.pi, np.pi, params)
            t0 = time.perf_counter()
            evaluate(theta)
            dt = time.perf_counter() - t0
            spent[name] += dt
            calls[name].append(dt)
    return {k: {"calls": len(v), "evals_per_s": len(v) / sum(v), "best_call_ms": 1e3 * min(v),
                "median_call_ms": 1e3 * float(np.median(v))} for k, v in calls.items()}


def time_gradient(gradient, params, reps):
    rng = np.random.default_rng(3)
    gradient(rng.uniform(-np.pi, np.pi, params))  # warm-up (compilation, caches)
    times = C.best_of(lambda: gradient(rng.uniform(-np.pi, np.pi, params)), reps)
    return {"best_s": min(times), "median_s": float(np.median(times)), "reps": reps}


def profile_call(n, calls=30):
    """Seconds per call in each phase, for the Circuit and for the OpenQASM program."""
    import qsim
    from qsim import qasm as Q
    from qsim.state import compile as CC
    from qsim.state import executor as E
    from qsim.state import fusion as F
    from qsim.state import rebind as RB

    phases: dict = {}
    wrapped = []

    def wrap(owner, attr, phase):
        real = getattr(owner, attr)

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                phases[phase] = phases.get(phase, 0.0) + time.perf_counter() - t0

        setattr(owner, attr, timed)
        wrapped.append((owner, attr, real))

    from qsim.kernels import reductions as KR

    wrap(Q, "parse", "parse")
    wrap(CC.CompiledCircuit, "check_values", "bind")
    wrap(CC.CompiledCircuit, "_vector_matrices", "bind")
    wrap(CC._ParamGate, "matrix", "bind")
    wrap(RB.FastBinder, "unitaries", "bind+fuse")  # matrices into the array, then block_products
    wrap(KR, "block_products", "fuse")
    wrap(F.Plan, "rebind", "fuse")
    wrap(F.Plan, "bind", "fuse")
    wrap(CC, "lower", "lower")
    wrap(CC.CompiledCircuit, "__init__", "lower")
    from qsim.state import paths as P

    wrap(P, "apply_items", "apply")
    wrap(E, "exact_value", "results")
    out = {}
    try:
        circuit, names = W.hea(n)
        source, qnames = hea_qasm(n)
        for label, program, keys in (("circuit", circuit, names), ("openqasm", source, qnames)):
            dev = qsim.device()
            rng = np.random.default_rng(5)
            dev.run(program, inputs=dict(zip(keys, rng.uniform(-3, 3, len(keys)))))  # compiles
            phases.clear()
            t0 = time.perf_counter()
            for _ in range(calls):
                dev.run(program, inputs=dict(zip(keys, map(float, rng.uniform(-3, 3, len(keys)))))).result()
            total = (time.perf_counter() - t0) / calls
            row = {k: phases.get(k, 0.0) / calls for k in ("parse", "bind", "lower", "fuse", "apply", "results")}
            row["bind"] += max(phases.get("bind+fuse", 0.0) / calls - row["fuse"], 0.0)
            row["other"] = total - sum(row.values())
            row["total"] = total
            out[label] = {k: round(v * 1e3, 4) for k, v in row.items()}  # ms per call
    finally:
        for owner, attr, real in reversed(wrapped):
            setattr(owner, attr, real)
    return out


def gradient_on_ranks(n, ranks, reps):
    from qsim.launch import find_mpirun

    mpirun = find_mpirun()
    cmd = [mpirun, "-n", str(ranks), sys.executable, "-m", "mpi4py", os.path.abspath(__file__), "--gradient-only",
           "--n", str(n), "--reps", str(reps)]
    env = dict(os.environ, QSIM_MIN_DISTRIBUTED_QUBITS="0")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    p = C.add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    p.add_argument("--n", type=int, nargs="*", default=[12, 20])
    p.add_argument("--seconds", type=float, default=3.0, help="minimum loop time per simulator and n")
    p.add_argument("--gradient-n", type=int, default=20)
    p.add_argument("--no-peers", action="store_true")
    p.add_argument("--ranks", type=int, default=0, help="also time the gradient on this many MPI ranks")
    p.add_argument("--profile", action="store_true")
    p.add_argument("--gradient-only", action="store_true", help=argparse.SUPPRESS)  # the MPI child
    args = p.parse_args(argv)
    C.set_threads(args.threads)
    if args.gradient_only:
        gradient, params = qsim_gradient(args.n[0])
        row = time_gradient(gradient, params, args.reps or 3)
        from mpi4py import MPI

        if MPI.COMM_WORLD.Get_rank() == 0:
            print(json.dumps({**row, "ranks": MPI.COMM_WORLD.Get_size()}))
        return row
    ns = [6] if args.smoke else args.n
    seconds = 0.0 if args.smoke else args.seconds
    min_calls = 1 if args.smoke else 5
    reps = 1 if args.smoke else (args.reps or 3)
    ctx = C.context()
    rows, peers, gradients = [], [], []
    for n in ns:
        sims = {}
        for precision in ("double", "single"):
            evaluate, params = qsim_evaluator(n, precision)
            t0 = time.perf_counter()
            check = evaluate(np.random.default_rng(0).uniform(-np.pi, np.pi, params))
            sims[f"qsim {'c128' if precision == 'double' else 'c64'}"] = (evaluate, params, {
                "first_call_s": time.perf_counter() - t0, "check_value": check,
                "gates": W.gate_count(W.hea(n)[0])})
        if not (args.smoke or args.no_peers):
            for name, make in PEERS.items():
                try:
                    evaluate, _, params = make(n)
                except ImportError as e:
                    print(f"n={n:2d} {name:15s} skipped ({e})")
                    continue
                evaluate(np.zeros(params))
                sims[name] = (evaluate, params, {})
        for name, row in interleaved(sims, seconds, min_calls).items():
            row = {"simulator": name, "n": n, "parameters": sims[name][1], **sims[name][2], **row}
            (rows if name == "qsim c128" else peers).append(row)
            print(f"n={n:2d} {name:15s} {row['evals_per_s']:9.1f} evals/s  (median call {row['median_call_ms']:.3f} ms)",
                  flush=True)
    gn = 6 if args.smoke else args.gradient_n
    grads = {}
    for precision in ("double", "single"):
        gradient, params = qsim_gradient(gn, precision)
        grads[f"qsim adjoint {'c128' if precision == 'double' else 'c64'}"] = (gradient, params, {})
    if not (args.smoke or args.no_peers):
        for name in ("lightning c128", "lightning c64", "qulacs c128"):
            try:
                _, gradient, params = PEERS[name](gn)
            except ImportError:
                continue
            label = f"lightning adjoint {name.split()[1]}" if "lightning" in name else "qulacs backprop c128"
            grads[label] = (gradient, params, {})
    for name, (gradient, params, _) in grads.items():  # warm-up (compilation, caches)
        gradient(np.random.default_rng(3).uniform(-np.pi, np.pi, params))
    times: dict = {k: [] for k in grads}
    rng = np.random.default_rng(4)
    for _ in range(reps):  # in turn, so that all see the same load
        for name, (gradient, params, _) in grads.items():
            theta = rng.uniform(-np.pi, np.pi, params)
            t0 = time.perf_counter()
            gradient(theta)
            times[name].append(time.perf_counter() - t0)
    for name, ts in times.items():
        row = {"simulator": name, "n": gn, "parameters": grads[name][1], "best_s": min(ts),
               "median_s": float(np.median(ts)), "reps": reps}
        gradients.append(row)
        print(f"gradient n={gn} {name:24s} {row['best_s']:.4f} s (median {row['median_s']:.4f})", flush=True)
    if args.ranks > 1 and not args.smoke:
        row = {"simulator": f"qsim adjoint c128, {args.ranks} ranks", "n": gn, **gradient_on_ranks(gn, args.ranks, reps)}
        gradients.append(row)
        print(f"gradient n={gn} {row['simulator']:22s} {row.get('best_s', row)}", flush=True)
    payload = {"benchmark": "variational", "context": ctx, "rows": rows, "peers": peers, "gradients": gradients}
    if args.profile:
        payload["profile_ms_per_call"] = {n: profile_call(n) for n in ns}
        print(json.dumps(payload["profile_ms_per_call"], indent=1))
    path = C.write("variational" + ("_smoke" if args.smoke else ""), payload, args.out)
    print(f"-> {path}")
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
