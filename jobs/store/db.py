"""Job state in SQLite: the jobs table and its events.

Who calls this: ``jobs.lifecycle.driver`` (every status change and event: ``insert``,
``transition``, ``add_event``), and readers (``jobs.client``, ``jobs.lifecycle``, the endpoint).
Nothing here starts processes or validates requests.

Where the database and the job directories are: ``jobs.store.layout``.

Concurrency: every write is one short ``BEGIN IMMEDIATE`` transaction (readers wait for it, up to
the busy timeout); ``clientToken`` is UNIQUE,
so two concurrent creates with one token cannot both insert. Status changes are compare-and-set
(``WHERE status IN (...)``) so a late writer cannot overwrite a final state.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from jobs.errors import storage_full
from jobs.store import layout

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")
ACTIVE = ("QUEUED", "RUNNING", "CANCELLING")
REGION = "local"
ACCOUNT = "000000000000"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id           TEXT NOT NULL UNIQUE,
    arn              TEXT NOT NULL UNIQUE,
    name             TEXT NOT NULL,
    client_token     TEXT NOT NULL UNIQUE,
    request_digest   TEXT NOT NULL,
    request          TEXT NOT NULL,
    status           TEXT NOT NULL,
    device           TEXT NOT NULL,
    created_at       REAL NOT NULL,
    started_at       REAL,
    ended_at         REAL,
    failure_reason   TEXT,
    job_dir          TEXT NOT NULL,
    supervisor_pid   INTEGER,
    supervisor_start INTEGER,
    launcher_pgid    INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id     TEXT NOT NULL REFERENCES jobs(job_id),
    event_type TEXT NOT NULL,
    time       REAL NOT NULL,
    message    TEXT
);
CREATE INDEX IF NOT EXISTS events_by_job ON events(job_id, seq);
CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs(created_at);
"""


def job_arn(job_id: str) -> str:
    return f"arn:aws:braket:{REGION}:{ACCOUNT}:job/{job_id}"


@dataclass
class JobRow:
    job_id: str
    arn: str
    name: str
    client_token: str
    request_digest: str
    request: dict
    status: str
    device: str
    created_at: float
    started_at: float | None
    ended_at: float | None
    failure_reason: str | None
    job_dir: str
    supervisor_pid: int | None
    supervisor_start: int | None
    launcher_pgid: int | None
    cancel_requested: bool


def private_dir(path: Path) -> None:
    """Create ``path`` (and parents) as 0700, and make it 0700 if it already existed."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if stat.S_IMODE(path.stat().st_mode) != 0o700:
        os.chmod(path, 0o700)


class Store:
    """Job state under ``home``: the directories are 0700 and jobs.db (with its -wal/-shm) 0600,
    also when they existed before with wider modes, since requests hold hyperparameters."""

    def __init__(self, home: str | os.PathLike | None = None):
        self.home = Path(home).absolute() if home else layout.qsim_home()
        self.db_path = layout.db_path(self.home)
        with self._full_disk_as("cannot open the job database", (OSError, sqlite3.OperationalError)):
            private_dir(self.home)
            private_dir(layout.jobs_root(self.home))
            for entry in os.scandir(layout.jobs_root(self.home)):
                if entry.is_dir(follow_symlinks=False) and stat.S_IMODE(entry.stat().st_mode) != 0o700:
                    os.chmod(entry.path, 0o700)
            os.close(os.open(self.db_path, os.O_RDWR | os.O_CREAT, 0o600))
            for p in (self.db_path, *(self.db_path.with_name(self.db_path.name + x) for x in ("-wal", "-shm"))):
                if p.exists() and stat.S_IMODE(p.stat().st_mode) != 0o600:
                    os.chmod(p, 0o600)
            con = self._connect()
            try:
                con.executescript(_SCHEMA)
            finally:
                con.close()

    @contextmanager
    def _full_disk_as(self, what: str, kinds=(sqlite3.OperationalError,)):
        """A full disk met inside the block becomes StorageFullException (saying ``what`` could
        not be done, and where); any other error passes through as it is."""
        try:
            yield
        except kinds as e:
            full = storage_full(e, self.home, what)
            if full is None:
                raise
            raise full from None

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)
        con.execute("PRAGMA busy_timeout=60000")
        # Rollback journal, not WAL: a WAL reader must (re)create the -shm index, which fails on a
        # full disk, so `job get` could not even read; with a journal, reads need no space and a
        # write that does not fit fails (SQLITE_FULL) and leaves the database as it was.
        con.execute("PRAGMA journal_mode=DELETE")
        con.row_factory = sqlite3.Row
        return con

    @contextmanager
    def transaction(self):
        """One ``BEGIN IMMEDIATE`` transaction; a full disk rolls it back and raises
        StorageFullException (SQLite keeps the database as it was before the transaction)."""
        with self._full_disk_as("cannot update the job database"):
            con = self._connect()
            try:
                con.execute("BEGIN IMMEDIATE")
                try:
                    yield con
                except BaseException:
                    if con.in_transaction:
                        con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
            finally:
                con.close()

    @contextmanager
    def reading(self):
        with self._full_disk_as("cannot read the job database"):
            con = self._connect()
            try:
                yield con
            finally:
                con.close()

    # --- create ---------------------------------------------------------------------------------

    def find_by_token(self, token: str) -> JobRow | None:
        with self.reading() as con:
            row = con.execute("SELECT * FROM jobs WHERE client_token=?", (token,)).fetchone()
        return _row(row)

    def insert(self, job_id: str, name: str, token: str, digest: str, request: dict, device: str,
               job_dir: str) -> JobRow:
        """Insert a QUEUED job; raises sqlite3.IntegrityError if the token is taken."""
        now = time.time()
        with self.transaction() as con:
            con.execute(
                "INSERT INTO jobs (job_id, arn, name, client_token, request_digest, request, status, device,"
                " created_at, job_dir) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (job_id, job_arn(job_id), name, token, digest, json.dumps(request), "QUEUED", device, now, job_dir))
            con.execute("INSERT INTO events (job_id, event_type, time, message) VALUES (?,?,?,?)",
                        (job_id, "QUEUED_FOR_EXECUTION", now, "Job queued for execution"))
        return self.get(job_id)

    # --- read -----------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRow | None:
        with self.reading() as con:
            row = con.execute("SELECT * FROM jobs WHERE job_id=?", (job_id,)).fetchone()
        return _row(row)

    def events(self, job_id: str) -> list[dict]:
        with self.reading() as con:
            rows = con.execute("SELECT event_type, time, message FROM events WHERE job_id=? ORDER BY seq",
                               (job_id,)).fetchall()
        return [dict(r) for r in rows]

    def all_jobs(self) -> list[JobRow]:
        with self.reading() as con:
            rows = con.execute("SELECT * FROM jobs ORDER BY created_at DESC, seq DESC").fetchall()
        return [_row(r) for r in rows]

    def active_jobs(self) -> list[JobRow]:
        with self.reading() as con:
            rows = con.execute("SELECT * FROM jobs WHERE status IN (?,?,?)", ACTIVE).fetchall()
        return [_row(r) for r in rows]

    # --- write ----------------------------------------------------------------------------------

    def transition(self, job_id: str, status: str | None, allowed_from: tuple[str, ...],
                   events: tuple[tuple[str, str], ...] = (), **fields) -> bool:
        """Set ``status`` (and ``fields``) and append ``events`` iff the current status is allowed."""
        now = time.time()
        with self.transaction() as con:
            row = con.execute("SELECT status FROM jobs WHERE job_id=?", (job_id,)).fetchone()
            if row is None or row["status"] not in allowed_from:
                return False
            sets = dict(fields)
            if status is not None:
                sets["status"] = status
            if sets:
                cols = ", ".join(f"{k}=?" for k in sets)
                con.execute(f"UPDATE jobs SET {cols} WHERE job_id=?", (*sets.values(), job_id))
            for event_type, message in events:
                con.execute("INSERT INTO events (job_id, event_type, time, message) VALUES (?,?,?,?)",
                            (job_id, event_type, now, message[:2500]))
        return True

    def add_event(self, job_id: str, event_type: str, message: str) -> bool:
        return self.transition(job_id, None, ACTIVE, ((event_type, message),))


def _row(row) -> JobRow | None:
    if row is None:
        return None
    d = dict(row)
    d.pop("seq")
    d["request"] = json.loads(d["request"])
    d["cancel_requested"] = bool(d["cancel_requested"])
    return JobRow(**d)
