"""The durable outbox: annotations waiting for Lasair, at most one per (annotator, object).

Why it exists: Kafka offsets are committed only once the annotations of those messages are
either accepted by Lasair or written here (an SQLite transaction, ``synchronous=FULL``), so a
crash at any point loses nothing: on restart the outbox is drained first and the messages after
the last commit are delivered again.

Rules (Lasair keeps one annotation per (object, annotator) and replaces it on every push):

* **newest wins**: an annotation is ordered by its alert's time (MJD, then alert id). Putting
  one older than what is queued or already sent for that object is a no-op ("stale"), so a
  re-delivered old message can never overwrite a newer score in Lasair;
* **claims**: a sender takes a batch under a lease. A newer annotation put while the older is
  in flight waits until that call has ended (then it is sent next); the lease (longer than the
  HTTP timeout) frees the batch of a sender that died, and a sender of this host whose process
  is gone has its batches freed at once;
* **one budget**: the rate-limit bucket (:mod:`.ratelimit`) and any pause after a 429 live in
  the same file, so every process sharing it (one token on one host) shares them;
* an annotation Lasair refuses on its own (HTTP 400, ``max_rejections`` times) moves to the
  ``rejected`` table with the reason: kept and counted, never retried blindly, never silently
  dropped (``vra lasair outbox --requeue`` puts them back).

Several processes (a consumer group on one host) may share one outbox file; SQLite's locks
serialise the transactions. Times are wall-clock seconds (``time.time``), which every process
and a restarted one agree on.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from .ratelimit import Bucket, TokenBucket

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    topic TEXT NOT NULL, object_id INTEGER NOT NULL, mjd REAL NOT NULL, alert TEXT NOT NULL,
    digest TEXT NOT NULL, item TEXT NOT NULL, enqueued REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, not_before REAL NOT NULL DEFAULT 0,
    owner TEXT, lease_until REAL NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (topic, object_id));
CREATE INDEX IF NOT EXISTS pending_order ON pending (enqueued, object_id);
CREATE TABLE IF NOT EXISTS sent (
    topic TEXT NOT NULL, object_id INTEGER NOT NULL, mjd REAL NOT NULL, alert TEXT NOT NULL,
    digest TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (topic, object_id));
CREATE TABLE IF NOT EXISTS rejected (
    topic TEXT NOT NULL, object_id INTEGER NOT NULL, mjd REAL NOT NULL, alert TEXT NOT NULL,
    item TEXT NOT NULL, reason TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (topic, object_id, alert));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value REAL NOT NULL);
"""


class OutboxError(RuntimeError):
    """An outbox file that cannot be used (the message says why)."""


@dataclass(frozen=True)
class Entry:
    """One annotation to queue: its ``annotate_list`` item and its place in time."""

    topic: str
    object_id: int
    mjd: float
    alert: str
    item: Dict[str, Any]

    @property
    def text(self) -> str:
        return json.dumps(self.item, sort_keys=True, allow_nan=False)


@dataclass(frozen=True)
class Claimed:
    """A queued annotation taken by one sender under a lease."""

    topic: str
    object_id: int
    mjd: float
    alert: str
    digest: str
    item: Dict[str, Any]
    attempts: int


def alert_order(alert_id: str) -> str:
    """Alert ids compared as numbers when they are numbers (Rubin diaSourceIds)."""
    text = str(alert_id)
    return text.zfill(24) if text.isdigit() else text


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class Outbox:
    """The outbox in one SQLite file (see the module docstring)."""

    def __init__(self, path: Union[str, Path], calls_per_hour: float = 100.0, burst: int = 2,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.bucket = TokenBucket(calls_per_hour, burst)
        self._dead_checked = -1e9
        try:
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout=30000")
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            with self._tx() as db:  # one process creates the tables, the others wait
                version = db.execute("PRAGMA user_version").fetchone()[0]
                tables = {r[0] for r in db.execute(
                    "SELECT name FROM sqlite_master WHERE type='table'")}
                if tables and version != SCHEMA_VERSION:
                    raise OutboxError(f"{self.path}: not a vra_lasair outbox of this version "
                                      f"(schema {version}, expected {SCHEMA_VERSION})")
                if not tables:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            db.execute(statement)
                    db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise OutboxError(f"{self.path}: cannot open the outbox ({exc})") from None

    def close(self) -> None:
        self._db.close()

    # -- transactions
    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self):
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, kind, exc, tb):
            self.db.execute("COMMIT" if kind is None else "ROLLBACK")
            return False

    def _tx(self) -> Outbox._Tx:
        return Outbox._Tx(self._db)

    # -- queueing
    def put(self, entries: Sequence[Entry]) -> Counter:
        """Queue annotations in one durable transaction; counts of ``queued`` (new),
        ``replaced`` (a newer one for a queued object), ``stale`` (older than what is queued
        or sent: dropped) and ``unchanged`` (the same one queued or sent already)."""
        counts: Counter = Counter()
        now = self.clock()
        with self._tx() as db:
            for e in entries:
                text = e.text
                digest = _digest(text)
                key = (float(e.mjd), alert_order(e.alert))
                sent = db.execute("SELECT mjd, alert, digest FROM sent WHERE topic=? AND "
                                  "object_id=?", (e.topic, e.object_id)).fetchone()
                if sent is not None:
                    if (sent[0], sent[1]) > key:
                        counts["stale"] += 1
                        continue
                    if (sent[0], sent[1]) == key and sent[2] == digest:
                        counts["unchanged"] += 1
                        continue
                row = db.execute("SELECT mjd, alert, digest, enqueued FROM pending WHERE "
                                 "topic=? AND object_id=?", (e.topic, e.object_id)).fetchone()
                if row is not None:
                    if (row[0], row[1]) > key:
                        counts["stale"] += 1
                        continue
                    if (row[0], row[1]) == key and row[2] == digest:
                        counts["unchanged"] += 1
                        continue
                    db.execute("UPDATE pending SET mjd=?, alert=?, digest=?, item=?, attempts=0,"
                               " not_before=0, last_error='' WHERE topic=? AND object_id=?",
                               (key[0], key[1], digest, text, e.topic, e.object_id))
                    counts["replaced"] += 1
                else:
                    db.execute("INSERT INTO pending (topic, object_id, mjd, alert, digest, item,"
                               " enqueued) VALUES (?,?,?,?,?,?,?)",
                               (e.topic, e.object_id, key[0], key[1], digest, text, now))
                    counts["queued"] += 1
        return counts

    # -- sending
    def claim(self, owner: str, limit: int, lease: float) -> Tuple[List[Claimed], float]:
        """Take up to ``limit`` due annotations for one call, spending one call of the rate
        budget: (claimed, 0), or ([], seconds to wait) when nothing is due or the budget (or a
        pause after a 429) says wait."""
        now = self.clock()
        with self._tx() as db:
            pause = self._meta(db, "pause_until", 0.0)
            if pause > now:
                return [], pause - now
            if time.monotonic() - self._dead_checked > 2.0:
                self._free_dead_owners(db, now)
            rows = db.execute(
                "SELECT topic, object_id, mjd, alert, digest, item, attempts FROM pending "
                "WHERE not_before <= ? AND (owner IS NULL OR lease_until < ?) "
                "ORDER BY enqueued, object_id LIMIT ?", (now, now, int(limit))).fetchall()
            if not rows:
                nxt = db.execute("SELECT MIN(MAX(not_before, CASE WHEN owner IS NULL THEN 0 "
                                 "ELSE lease_until END)) FROM pending").fetchone()[0]
                return [], (max(0.05, nxt - now) if nxt is not None else 0.5)
            state = Bucket(self._meta(db, "bucket_tokens", self.bucket.capacity),
                           self._meta(db, "bucket_at", now))
            ok, state, wait = self.bucket.take(state, now)
            self._set_meta(db, "bucket_tokens", state.tokens)
            self._set_meta(db, "bucket_at", state.at)
            if not ok:
                return [], wait
            db.executemany("UPDATE pending SET owner=?, lease_until=? WHERE topic=? AND "
                           "object_id=?", [(owner, now + lease, r[0], r[1]) for r in rows])
            self._set_meta(db, "calls", self._meta(db, "calls", 0.0) + 1)
        return [Claimed(r[0], int(r[1]), r[2], r[3], r[4], json.loads(r[5]), int(r[6]))
                for r in rows], 0.0

    def done(self, owner: str, claimed: Sequence[Claimed]) -> int:
        """Lasair accepted these: record them as sent (newest per object) and drop them from
        the queue unless a newer one was put meanwhile (that one is then due at once).
        Returns how many were recorded."""
        now = self.clock()
        with self._tx() as db:
            for c in claimed:
                db.execute(
                    "INSERT INTO sent (topic, object_id, mjd, alert, digest, at) VALUES "
                    "(?,?,?,?,?,?) ON CONFLICT(topic, object_id) DO UPDATE SET mjd=excluded.mjd,"
                    " alert=excluded.alert, digest=excluded.digest, at=excluded.at WHERE "
                    "(excluded.mjd, excluded.alert) >= (sent.mjd, sent.alert)",
                    (c.topic, c.object_id, c.mjd, c.alert, c.digest, now))
                db.execute("DELETE FROM pending WHERE topic=? AND object_id=? AND digest=? AND "
                           "owner=?", (c.topic, c.object_id, c.digest, owner))
                self._unclaim(db, owner, c)
        return len(claimed)

    def release(self, owner: str, claimed: Sequence[Claimed]) -> None:
        """Give a batch back untouched (due again at once), e.g. to send it in halves."""
        with self._tx() as db:
            for c in claimed:
                self._unclaim(db, owner, c)

    def refuse(self, owner: str, c: Claimed, reason: str, delay: float,
               max_rejections: int) -> bool:
        """Lasair refused this one annotation (HTTP 400). Retried after ``delay`` until it
        has been refused ``max_rejections`` times; then it moves to ``rejected``. Returns
        True when it was set aside."""
        now = self.clock()
        with self._tx() as db:
            row = db.execute("SELECT attempts, item FROM pending WHERE topic=? AND object_id=? "
                             "AND digest=? AND owner=?",
                             (c.topic, c.object_id, c.digest, owner)).fetchone()
            if row is None:  # replaced meanwhile by a newer one: nothing to set aside
                self._unclaim(db, owner, c)
                return False
            if row[0] + 1 >= max_rejections:
                db.execute("INSERT OR REPLACE INTO rejected VALUES (?,?,?,?,?,?,?)",
                           (c.topic, c.object_id, c.mjd, c.alert, row[1], reason[:1000], now))
                db.execute("DELETE FROM pending WHERE topic=? AND object_id=? AND digest=?",
                           (c.topic, c.object_id, c.digest))
                return True
            db.execute("UPDATE pending SET attempts=attempts+1, not_before=?, last_error=?, "
                       "owner=NULL, lease_until=0 WHERE topic=? AND object_id=?",
                       (now + delay, reason[:500], c.topic, c.object_id))
            return False

    def pause(self, seconds: float) -> None:
        """No call for ``seconds`` from any process (after a 429), and an empty bucket."""
        now = self.clock()
        with self._tx() as db:
            until = max(self._meta(db, "pause_until", 0.0), now + seconds)
            self._set_meta(db, "pause_until", until)
            empty = self.bucket.empty(now)
            self._set_meta(db, "bucket_tokens", empty.tokens)
            self._set_meta(db, "bucket_at", empty.at)

    # -- reading
    def stats(self) -> Dict[str, int]:
        """Annotations queued (of which waiting to retry), set aside, and objects sent."""
        now = self.clock()
        q = self._db.execute("SELECT COUNT(*), COALESCE(SUM(not_before > ?), 0) FROM pending",
                             (now,)).fetchone()
        rej = self._db.execute("SELECT COUNT(*) FROM rejected").fetchone()[0]
        sent = self._db.execute("SELECT COUNT(*) FROM sent").fetchone()[0]
        calls = self._meta(self._db, "calls", 0.0)
        return {"queued": int(q[0]), "retrying": int(q[1]), "rejected": int(rej),
                "sent_objects": int(sent), "calls": int(calls)}

    def rejected(self) -> List[Dict[str, Any]]:
        rows = self._db.execute("SELECT topic, object_id, mjd, alert, reason, at FROM rejected "
                                "ORDER BY at").fetchall()
        return [dict(zip(("topic", "object_id", "mjd", "alert", "reason", "at"), r))
                for r in rows]

    def requeue_rejected(self) -> int:
        """Put every set-aside annotation back in the queue (after fixing the cause)."""
        rows = self._db.execute("SELECT topic, object_id, mjd, alert, item FROM rejected"
                                ).fetchall()
        entries = [Entry(r[0], int(r[1]), r[2], r[3], json.loads(r[4]))
                   for r in rows]
        counts = self.put(entries)
        with self._tx() as db:
            db.execute("DELETE FROM rejected")
        return counts["queued"] + counts["replaced"]

    def pending_items(self) -> List[Dict[str, Any]]:
        """The queued items, oldest first (for inspection and tests)."""
        rows = self._db.execute("SELECT item FROM pending ORDER BY enqueued, object_id")
        return [json.loads(r[0]) for r in rows]

    # -- helpers
    def _free_dead_owners(self, db: sqlite3.Connection, now: float) -> None:
        """Free the batches claimed by a process of this host that is gone (killed in the
        middle of a call), without waiting for their lease to run out."""
        self._dead_checked = time.monotonic()
        owners = [r[0] for r in db.execute("SELECT DISTINCT owner FROM pending WHERE owner IS "
                                           "NOT NULL AND lease_until >= ?", (now,))]
        for owner in owners:
            if not owner_alive(owner):
                db.execute("UPDATE pending SET owner=NULL, lease_until=0 WHERE owner=?",
                           (owner,))

    @staticmethod
    def _meta(db: sqlite3.Connection, key: str, default: float) -> float:
        row = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return float(row[0]) if row is not None else float(default)

    @staticmethod
    def _set_meta(db: sqlite3.Connection, key: str, value: float) -> None:
        db.execute("INSERT OR REPLACE INTO meta VALUES (?,?)", (key, float(value)))

    @staticmethod
    def _unclaim(db: sqlite3.Connection, owner: str, c: Claimed) -> None:
        db.execute("UPDATE pending SET owner=NULL, lease_until=0 WHERE topic=? AND object_id=? "
                   "AND owner=?", (c.topic, c.object_id, owner))


def owner_id() -> str:
    """A sender's name: host, process id and a random part (several senders per process)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_alive(owner: str) -> bool:
    """False only for a sender of this host whose process no longer exists."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: it exists
        return True
    return True


def open_outbox(path: Optional[str], calls_per_hour: float, burst: int) -> Outbox:
    """The outbox for a ``--outbox`` value (``:memory:`` for a dry run)."""
    return Outbox(path or ":memory:", calls_per_hour=calls_per_hour, burst=burst)
