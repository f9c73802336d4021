"""The state store: each object's visit history, kept across alerts and restarts (SQLite).

Idempotent by construction: an alert is keyed on (survey, object id, alert id), so a
re-delivered or duplicated alert finds its earlier result instead of adding a visit; an alert
older than the object's latest scored alert never counts as a visit either. All writes of a
batch happen in one transaction, so a crash mid-batch leaves the store as it was.

Models that keep per-object state of their own (ORACLE's incremental GRU state) store it here
as opaque bytes under a name.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from .policies import ObjectHistory

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    survey TEXT NOT NULL, object_id TEXT NOT NULL,
    n_visits INTEGER NOT NULL, first_mjd REAL, last_mjd REAL,
    max_rank REAL, sum_rank REAL, garbage INTEGER NOT NULL,
    PRIMARY KEY (survey, object_id));
CREATE TABLE IF NOT EXISTS alerts (
    survey TEXT NOT NULL, object_id TEXT NOT NULL, alert_id TEXT NOT NULL,
    alert_mjd REAL, visit INTEGER, annotation TEXT NOT NULL,
    PRIMARY KEY (survey, object_id, alert_id));
CREATE TABLE IF NOT EXISTS model_state (
    survey TEXT NOT NULL, object_id TEXT NOT NULL, model TEXT NOT NULL, state BLOB,
    PRIMARY KEY (survey, object_id, model));
"""

Key = Tuple[str, str]
_CHUNK = 500  # SQLite's host-parameter limit is 999 on old builds


class StateStore:
    """Object histories in an SQLite file (``":memory:"`` for a throw-away store)."""

    def __init__(self, path: Union[str, Path] = ":memory:") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _select(self, sql: str, keys: Sequence[Key]) -> List[tuple]:
        rows: List[tuple] = []
        keys = list(dict.fromkeys(keys))
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i:i + _CHUNK]
            where = "(survey, object_id) IN (VALUES " + ",".join(["(?,?)"] * len(chunk)) + ")"
            params = [v for k in chunk for v in k]
            rows.extend(self._db.execute(sql.format(where=where), params).fetchall())
        return rows

    def histories(self, keys: Sequence[Key]) -> Dict[Key, ObjectHistory]:
        """The stored history of each (survey, object id) that has one."""
        rows = self._select("SELECT survey, object_id, n_visits, first_mjd, last_mjd, max_rank, "
                            "sum_rank, garbage FROM objects WHERE {where}", keys)
        return {(r[0], r[1]): ObjectHistory(n_visits=r[2], first_mjd=r[3], last_mjd=r[4],
                                            max_rank=r[5], sum_rank=r[6], garbage=bool(r[7]))
                for r in rows}

    def annotations(self, alerts: Sequence[Tuple[str, str, str]]) -> Dict[Tuple[str, str, str], dict]:
        """Earlier results of (survey, object id, alert id) triples already scored."""
        found: Dict[Tuple[str, str, str], dict] = {}
        wanted = set(alerts)
        if not wanted:
            return found
        keys = [(s, o) for s, o, _ in wanted]
        for survey, object_id, alert_id, text in self._select(
                "SELECT survey, object_id, alert_id, annotation FROM alerts WHERE {where}", keys):
            if (survey, object_id, alert_id) in wanted:
                found[(survey, object_id, alert_id)] = json.loads(text)
        return found

    def commit(self, histories: Dict[Key, ObjectHistory],
               alerts: Iterable[Tuple[str, str, str, float, int, dict]],
               model_states: Iterable[Tuple[str, str, str, Optional[bytes]]] = ()) -> None:
        """Write a batch's new visits, histories and model states in one transaction."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO objects VALUES (?,?,?,?,?,?,?,?)",
                [(s, o, h.n_visits, h.first_mjd, h.last_mjd, h.max_rank, h.sum_rank,
                  int(h.garbage)) for (s, o), h in histories.items()])
            self._db.executemany(
                "INSERT OR IGNORE INTO alerts VALUES (?,?,?,?,?,?)",
                [(s, o, a, mjd, visit, json.dumps(ann, allow_nan=True))
                 for s, o, a, mjd, visit, ann in alerts])
            self._db.executemany("INSERT OR REPLACE INTO model_state VALUES (?,?,?,?)",
                                 list(model_states))

    def model_states(self, model: str, keys: Sequence[Key]) -> Dict[Key, bytes]:
        rows = self._select("SELECT survey, object_id, state FROM model_state "
                            "WHERE model='" + model.replace("'", "''") + "' AND ({where})",
                            keys)
        return {(r[0], r[1]): r[2] for r in rows}

    def counts(self) -> Dict[str, int]:
        """Objects and alerts held (for progress reports and tests)."""
        n_obj = self._db.execute("SELECT COUNT(*) FROM objects").fetchone()[0]
        n_alert = self._db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]
        return {"objects": n_obj, "alerts": n_alert}


class MemoryStore:
    """The same interface as :class:`StateStore`, held in dicts: for hosts that keep the
    history elsewhere (an ANTARES filter keeps it in locus properties) and for one-shot runs.
    Seed it with :meth:`commit`, read it back with :meth:`histories` / :meth:`model_states`."""

    def __init__(self) -> None:
        self._histories: Dict[Key, ObjectHistory] = {}
        self._alerts: Dict[Tuple[str, str, str], dict] = {}
        self._models: Dict[Tuple[str, str, str], Optional[bytes]] = {}

    def close(self) -> None:
        pass

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def histories(self, keys: Sequence[Key]) -> Dict[Key, ObjectHistory]:
        return {k: replace(self._histories[k]) for k in keys if k in self._histories}

    def annotations(self, alerts: Sequence[Tuple[str, str, str]]) -> Dict[Tuple[str, str, str], dict]:
        return {k: self._alerts[k] for k in alerts if k in self._alerts}

    def commit(self, histories: Dict[Key, ObjectHistory],
               alerts: Iterable[Tuple[str, str, str, float, int, dict]],
               model_states: Iterable[Tuple[str, str, str, Optional[bytes]]] = ()) -> None:
        self._histories.update({k: replace(h) for k, h in histories.items()})
        for s, o, a, _mjd, _visit, ann in alerts:
            self._alerts.setdefault((s, o, a), ann)
        for s, o, model, blob in model_states:
            self._models[(s, o, model)] = blob

    def model_states(self, model: str, keys: Sequence[Key]) -> Dict[Key, bytes]:
        return {k: self._models[(k[0], k[1], model)] for k in keys
                if (k[0], k[1], model) in self._models}

    def counts(self) -> Dict[str, int]:
        return {"objects": len(self._histories), "alerts": len(self._alerts)}
