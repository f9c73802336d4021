"""Readers: map real survey inputs onto :class:`~vra_filters.lightcurve.LightCurve`.

Public entry points:

* :func:`read` ``(source, format="auto") -> ReadResult``: everything at once, with
  ``.lightcurves``, ``.skips`` and ``.items`` (both, in input order);
* :func:`iter_read` ``(sources, format="auto")``: the same items streamed, one input file at a
  time (JSON lines and Avro record by record);
* :func:`from_record` ``(data, format)``: one already-parsed record, or InputError.

``source`` is a path (``str``/``Path``; a folder is a Parquet dataset), a list of paths,
``bytes`` (gzip, Avro, Parquet or JSON / JSON lines, told by their first bytes), or an iterable
of parsed records (dicts; the format is sniffed per record from its field names unless given).

Nothing here raises for a bad alert or a damaged file: each becomes a :class:`Skip` with a
short reason in plain words, and the rest of the input is still read.

Each format module exposes ``iter_records(path) -> Iterator[Record]`` and
``from_record(record) -> LightCurve`` (raising :class:`~vra_filters.lightcurve.InputError`
naming the bad field); a module may define ``select(docs)`` to filter one file's records
(Lasair drops its stream's duplicates: each comes out as a :class:`Duplicate`, a Skip with
the reason).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Union

from ..lightcurve import InputError, LightCurve
from ._fields import as_float as as_float  # public: adapters read catalogue numbers the same way

FORMATS = ("atlas", "lasair", "rubin", "ztf")
#: Longest Skip reason kept (an exception message can quote a whole record).
MAX_REASON = 300


@dataclass
class Record:
    """One raw alert and where it came from (``source`` = file name and record index)."""

    source: str
    data: Any


@dataclass
class Skip:
    """An alert (or an input) that was not read, and why."""

    source: str
    reason: str


@dataclass
class Duplicate(Skip):
    """A record of the input left out because another record of the same input carries the same
    alert (a re-delivery, or a Lasair object row whose full alert is in the file). It is a
    :class:`Skip` with its reason, so no record goes unaccounted for; ``vra score`` and the
    stream count these apart from real skips (``Stream.counts["duplicate_in_input"]``)."""


@dataclass
class ReadResult:
    """What :func:`read` found: every item in input order, light curves and skips apart."""

    items: List[Union[LightCurve, Skip]] = field(default_factory=list)

    @property
    def lightcurves(self) -> List[LightCurve]:
        return [x for x in self.items if isinstance(x, LightCurve)]

    @property
    def skips(self) -> List[Skip]:
        """Every record not read, with its reason (duplicates of the input included)."""
        return [x for x in self.items if isinstance(x, Skip)]

    @property
    def duplicates(self) -> List[Duplicate]:
        """The records left out as duplicates of others in the same input."""
        return [x for x in self.items if isinstance(x, Duplicate)]

    def __iter__(self) -> Iterator[Union[LightCurve, Skip]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def _module(fmt: str):
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)} or auto")
    return importlib.import_module(f"{__name__}.{fmt}")


def sniff_text(head: str) -> str | None:
    """The format of a JSON text from the field names in its first 64 kB (None if unsure)."""
    if '"lcnondets"' in head or '"followup_flag_date"' in head:
        return "atlas"
    if '"diaObjectId"' in head and ('"sherlock_classifications"' in head or '"UTC"' in head):
        return "lasair"
    if '"prv_candidates"' in head or '"candidate"' in head:
        return "ztf"
    if '"diaSource"' in head:
        return "rubin"
    return None


def sniff_record(data: Any) -> str | None:
    """The format of one parsed record from its top-level field names (None if unsure)."""
    from ._files import survey_from_names
    return survey_from_names(data) if isinstance(data, Mapping) else None


def sniff_format(path: Any) -> str:
    """Guess an input's format (a path or a :class:`~._files.Source`): the schema of an
    Avro/Parquet container, else the field names at the start of the JSON text."""
    from ._files import Source, head_text, sniff_survey
    src = Source.of(path)
    if src.kind() in ("avro", "parquet"):
        return sniff_survey(src) or "rubin"
    fmt = sniff_text(head_text(src))
    if fmt is None:
        raise InputError("cannot tell the format (not ATLAS, Lasair, Rubin or ZTF); "
                         "pass the format")
    return fmt


def from_record(data: Any, format: str = "auto") -> LightCurve:
    """One parsed record (a dict) as a light curve; InputError (naming the field) otherwise.

    ``format`` is one of :data:`FORMATS`, or "auto" to tell it from the record's fields."""
    fmt = format
    if fmt == "auto":
        fmt = sniff_record(data)
        if fmt is None:
            raise InputError("cannot tell the format from the record's fields (not ATLAS, "
                             "Lasair, Rubin or ZTF); pass the format")
    module = _module(fmt)
    try:
        lc = module.from_record(data)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(reason_of(exc)) from exc
    check_ids(lc)
    return lc


def check_ids(lc: LightCurve) -> None:
    """InputError unless the object and alert ids are text that UTF-8 can hold."""
    from ._fields import check_text
    for name in ("object_id", "alert_id"):
        value = getattr(lc, name)
        if not isinstance(value, str):
            raise InputError(f"{name}: not text ({type(value).__name__})")
        check_text(value, name)


def reason_of(exc: BaseException) -> str:
    """A short reason in plain words for an exception raised by one record or input."""
    if isinstance(exc, InputError):
        text = str(exc)
    elif isinstance(exc, RecursionError):
        text = "nested too deeply to read"
    elif isinstance(exc, KeyError):
        text = f"missing field {exc.args[0]!r}" if exc.args else "missing field"
    elif isinstance(exc, FileNotFoundError):
        text = "file not found"
    elif isinstance(exc, PermissionError):
        text = "permission denied"
    elif isinstance(exc, OSError) and exc.strerror:
        text = f"cannot read the file ({exc.strerror})"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return clean_text(text)


def clean_text(text: str, limit: int = MAX_REASON) -> str:
    """``text`` safe to print and store: lone surrogates escaped, at most ``limit`` chars."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _inputs(source: Any) -> Iterator[tuple[str, Any]]:
    """(label, item) for each input of ``source`` (see :func:`read`)."""
    if isinstance(source, (str, Path)):
        yield "", source
        return
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield "<bytes>", bytes(source)
        return
    if isinstance(source, Mapping):
        yield "<record 0>", source
        return
    try:
        items = iter(source)
    except TypeError:
        raise TypeError("source must be a path, a list of paths, bytes or an iterable of "
                        f"records, not {type(source).__name__}") from None
    for k, item in enumerate(items):
        if isinstance(item, (bytes, bytearray, memoryview)):
            yield f"<bytes {k}>", bytes(item)
        elif isinstance(item, Mapping):
            yield f"<record {k}>", item
        else:
            yield f"<input {k}>", item


def iter_read(sources: Any, format: str = "auto"
              ) -> Iterator[Union[LightCurve, Skip]]:
    """Light curves and skips, in input order, one input at a time (see :func:`read`).

    Memory: one file's records at most (a JSON array or Parquet batch, a Lasair file for
    its duplicate check); JSON lines and Avro are read record by record."""
    if format != "auto":
        _module(format)  # an unknown format is the caller's error, raised at once
    for label, item in _inputs(sources):
        if isinstance(item, Mapping):
            yield _map_one(label, item, format)
        elif isinstance(item, (bytes, str, Path)) or hasattr(item, "__fspath__"):
            yield from _read_input(label, item, format)
        else:
            yield Skip(label, f"not a path, bytes or a record ({type(item).__name__})")


def read(source: Any, format: str = "auto") -> ReadResult:
    """Every light curve (and skip, with its reason) of ``source``, in input order.

    ``source``: a path or a list of paths (JSON, JSON lines, Avro, Parquet; gzipped or not;
    a folder of Parquet parts), ``bytes`` of any of those, or an iterable of parsed records.
    ``format``: one of :data:`FORMATS`, or "auto" (per file from its schema or first fields;
    per record from its keys). Records given as dicts are mapped one by one (the Lasair file
    duplicate check applies to files and bytes only). For large inputs prefer
    :func:`iter_read`, which streams."""
    return ReadResult(list(iter_read(source, format)))


def _map_one(source: str, data: Any, fmt: str) -> Union[LightCurve, Skip]:
    try:
        return from_record(data, fmt)
    except Exception as exc:
        return Skip(source, reason_of(exc))


def _read_input(label: str, item: Any, fmt: str) -> Iterator[Union[LightCurve, Skip]]:
    """The items of one file or blob: its records mapped, damage reported as skips."""
    from ._files import Source, iter_any
    if isinstance(item, bytes):
        src = Source(label, data=item)
    else:
        path = Path(item)
        src = Source(path.name or str(path), path=path)
    name = clean_text(src.name)
    n = 0
    try:
        if src.path is not None and not src.path.exists():
            raise FileNotFoundError(str(src.path))
        module = _module(sniff_format(src) if fmt == "auto" else fmt)
        docs: Iterable[tuple[str, Any]] = iter_any(src)
        select = getattr(module, "select", None)
        if select is not None:
            docs = select(docs)
        for source, data in docs:
            n += 1
            if isinstance(data, Skip):  # the module's selection left it out, and says why
                yield data
                continue
            try:
                lc = module.from_record(data)
                check_ids(lc)
            except Exception as exc:
                yield Skip(clean_text(source), reason_of(exc))
            else:
                yield lc
    except Exception as exc:
        if isinstance(exc, FileNotFoundError) and src.path is not None:
            name = clean_text(str(src.path))  # the whole path: the name alone may mislead
        yield Skip(name, reason_of(exc))
        return
    if n == 0:
        yield Skip(name, "no record in the input")
