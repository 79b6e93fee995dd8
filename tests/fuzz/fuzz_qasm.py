"""The long run of the OpenQASM front-end fuzzer (the bounded one is tests/test_fuzz_qasm.py).

    python tests/fuzz/fuzz_qasm.py --minutes 10

Runs the same three properties (mutated valid programs, random bytes, hostile-token soup) in
rounds of 500 examples each until the time is up, with the front end's loop and operation caps
lowered as in the test, and prints the count of each outcome (ran, parsed, or the QsimError
subclass raised) and every example slower than ``--slow`` seconds.  Any other exception stops the run with hypothesis's minimal failing example.
Not collected by pytest (no test_ prefix).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import test_fuzz_qasm as F  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--round", type=int, default=500, help="examples per property per round")
    parser.add_argument("--slow", type=float, default=2.0, help="report examples that take longer (seconds)")
    args = parser.parse_args(argv)

    from qsim.qasm import limits

    limits.MAX_LOOP_ITERATIONS = 500
    limits.MAX_OPERATIONS = 20_000
    counts = {name: Counter() for name in ("mutated", "bytes", "soup")}
    run = settings(max_examples=args.round, deadline=None, database=None,
                   suppress_health_check=list(HealthCheck))
    soup = st.lists(st.sampled_from(F.HOSTILE), max_size=40).map(
        lambda t: "OPENQASM 3.0;\nqubit[2] q;\n" + " ".join(t))
    def prop(strategy, name):
        def make():
            @run
            @given(strategy)
            def one(source):
                t0 = time.perf_counter()
                F.check(source, counts[name])
                took = time.perf_counter() - t0
                if took > args.slow:  # unbounded work that stays under the caps is a finding too
                    counts[name]["slow"] += 1
                    print(f"slow ({took:.1f} s): {source[:300]!r}", flush=True)
            return one
        return make

    props = {"mutated": prop(F.mutated_programs(), "mutated"), "bytes": prop(st.binary(max_size=400), "bytes"),
             "soup": prop(soup, "soup")}
    end = time.monotonic() + args.minutes * 60
    rounds = 0
    while time.monotonic() < end:
        for make in props.values():
            make()()
        rounds += 1
        total = sum(sum(c.values()) for c in counts.values())
        print(f"round {rounds}: {total} examples so far", flush=True)
    for name, c in counts.items():
        print(f"{name}: {sum(c.values())} examples: {dict(c.most_common())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
