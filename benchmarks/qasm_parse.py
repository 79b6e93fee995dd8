"""OpenQASM parse time: a 1000-gate program, cold (new text) and re-parsed with new inputs.

A variational loop sends the same program text with new ``input`` values on every call; the front
end caches the syntax tree by text, so only the first parse pays for ANTLR.

    python benchmarks/qasm_parse.py                # 5 repetitions, best and median
    python benchmarks/qasm_parse.py --smoke
"""

from __future__ import annotations

import argparse
import sys
import time

try:
    from benchmarks import _common as C
except ImportError:  # run as a script
    import _common as C


def program(gates: int, tag: str) -> str:
    body = "".join(f"rx(theta * {i % 7}) q[{i % 10}];\ncnot q[{i % 10}], q[{(i + 1) % 10}];\n"
                   for i in range(gates // 2))
    return f"OPENQASM 3.0;\n// {tag}\ninput float theta;\nqubit[10] q;\nbit[10] c;\n{body}c = measure q;\n"


def main(argv=None) -> dict:
    from qsim.qasm import parse

    args = C.add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0])).parse_args(argv)
    reps = args.reps or (1 if args.smoke else 5)
    gates = 100 if args.smoke else 1000
    ctx = C.context()
    parse(program(10, "warm-up"), {"theta": 0.0})  # imports and ANTLR's tables, untimed
    cold, warm = [], []
    for r in range(reps):
        src = program(gates, f"cold {r} {time.time()}")
        t0 = time.perf_counter()
        parse(src, {"theta": 0.1})
        cold.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        parse(src, {"theta": 0.2})
        warm.append(time.perf_counter() - t0)
    payload = {"benchmark": "qasm_parse", "context": ctx, "gates": gates, "reps": reps,
               "cold_s": cold, "reparse_s": warm, "cold_best_s": min(cold), "reparse_best_s": min(warm)}
    out = C.write("qasm_parse" + ("_smoke" if args.smoke else ""), payload, args.out)
    print(f"parse {gates} gates: cold best {min(cold):.3f} s, re-parse with new inputs best {min(warm) * 1e3:.1f} ms")
    print(f"-> {out}")
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
