"""What the core remembers of an object between alerts, and the stores that keep it.

:class:`ObjectState` is the whole memory of one object: the policies' visit history (visits,
first/last alert MJD, best and summed rank, the garbage flag) and the opaque per-object states
of models that keep one (ORACLE's GRU state), by name. It has exactly one byte codec
(:meth:`ObjectState.to_bytes` / :meth:`ObjectState.from_bytes`), used by every store: the
SQLite store here, the in-memory store, an ANTARES locus property, a Kafka outbox.

Byte layout, version 1 (little endian, no pickle)::

    b"VRAOBJ" u8 version
    u32 n_visits, f64 first_mjd, f64 last_mjd, f64 max_rank, f64 sum_rank, u8 garbage
    u16 len + UTF-8 survey, u16 len + UTF-8 object id
    u16 n_models, then per model: u16 len + UTF-8 name, u32 len + bytes

A store implements :class:`StateStore`: ``load`` object states by key, ``lookup`` alerts
already scored (with the settings fingerprint that scored them) and ``commit`` a batch's
states and annotations in one transaction, so a crash mid-batch leaves the store as it was.
"""

from __future__ import annotations

import json
import math
import sqlite3
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    Union,
)

from .policies import ObjectHistory

Key = Tuple[str, str]
AlertKey = Tuple[str, str, str]

MAGIC = b"VRAOBJ"
CODEC_VERSION = 1
_HEAD = struct.Struct("<IddddB")


class StateError(ValueError):
    """Bytes that are not an :class:`ObjectState` of a known version, or a store that cannot
    be used (e.g. written by an older vra_filters)."""


@dataclass(frozen=True)
class ObjectState:
    """One object's memory between alerts (see the module docstring). Immutable."""

    survey: str
    object_id: str
    n_visits: int = 0
    first_mjd: float = math.nan
    last_mjd: float = -math.inf
    max_rank: float = -math.inf
    sum_rank: float = 0.0
    garbage: bool = False
    oracle: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def key(self) -> Key:
        return (self.survey, self.object_id)

    def history(self) -> ObjectHistory:
        """A mutable working copy of the policies' part."""
        return ObjectHistory(n_visits=self.n_visits, first_mjd=self.first_mjd,
                             last_mjd=self.last_mjd, max_rank=self.max_rank,
                             sum_rank=self.sum_rank, garbage=self.garbage)

    @classmethod
    def from_history(cls, survey: str, object_id: str, history: ObjectHistory,
                     oracle: Optional[Mapping[str, bytes]] = None) -> ObjectState:
        # The frozen dataclass's __init__ costs ~1 us a field (object.__setattr__); this runs
        # once per object per batch, so the fields are set in one go.
        out = object.__new__(cls)
        out.__dict__.update(survey=survey, object_id=object_id, n_visits=history.n_visits,
                            first_mjd=history.first_mjd, last_mjd=history.last_mjd,
                            max_rank=history.max_rank, sum_rank=history.sum_rank,
                            garbage=bool(history.garbage), oracle=dict(oracle or {}))
        return out

    # ------------------------------------------------------------------ codec
    def to_bytes(self) -> bytes:
        """The versioned binary form (raises :class:`StateError` for ids that are not valid
        Unicode, e.g. a lone surrogate)."""
        parts = [MAGIC, bytes([CODEC_VERSION]),
                 _HEAD.pack(int(self.n_visits), self.first_mjd, self.last_mjd, self.max_rank,
                            self.sum_rank, int(bool(self.garbage))),
                 _text(self.survey, "survey"), _text(self.object_id, "object id"),
                 struct.pack("<H", len(self.oracle))]
        for name in sorted(self.oracle):
            blob = bytes(self.oracle[name])
            parts += [_text(name, "model state name"), struct.pack("<I", len(blob)), blob]
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, blob: Union[bytes, bytearray, memoryview]) -> ObjectState:
        data = bytes(blob)
        if not data.startswith(MAGIC):
            raise StateError("not a vra_filters object state (bad magic)")
        if len(data) < len(MAGIC) + 1 or data[len(MAGIC)] != CODEC_VERSION:
            version = data[len(MAGIC)] if len(data) > len(MAGIC) else None
            raise StateError(f"object state codec version {version} is not supported "
                             f"(this vra_filters reads version {CODEC_VERSION})")
        reader = _Reader(data, len(MAGIC) + 1)
        n, first, last, best, total, garbage = reader.unpack(_HEAD)
        survey = reader.text()
        object_id = reader.text()
        (n_models,) = reader.unpack(_U16)
        oracle = {}
        for _ in range(n_models):
            name = reader.text()
            (size,) = reader.unpack(_U32)
            oracle[name] = reader.take(size)
        if reader.pos != len(data):
            raise StateError(f"object state has {len(data) - reader.pos} trailing bytes")
        return cls(survey, object_id, n, first, last, best, total, bool(garbage), oracle)


_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")


def _text(value: str, what: str) -> bytes:
    try:
        raw = str(value).encode("utf-8")
    except UnicodeEncodeError:
        raise StateError(f"{what} {value!r} is not valid Unicode (lone surrogate?)") from None
    if len(raw) > 0xFFFF:
        raise StateError(f"{what} is longer than 65535 bytes")
    return _U16.pack(len(raw)) + raw


class _Reader:
    def __init__(self, data: bytes, pos: int) -> None:
        self.data = data
        self.pos = pos

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise StateError("object state is truncated")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, st: struct.Struct) -> tuple:
        return st.unpack(self.take(st.size))

    def text(self) -> str:
        (n,) = self.unpack(_U16)
        try:
            return self.take(n).decode("utf-8")
        except UnicodeDecodeError:
            raise StateError("object state holds a string that is not UTF-8") from None


# ---------------------------------------------------------------------------------- stores


@dataclass(frozen=True)
class StoredAlert:
    """An alert already scored: the settings fingerprint that scored it and its annotation."""

    settings: str
    annotation: Dict[str, Any]


class StateStore(Protocol):  # pragma: no cover - a protocol
    """What the stream driver needs of a store (SQLite, memory, an adapter's own)."""

    def load(self, keys: Sequence[Key]) -> Dict[Key, ObjectState]: ...

    def lookup(self, alerts: Sequence[AlertKey]) -> Dict[AlertKey, StoredAlert]: ...

    def commit(self, states: Mapping[Key, ObjectState],
               alerts: Iterable[Tuple[AlertKey, str, str]]) -> None: ...

    def close(self) -> None: ...


_SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    survey TEXT NOT NULL, object_id TEXT NOT NULL, state BLOB NOT NULL,
    PRIMARY KEY (survey, object_id));
CREATE TABLE IF NOT EXISTS alerts (
    survey TEXT NOT NULL, object_id TEXT NOT NULL, alert_id TEXT NOT NULL,
    settings TEXT NOT NULL, annotation TEXT NOT NULL,
    PRIMARY KEY (survey, object_id, alert_id));
"""
_CHUNK = 300  # rows per IN (VALUES ...): 3 parameters each, under SQLite's old 999 limit


class SQLiteStore:
    """Object states and scored alerts in an SQLite file (``":memory:"`` for a throw-away).

    Alerts are looked up by their exact key, so the cost of a new alert does not grow with
    its object's history. A file written by an older schema is refused with the reason.
    """

    def __init__(self, path: Union[str, Path] = ":memory:", read_only: bool = False) -> None:
        self.path = str(path)
        if read_only:
            if not Path(self.path).is_file():
                raise StateError(f"{self.path}: no such state file")
            self._db = sqlite3.connect(f"file:{Path(self.path).resolve()}?mode=ro", uri=True)
        else:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path)
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StateError(f"{self.path}: not a vra_filters state file ({exc})") from None
        tables = {r[0] for r in self._db.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and version != _SCHEMA_VERSION:
            self._db.close()
            raise StateError(f"{self.path}: state file written by another vra_filters version "
                             f"(schema {version}, this one uses {_SCHEMA_VERSION}); move it "
                             "away or pass --state NEW.sqlite")
        if read_only:
            if not tables:
                self._db.close()
                raise StateError(f"{self.path}: not a vra_filters state file (empty)")
            return
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        with self._db:
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _select(self, sql: str, keys: Sequence[tuple], width: int) -> List[tuple]:
        rows: List[tuple] = []
        keys = list(dict.fromkeys(keys))
        row = "(" + ",".join("?" * width) + ")"
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i:i + _CHUNK]
            values = "VALUES " + ",".join([row] * len(chunk))
            params = [v for k in chunk for v in k]
            rows.extend(self._db.execute(sql.format(values=values), params).fetchall())
        return rows

    def load(self, keys: Sequence[Key]) -> Dict[Key, ObjectState]:
        rows = self._select("SELECT survey, object_id, state FROM objects "
                            "WHERE (survey, object_id) IN ({values})", keys, 2)
        return {(r[0], r[1]): ObjectState.from_bytes(r[2]) for r in rows}

    def lookup(self, alerts: Sequence[AlertKey]) -> Dict[AlertKey, StoredAlert]:
        rows = self._select("SELECT survey, object_id, alert_id, settings, annotation FROM alerts "
                            "WHERE (survey, object_id, alert_id) IN ({values})", alerts, 3)
        return {(r[0], r[1], r[2]): StoredAlert(r[3], json.loads(r[4])) for r in rows}

    def commit(self, states: Mapping[Key, ObjectState],
               alerts: Iterable[Tuple[AlertKey, str, str]]) -> None:
        """One transaction: the objects' new states and the alerts' ``(key, settings,
        annotation JSON)`` rows (a re-scored alert replaces its earlier row)."""
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO objects VALUES (?,?,?)",
                                 [(k[0], k[1], st.to_bytes()) for k, st in states.items()])
            self._db.executemany("INSERT OR REPLACE INTO alerts VALUES (?,?,?,?,?)",
                                 [(k[0], k[1], k[2], settings, text)
                                  for k, settings, text in alerts])

    def iter_annotations(self) -> Iterator[Dict[str, Any]]:
        """Every stored annotation (the latest of each alert), as dicts, in storage order."""
        for (text,) in self._db.execute("SELECT annotation FROM alerts ORDER BY rowid"):
            yield json.loads(text)

    def counts(self) -> Dict[str, int]:
        """Objects and alerts held (for progress reports and tests)."""
        n_obj = self._db.execute("SELECT COUNT(*) FROM objects").fetchone()[0]
        n_alert = self._db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]
        return {"objects": n_obj, "alerts": n_alert}


class MemoryStore:
    """:class:`SQLiteStore`'s interface in dicts (states kept as their bytes, as any store
    would, so nothing is shared with the caller): for one-shot runs and tests."""

    def __init__(self) -> None:
        self._objects: Dict[Key, bytes] = {}
        self._alerts: Dict[AlertKey, Tuple[str, str]] = {}

    def close(self) -> None:
        pass

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def load(self, keys: Sequence[Key]) -> Dict[Key, ObjectState]:
        return {k: ObjectState.from_bytes(self._objects[k]) for k in keys if k in self._objects}

    def lookup(self, alerts: Sequence[AlertKey]) -> Dict[AlertKey, StoredAlert]:
        return {k: StoredAlert(self._alerts[k][0], json.loads(self._alerts[k][1]))
                for k in alerts if k in self._alerts}

    def commit(self, states: Mapping[Key, ObjectState],
               alerts: Iterable[Tuple[AlertKey, str, str]]) -> None:
        encoded = {k: st.to_bytes() for k, st in states.items()}  # all or nothing
        rows = [(k, settings, text) for k, settings, text in alerts]
        self._objects.update(encoded)
        for k, settings, text in rows:
            self._alerts[k] = (settings, text)

    def counts(self) -> Dict[str, int]:
        return {"objects": len(self._objects), "alerts": len(self._alerts)}


def open_store(path: Union[str, Path, None]) -> Union[SQLiteStore, MemoryStore]:
    """A store for a ``--state`` value: ``":memory:"`` or None -> memory, else SQLite."""
    if path is None or str(path) == ":memory:":
        return MemoryStore()
    return SQLiteStore(path)
