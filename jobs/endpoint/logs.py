"""CloudWatch Logs, read from the jobs' log files: the calls ``AwsQuantumJob.logs()`` and
``.metrics()`` make.

Who calls this: ``jobs.endpoint.server`` for requests signed for ``logs`` (json protocol,
``X-Amz-Target: Logs_20140328.<Operation>``).

Log group ``/aws/braket/jobs``; each job has one stream ``<jobName>/<jobId>/algo-1-<created ms>``
(the SDK's prefix for a job whose ARN does not end in its name is ``<jobName>/<jobId>``) holding
the lines of the job's ``log.txt``. Every event of a stream carries the job's start time
(lines have no time of their own), so the SDK's (timestamp, skip) positions stay stable while
the file grows; ``nextForwardToken`` is the line offset.

Served: DescribeLogGroups, DescribeLogStreams, GetLogEvents, StartQuery / GetQueryResults for
the Insights queries the SDK's metrics fetcher runs (``fields``, ``filter @logStream like /re/``,
``filter @message like /re/``, ``limit``); any other query command is refused.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import datetime, timezone

from werkzeug.wrappers import Response

from jobs.endpoint.model import ApiError, error_body, service, to_wire

LOG_GROUP = "/aws/braket/jobs"
_QUERY_PART = re.compile(r"^\s*(fields\s+.+|filter\s+(@logStream|@message)\s+like\s+/(.*)/|limit\s+\d+|sort\s+.+)\s*$")


class LogsHandler:
    def __init__(self, endpoint):
        self.ep = endpoint
        self.svc = service("logs")
        self._queries: dict[str, dict] = {}
        self._lock = threading.Lock()

    def handle(self, request, body: bytes, scope) -> Response:
        try:
            op, params = self.svc.parse_json(request, body)
            handler = getattr(self, op.name, None)
            if handler is None:
                raise ApiError("UnknownOperationException", f"{op.name} is not served by qsim's endpoint", 400)
            out = to_wire(op.output_shape, handler(**params), default_ts="unixTimestamp")
            return Response(json.dumps(out), content_type="application/x-amz-json-1.1")
        except ApiError as e:
            status, headers, payload = error_body(self.svc, e)
            return Response(payload, status=status, headers=headers)

    # --- streams ---------------------------------------------------------------------------------

    def _check_group(self, name):
        if name != LOG_GROUP:
            raise ApiError("ResourceNotFoundException", f"The specified log group does not exist: {name!r} "
                                                        f"(qsim serves {LOG_GROUP})")

    def _streams(self, prefix: str = ""):
        """(stream name, job row) for every job whose stream name starts with ``prefix``."""
        parts = prefix.split("/")
        if len(parts) >= 2 and parts[1]:
            row = self.ep.jobs.store.get(parts[1])
            rows = [row] if row is not None else [r for r in self.ep.jobs.store.all_jobs()
                                                  if r.job_id.startswith(parts[1])]
        else:
            rows = self.ep.jobs.store.all_jobs()
        out = []
        for r in rows:
            name = f"{r.name}/{r.job_id}/algo-1-{int(r.created_at * 1000)}"
            if name.startswith(prefix):
                out.append((name, r))
        return sorted(out, key=lambda x: x[0])

    def _lines(self, row) -> list[str]:
        from jobs.store.layout import JobPaths

        try:
            with open(JobPaths.for_row(row).log_file, errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            return []
        lines = text.split("\n")
        return lines[:-1]  # only complete lines; a partial last line comes once it ends

    @staticmethod
    def _time_ms(row) -> int:
        return int((row.started_at or row.created_at) * 1000)

    def DescribeLogGroups(self, logGroupNamePrefix="", **kw):  # noqa: N802
        groups = [{"logGroupName": LOG_GROUP, "creationTime": 0, "storedBytes": 0}]
        return {"logGroups": [g for g in groups if g["logGroupName"].startswith(logGroupNamePrefix or "")]}

    def DescribeLogStreams(self, logGroupName=None, logStreamNamePrefix="", limit=50, nextToken=None,  # noqa: N802
                           orderBy=None, descending=False, logGroupIdentifier=None):
        self._check_group(logGroupName or logGroupIdentifier)
        streams = self._streams(logStreamNamePrefix or "")
        start = int(nextToken) if nextToken and nextToken.isdigit() else 0
        page = streams[start:start + (limit or 50)]
        out = {"logStreams": [{"logStreamName": n, "creationTime": int(r.created_at * 1000),
                               "firstEventTimestamp": self._time_ms(r), "lastEventTimestamp": self._time_ms(r),
                               "arn": f"arn:aws:logs:{self.ep.region}:{self.ep.account}:log-group:{LOG_GROUP}:"
                                      f"log-stream:{n}"} for n, r in page]}
        if start + len(page) < len(streams):
            out["nextToken"] = str(start + len(page))
        return out

    def GetLogEvents(self, logStreamName, logGroupName=None, startTime=None, endTime=None,  # noqa: N802
                     nextToken=None, limit=10000, startFromHead=False, logGroupIdentifier=None, unmask=None):
        self._check_group(logGroupName or logGroupIdentifier)
        found = [r for n, r in self._streams(logStreamName) if n == logStreamName]
        if not found:
            raise ApiError("ResourceNotFoundException", f"The specified log stream does not exist: {logStreamName!r}")
        row = found[0]
        ts = self._time_ms(row)
        lines = self._lines(row)
        if (startTime is not None and ts < startTime) or (endTime is not None and ts >= endTime):
            lines = []
        if nextToken:
            m = re.match(r"^[fb]/(\d+)$", nextToken)
            if not m:
                raise ApiError("InvalidParameterException", f"nextToken {nextToken!r} is not a token of this stream")
            start = int(m.group(1))
        else:
            start = 0 if startFromHead else max(0, len(lines) - (limit or 10000))
        end = min(len(lines), start + (limit or 10000))
        events = [{"timestamp": ts, "message": line, "ingestionTime": ts} for line in lines[start:end]]
        return {"events": events, "nextForwardToken": f"f/{end}", "nextBackwardToken": f"b/{start}"}

    # --- Insights ----------------------------------------------------------------------------------

    def StartQuery(self, queryString, startTime, endTime, logGroupName=None, logGroupNames=None,  # noqa: N802
                   logGroupIdentifiers=None, limit=1000, queryLanguage=None):
        for g in [logGroupName] if logGroupName else (logGroupNames or logGroupIdentifiers or [None]):
            self._check_group(g)
        stream_re, message_re = None, None
        for part in queryString.split("|"):
            m = _QUERY_PART.match(part)
            if not m:
                raise ApiError("MalformedQueryException", f"qsim's endpoint runs only fields/filter ... like /re/"
                                                          f"/limit/sort queries; cannot run {part.strip()!r}")
            if m.group(2) == "@logStream":
                stream_re = re.compile(m.group(3))
            elif m.group(2) == "@message":
                message_re = re.compile(m.group(3))
        results = []
        for name, row in self._streams(""):
            if stream_re is not None and not stream_re.search(name):
                continue
            ts = self._time_ms(row)
            if not (startTime * 1000 <= ts <= endTime * 1000 + 999):
                continue
            stamp = datetime.fromtimestamp(ts / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
            for line in self._lines(row):
                if message_re is None or message_re.search(line):
                    results.append([{"field": "@timestamp", "value": stamp}, {"field": "@message", "value": line}])
        query_id = str(uuid.uuid4())
        with self._lock:
            self._queries[query_id] = {"results": results[:limit or 10000]}
            while len(self._queries) > 1000:
                self._queries.pop(next(iter(self._queries)))
        return {"queryId": query_id}

    def GetQueryResults(self, queryId):  # noqa: N802
        with self._lock:
            q = self._queries.get(queryId)
        if q is None:
            raise ApiError("ResourceNotFoundException", f"No query {queryId!r} (queries are kept in memory until the "
                                                        "endpoint restarts)")
        n = len(q["results"])
        return {"results": q["results"], "status": "Complete",
                "statistics": {"recordsMatched": float(n), "recordsScanned": float(n), "bytesScanned": 0.0}}
