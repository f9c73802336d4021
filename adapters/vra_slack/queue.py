"""The durable outbox: every notification is a row in SQLite before anything is posted.

A job's ``key`` is its identity, so a notification is queued at most once, ever:
``fast_track/<survey>/<object_id>`` (one fast-track message per object, across restarts),
``digest/<hash of the cycle's alerts>``, ``weekly/<first day>/<last day>``. A job stays
``pending`` until Slack has accepted it (then ``sent``, with Slack's reply id), is retried with
backoff while Slack is unreachable or rate-limiting, and becomes ``failed`` (kept, with the
reason, for ``vra slack run --retry-failed``) only when Slack refuses the message itself.

The payload is what the message is made from (the annotation, the photometry for the plot),
never the token. Delivery is at least once: a crash after Slack accepted a message but before
the row says ``sent`` posts it again on the next run; nothing else re-posts or loses one.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL,
    created REAL NOT NULL,
    sent REAL,
    reply TEXT,
    error TEXT);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (status, next_try);
CREATE TABLE IF NOT EXISTS seen (
    survey TEXT NOT NULL, object_id TEXT NOT NULL, tier TEXT NOT NULL, first_key TEXT NOT NULL,
    PRIMARY KEY (survey, object_id, tier));
"""


class QueueError(ValueError):
    """A queue file that cannot be used; the message says why."""


@dataclass(frozen=True)
class Job:
    key: str
    kind: str
    channel: str
    payload: Dict[str, Any]
    status: str
    attempts: int
    next_try: float
    error: Optional[str] = None


class Queue:
    """The outbox in an SQLite file (``read_only`` for ``--dry-run``: nothing is written)."""

    def __init__(self, path: Union[str, Path], read_only: bool = False) -> None:
        self.path = str(path)
        self.read_only = read_only
        try:
            if read_only:
                self._db = sqlite3.connect(f"file:{Path(self.path).resolve()}?mode=ro",
                                           uri=True, timeout=30)
            else:
                Path(self.path).resolve().parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(self.path, timeout=30)
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in self._db.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise QueueError(f"{self.path}: not a usable queue file ({exc})") from None
        if tables and ("jobs" not in tables or version != SCHEMA_VERSION):
            self._db.close()
            raise QueueError(f"{self.path}: not a vra_slack queue of schema {SCHEMA_VERSION} "
                             f"(tables {sorted(tables)}, version {version}); pass another "
                             "--queue file")
        if not read_only:
            self._db.execute("PRAGMA journal_mode=WAL")
            with self._db:
                self._db.executescript(_SCHEMA)
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @classmethod
    def open_for_dry_run(cls, path: Union[str, Path]) -> Optional[Queue]:
        """The queue read-only if the file exists (to skip what was already posted)."""
        return cls(path, read_only=True) if Path(path).is_file() else None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Queue:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---------------------------------------------------------------- queueing
    def enqueue(self, key: str, kind: str, channel: str, payload: Dict[str, Any],
                seen: Iterable[Tuple[str, str, str]] = ()) -> bool:
        """Queue a job unless its key was ever queued; True if it is new. ``seen`` rows
        ``(survey, object_id, tier)`` are recorded in the same transaction."""
        text = json.dumps(payload, allow_nan=False, separators=(",", ":"))
        now = time.time()
        with self._db:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO jobs (key, kind, channel, payload, next_try, created) "
                "VALUES (?,?,?,?,?,?)", (key, kind, channel, text, now, now))
            if cur.rowcount:
                self._db.executemany("INSERT OR IGNORE INTO seen VALUES (?,?,?,?)",
                                     [(s, o, t, key) for s, o, t in seen])
        return bool(cur.rowcount)

    def status(self, key: str) -> Optional[str]:
        row = self._db.execute("SELECT status FROM jobs WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def seen_before(self, survey: str, object_id: str, tier: str) -> bool:
        """Whether an earlier job already announced this object in this tier."""
        return self._db.execute("SELECT 1 FROM seen WHERE survey=? AND object_id=? AND tier=?",
                                (survey, object_id, tier)).fetchone() is not None

    # ---------------------------------------------------------------- delivery
    def due(self, now: Optional[float] = None, limit: int = 100) -> List[Job]:
        """Pending jobs whose time has come, oldest first."""
        now = time.time() if now is None else now
        rows = self._db.execute(
            "SELECT key, kind, channel, payload, status, attempts, next_try, error FROM jobs "
            "WHERE status='pending' AND next_try<=? ORDER BY created, key LIMIT ?",
            (now, limit)).fetchall()
        return [Job(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6], r[7]) for r in rows]

    def next_try(self) -> Optional[float]:
        """When the earliest pending job may be tried (None when nothing is pending)."""
        return self._db.execute(
            "SELECT MIN(next_try) FROM jobs WHERE status='pending'").fetchone()[0]

    def mark_sent(self, key: str, reply: str = "") -> None:
        with self._db:
            self._db.execute("UPDATE jobs SET status='sent', sent=?, reply=?, error=NULL "
                             "WHERE key=?", (time.time(), reply, key))

    def reschedule(self, key: str, delay_s: float, error: str) -> None:
        """Try again in ``delay_s`` seconds; ``error`` (already redacted) says why not now."""
        with self._db:
            self._db.execute("UPDATE jobs SET attempts=attempts+1, next_try=?, error=? "
                             "WHERE key=?", (time.time() + max(0.0, delay_s), error, key))

    def mark_failed(self, key: str, error: str) -> None:
        with self._db:
            self._db.execute("UPDATE jobs SET status='failed', attempts=attempts+1, error=? "
                             "WHERE key=?", (error, key))

    def retry_failed(self) -> int:
        """Make failed jobs pending again (after fixing what Slack refused)."""
        with self._db:
            cur = self._db.execute("UPDATE jobs SET status='pending', next_try=? "
                                   "WHERE status='failed'", (time.time(),))
        return cur.rowcount

    def counts(self) -> Dict[str, int]:
        out = {"pending": 0, "sent": 0, "failed": 0}
        for status, n in self._db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status"):
            out[status] = n
        return out

    def jobs(self, status: Optional[str] = None) -> List[Job]:
        """All jobs (or those with ``status``), for ``vra slack run --status`` and tests."""
        sql = ("SELECT key, kind, channel, payload, status, attempts, next_try, error FROM jobs"
               + (" WHERE status=?" if status else "") + " ORDER BY created, key")
        rows = self._db.execute(sql, (status,) if status else ()).fetchall()
        return [Job(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6], r[7]) for r in rows]
