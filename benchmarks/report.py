"""Print the markdown tables of benchmarks/README.md from the JSON files in benchmarks/results/.

    python benchmarks/report.py            # paste the output into README.md's "Latest figures"
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _load(name):
    p = RESULTS / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def _ctx(d):
    c = d["context"]
    la, lb = c.get("loadavg_start", [0])[0], c.get("loadavg_end", [0])[0]
    return f"{c['date']}, commit {c['commit']}, load {la:.1f} -> {lb:.1f}, {c['numba_threads']} threads"


def bandwidth(d):
    out = [f"**Bandwidth** ({_ctx(d)})", "", "| kernel | array | threads | GB/s |", "|---|---:|---:|---:|"]
    for r in d["rows"]:
        out.append(f"| {r['kernel']} | {r['bytes_array'] / 2**30:.0f} GiB | {r['threads']} | {r['GBs']:.1f} |")
    out.append("")
    out.append(f"B (best rmw) = {d['B_rmw_GBs']:.1f} GB/s (peers' note: {d['peer_B_rmw_GBs']} GB/s); one pass "
               f"c128: n=24 {d['one_pass']['24']['one_pass_ms_c128']:.1f} ms, n=26 "
               f"{d['one_pass']['26']['one_pass_ms_c128']:.1f} ms")
    return out


def gates(d):
    out = [f"**Per gate** ({_ctx(d)}, best of {d['reps']}; ratio = time / one pass at this run's "
           f"rmw speed; reductions count half a pass)", ""]
    cols = [f"n={r['n']} {r.get('dtype', 'complex128')}" for r in d["results"]]
    head = "| case | " + " | ".join(f"{c} ms | ratio" for c in cols) + " |"
    out += [head, "|---|" + "---:|---:|" * len(cols)]
    by = [{row["case"]: row for row in r["rows"]} for r in d["results"]]
    cases = []
    for r in d["results"]:
        for row in r["rows"]:
            if row["case"] not in cases:
                cases.append(row["case"])
    for case in cases:
        cells = []
        for b in by:
            row = b.get(case)
            cells.append(f"{row['ms']:.2f} | {row['ratio']:.2f}" if row else " | ")
        out.append(f"| {case} | " + " | ".join(cells) + " |")
    out.append("")
    for r in d["results"]:
        out.append(f"n={r['n']} {r.get('dtype', 'complex128')}: this run's rmw {r['rmw_GBs_this_run']:.1f} GB/s, one pass {r['one_pass_ms']:.2f} ms")
    return out


def circuits(d, title):
    out = [f"**{title}** ({_ctx(d)}; fusion {'on' if d['fusion'] else 'off'}; bound at {d['bound_GBs']} GB/s)", "",
           "| workload | n | gates | qsim best s | median s | ratio to bound | best peer s | x peer |",
           "|---|---:|---:|---:|---:|---:|---|---:|"]
    for r in d["rows"]:
        peer = f"{r['peer_best_s']} ({r['peer_best']})" if r["peer_best_s"] else ""
        sp = f"{r['speedup_vs_peer']:.2f}" if r["speedup_vs_peer"] else ""
        out.append(f"| {r['kind']} | {r['n']} | {r['gates']} | {r['best_s']:.4g} | {r['median_s']:.4g} | "
                   f"{r['ratio_to_bound']:.2f} | {peer} | {sp} |")
    return out


def variational(d):
    out = [f"**Variational loop** ({_ctx(d)}): HEA <sum Z_i> evaluations per second, then full gradients", "",
           "| simulator | n | params | evals/s | best call ms | median call ms |", "|---|---:|---:|---:|---:|---:|"]
    for r in d["rows"] + d.get("peers", []):
        out.append(f"| {r['simulator']} | {r['n']} | {r['parameters']} | {r['evals_per_s']:.1f} | "
                   f"{r['best_call_ms']:.2f} | {r['median_call_ms']:.2f} |")
    if d.get("gradients"):
        out += ["", "| gradient | n | params | best s | median s |", "|---|---:|---:|---:|---:|"]
        for r in d["gradients"]:
            out.append(f"| {r['simulator']} | {r['n']} | {r.get('parameters', '')} | {r['best_s']:.3f} | {r['median_s']:.3f} |")
    return out


def peers(d, title):
    """``benchmarks/peers.py`` output: one row per (kind, n, simulator), run interleaved."""
    out = [f"**{title}** (best of {d['reps']}; passes = time / an in-run rmw pass; RSS over the state)", "",
           "| kind | n | simulator | best s | median s | passes | RSS / state | x qsim c128 |",
           "|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in d["rows"]:
        out.append(f"| {r['kind']} | {r['n']} | {r['sim']} | {r['best_s']:.3f} | {r['median_s']:.3f} | "
                   f"{r['passes']:.1f} | {r['rss_over_state']:.2f} | {r['time_over_qsim_c128']:.2f} |")
    return out


def coldstart(d):
    out = [f"**Cold start** ({_ctx(d)}): `python -m qsim run` on 5 qubits, 100 shots, Numba cache warm: best "
           f"{d['best_s']:.2f} s, median {d['median_s']:.2f} s over {d['reps']}", "", "| phase | ms |", "|---|---:|"]
    for k, v in d["phases_s"].items():
        out.append(f"| {k} | {v * 1e3:.1f} |")
    return out


def main(argv=None):
    parts = []
    for name, fn in (("bandwidth", bandwidth), ("gates", gates), ("coldstart", coldstart),
                     ("variational", variational)):
        d = _load(name)
        if d:
            parts += fn(d) + [""]
    for name, title in (("circuits", "Circuits, c128"), ("circuits_nofusion", "Circuits, c128, no fusion"),
                        ("circuits_single", "Circuits, c64")):
        d = _load(name)
        if d:
            parts += circuits(d, title) + [""]
    for name in sorted(p.stem for p in RESULTS.glob("peers*.json")):
        d = _load(name)
        if d and d.get("rows"):
            parts += peers(d, f"Peers side by side ({name})") + [""]
    print("\n".join(parts))


if __name__ == "__main__":
    main(sys.argv[1:])
