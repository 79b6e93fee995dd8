"""Parsing metrics records out of a job's log.

Who calls this: ``jobs.client.get_job_metrics`` and the ``job metrics`` command.

A record is Braket's line ``Metrics - timestamp=<t>; name=value; ...;`` found anywhere in a log
line, so lines tagged by a launcher (``[0] ``, ``[1,mpirank:4,algo-1]<stdout>:``, ``[proxy:0@h] ``)
count too; the leading ``[...]`` tag is kept as ``node_id``. Values that are not floats are dropped,
as Braket's parser does.
"""

from __future__ import annotations

import re
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
