"""Braket's metrics line, in one module: written by ``log_metric`` (job scripts), parsed out of a
job's log (``jobs.client.get_job_metrics``), shown by ``job metrics`` (``format_table``, ``plot_metrics``).

A record is Braket's line ``Metrics - timestamp=<t>; name=value; ...;`` found anywhere in a log
line, so lines tagged by a launcher (``[0] ``, ``[1,mpirank:4,algo-1]<stdout>:``, ``[proxy:0@h] ``)
count too; the leading ``[...]`` tag is kept as ``node_id``. Values that are not floats are dropped,
as Braket's parser does.
"""

from __future__ import annotations

import re
import time
from typing import Iterable

MARKER = "Metrics - "
_PAIR = re.compile(r"(\w+)\s*=\s*([^;]+)\s*;")
_NODE = re.compile(r"^\[([^\]]*)\]")


def parse_line(line: str) -> dict | None:
    at = line.find(MARKER)
    if at < 0:
        return None
    record: dict = {}
    for key, value in _PAIR.findall(line[at + len(MARKER):]):
        try:
            record[key] = float(value)
        except ValueError:
            continue
    if "iteration_number" in record and record["iteration_number"].is_integer():
        record["iteration_number"] = int(record["iteration_number"])
    node = _NODE.match(line)
    if node:
        record["node_id"] = node.group(1)
    return record if set(record) - {"timestamp", "iteration_number", "node_id"} else None


def parse_records(lines: Iterable[str]) -> list[dict]:
    return [r for r in map(parse_line, lines) if r is not None]


def columns(records: list[dict], statistic: str = "max") -> dict[str, list]:
    """Braket's columnar form: rows pivoted on (iteration_number or timestamp, node_id).

    Two records for the same row and metric are resolved with ``statistic`` ("max" or "min").
    """
    pick = max if statistic == "max" else min
    rows: dict[tuple, dict] = {}
    for r in records:
        key = (r.get("iteration_number", r.get("timestamp")), r.get("node_id"))
        row = rows.setdefault(key, {})
        for k, v in r.items():
            if k in row and k not in ("timestamp", "iteration_number", "node_id"):
                row[k] = pick(row[k], v)
            elif k not in row:
                row[k] = v
    names: list[str] = []
    for row in rows.values():
        for k in row:
            if k not in names:
                names.append(k)
    order = sorted(n for n in names if n not in ("timestamp", "iteration_number", "node_id"))
    head = [n for n in ("timestamp", "iteration_number", "node_id") if n in names]
    return {n: [row.get(n) for row in rows.values()] for n in head + order}


def log_metric(metric_name: str, value: float, timestamp: float | None = None,
               iteration_number: int | None = None) -> None:
    """Print Braket's metrics line: ``Metrics - timestamp=<t>; <name>=<value>;[ iteration_number=<n>;]``."""
    line = f"{MARKER}timestamp={timestamp or time.time()}; {metric_name}={value};"
    if iteration_number is not None:
        line += f" iteration_number={iteration_number};"
    print(line, flush=True)


def format_table(data: dict[str, list]) -> str:
    if not data:
        return "(no metrics)"
    names = list(data)
    rows = list(zip(*data.values()))

    def cell(v):
        if v is None:
            return ""
        if isinstance(v, float) and not v.is_integer() or isinstance(v, float) and abs(v) > 1e9:
            return f"{v:.6g}" if abs(v) < 1e9 else f"{v:.3f}"
        return str(int(v) if isinstance(v, float) else v)

    text = [[cell(v) for v in r] for r in rows]
    widths = [max([len(n)] + [len(r[i]) for r in text]) for i, n in enumerate(names)]
    lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in text]
    return "\n".join(lines)


def plot_metrics(data: dict[str, list], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("--plot needs matplotlib: pip install 'qsim-embedded[plot]'") from None
    x_name = "iteration_number" if "iteration_number" in data else "timestamp"
    metrics = [n for n in data if n not in ("timestamp", "iteration_number", "node_id")]
    fig, ax = plt.subplots(figsize=(7, 4))
    nodes = data.get("node_id") or [None] * len(data.get(x_name, []))
    for m in metrics:
        for node in sorted(set(nodes), key=str):
            pts = sorted((x, y) for x, y, n in zip(data[x_name], data[m], nodes)
                         if n == node and x is not None and y is not None)
            if pts:
                ax.plot(*zip(*pts), marker=".", label=m if node is None else f"{m} [{node}]")
    ax.set_xlabel(x_name)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
