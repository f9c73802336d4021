"""File plumbing shared by the alert readers: JSON (array, single packet, JSON lines), Avro
container files and Parquet, each optionally gzip-compressed.

Why one place: Lasair, Rubin and ZTF alerts arrive in the same few containers, and the rules
for a broken file must be identical everywhere. A file that cannot be parsed as a whole raises
:class:`~vra_filters.lightcurve.InputError` (the dispatcher turns it into one Skip); in a JSON
lines file only the broken line is lost: it becomes a :class:`BadRecord` whose
``from_record`` raises, i.e. a per-line Skip, and the other lines are still read.

fastavro and pyarrow are imported inside the functions that need them so that importing the
package (e.g. on an ANTARES worker) costs nothing.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..lightcurve import InputError

_GZIP_MAGIC = b"\x1f\x8b"

#: A JSON string literal, or a comma followed only by whitespace and a closing bracket.
#: Matching strings first makes the trailing-comma fix safe: commas inside strings are kept.
_TRAILING_COMMA = re.compile(r'("(?:[^"\\]|\\.)*")|,(\s*[}\]])', re.DOTALL)

#: Suffixes that say "one JSON document per line" without looking inside.
_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonlines")

#: Trailing commas fixed one by one (each costs a re-parse) before the regex takes over.
_MAX_COMMA_FIXES = 20


class BadRecord:
    """Stands in for a record that could not even be decoded (e.g. a corrupt JSON line).

    ``from_record`` of every reader raises :class:`InputError` with ``reason`` for it, so the
    dispatcher reports that one line as a Skip and goes on with the file.
    """

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"BadRecord({self.reason!r})"


def check_not_bad(data: Any) -> None:
    """Raise the stored reason if ``data`` is a :class:`BadRecord`."""
    if isinstance(data, BadRecord):
        raise InputError(data.reason)


def read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when the file starts with the gzip magic number.

    The magic number, not the suffix, decides, so a misnamed file still reads. A truncated gzip
    stream is an :class:`InputError` for the whole file.
    """
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, ValueError) as exc:
            raise InputError(f"{path.name}: corrupt gzip stream ({exc})") from exc
    return raw


def _strip_trailing_commas(text: str) -> str:
    return _TRAILING_COMMA.sub(lambda m: m.group(1) or m.group(2), text)


def loads_lenient(text: str) -> Any:
    """``json.loads`` that also accepts trailing commas (Lasair's hand-edited test files).

    Bare ``NaN``/``Infinity`` are accepted by the stdlib already. Well-formed input is parsed
    once. On a parse error the decoder's own error position tells whether it is a trailing
    comma (a ``}``/``]`` preceded by ``,`` and blanks): that comma is removed and the text
    parsed again, so commas inside strings are never touched. After
    :data:`_MAX_COMMA_FIXES` such fixes the string-aware regex removes all the rest at once.
    """
    for _ in range(_MAX_COMMA_FIXES):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            pos = exc.pos
            j = pos - 1
            while j >= 0 and text[j] in " \t\r\n":
                j -= 1
            if not (pos < len(text) and text[pos] in "}]" and j >= 0 and text[j] == ","):
                raise
            text = text[:j] + text[j + 1:]
    return json.loads(_strip_trailing_commas(text))


def _suffixes(path: Path) -> str:
    return "".join(path.suffixes).lower()


def _looks_like_json_lines(text: str) -> bool:
    """True when several lines start with ``{`` at column 0 and at least one parses alone.

    A pretty-printed single object or array has at most one such line (nested objects are
    indented), so this separates JSON lines from one broken document.
    """
    starts = 0
    parsed = False
    for line in text.splitlines():
        if line.startswith("{"):
            starts += 1
            if not parsed:
                try:
                    loads_lenient(line)
                    parsed = True
                except ValueError:
                    pass
        if starts > 1 and parsed:
            return True
    return False


def iter_json_documents(path: Path) -> Iterator[tuple[str, Any]]:
    """(source, document) for each alert-level JSON document in a file.

    Accepted layouts: a JSON array of packets, a single packet object, or JSON lines (one
    packet per line; ``.jsonl``/``.ndjson`` or detected from the content). Any of them may be
    gzipped. ``source`` is ``"<file>#<index>"`` (array / single) or ``"<file>:<line>"``
    (JSON lines). A corrupt line in a JSON lines file yields a :class:`BadRecord`.
    """
    raw = read_bytes(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path.name}: not UTF-8 text ({exc})") from exc
    name = path.name
    if not any(s in _suffixes(path) for s in _JSONL_SUFFIXES):
        try:
            doc = loads_lenient(text)
        except ValueError as exc:
            if not _looks_like_json_lines(text):
                raise InputError(f"{name}: corrupt or truncated JSON ({exc})") from exc
        else:
            if isinstance(doc, list):
                for i, item in enumerate(doc):
                    yield f"{name}#{i}", item
            else:
                yield f"{name}#0", doc
            return
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"{name}:{lineno}", loads_lenient(line)
        except ValueError as exc:
            yield f"{name}:{lineno}", BadRecord(f"{name}:{lineno}: corrupt JSON line ({exc})")


def iter_avro(path: Path) -> Iterator[tuple[str, Any]]:
    """(source, record) for each record of an Avro container file (optionally gzipped).

    One record = one alert packet (fink-client data-transfer files, Rubin/ZTF alert files). A
    file whose header or blocks cannot be decoded is an :class:`InputError`; records decoded
    before a broken block are still yielded.
    """
    import fastavro  # lazy: only Avro users pay for it

    with open(path, "rb") as fh:
        magic = fh.read(2)
    name = path.name
    try:
        if magic == _GZIP_MAGIC:
            stream: Any = io.BytesIO(read_bytes(path))
        else:
            stream = open(path, "rb")  # noqa: SIM115 - closed in finally
        try:
            for i, rec in enumerate(fastavro.reader(stream)):
                yield f"{name}#{i}", rec
        finally:
            stream.close()
    except InputError:
        raise
    except (ValueError, EOFError, OSError, TypeError, IndexError, KeyError, StopIteration,
            AssertionError) as exc:
        raise InputError(f"{name}: corrupt Avro file ({type(exc).__name__}: {exc})") from exc


def iter_parquet(path: Path, skip_prefixes: tuple[str, ...] = ("cutout",),
                 batch_size: int = 256) -> Iterator[tuple[str, Any]]:
    """(source, row dict) for each row of a Parquet file or a Spark-style folder of parts.

    Columns whose names start with ``skip_prefixes`` (the image cutouts, ~100 kB per alert)
    are not read at all. Rows are converted batch by batch so memory stays bounded.
    """
    import pyarrow.parquet as pq  # lazy: only Parquet users pay for it

    parts: list[Path]
    if path.is_dir():
        parts = sorted(p for p in path.rglob("*.parquet") if p.is_file())
        if not parts:
            raise InputError(f"{path.name}: folder holds no .parquet part")
    else:
        parts = [path]
    index = 0
    for part in parts:
        try:
            pfile = pq.ParquetFile(part)
            columns: list[str] | None = [
                n for n in pfile.schema_arrow.names if not n.startswith(skip_prefixes)]
            for batch in pfile.iter_batches(batch_size=batch_size, columns=columns):
                for row in batch.to_pylist():
                    yield f"{path.name}#{index}", row
                    index += 1
        except InputError:
            raise
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise InputError(f"{part.name}: corrupt Parquet file ({type(exc).__name__}: "
                             f"{exc})") from exc


def container_kind(path: Path) -> str:
    """'avro', 'parquet' or 'json', from the suffixes (a folder is a Parquet dataset)."""
    if path.is_dir():
        return "parquet"
    suffixes = _suffixes(path)
    if ".avro" in suffixes:
        return "avro"
    if ".parquet" in suffixes:
        return "parquet"
    return "json"


def iter_packet_records(path: Path) -> Iterator[Any]:
    """The reader contract's ``iter_records`` for one-packet-per-record files (Rubin, ZTF):
    :class:`~vra_filters.readers.Record` objects from a JSON, Avro or Parquet file."""
    from . import Record

    for source, data in iter_any(Path(path)):
        yield Record(source, data)


def iter_any(path: Path) -> Iterator[tuple[str, Any]]:
    """(source, packet) from a JSON, Avro or Parquet file, chosen by :func:`container_kind`."""
    kind = container_kind(path)
    if kind == "avro":
        return iter_avro(path)
    if kind == "parquet":
        return iter_parquet(path)
    return iter_json_documents(path)


def head_text(path: Path, size: int = 65536) -> str:
    """The first ``size`` characters of a (possibly gzipped) text file, for format sniffing."""
    with open(path, "rb") as fh:
        raw = fh.read(size)
    if raw[:2] == _GZIP_MAGIC:
        with gzip.open(path, "rb") as fh:
            try:
                raw = fh.read(size)
            except (OSError, EOFError):
                raw = b""
    return raw.decode("utf-8", errors="replace")


def sniff_survey(path: Path) -> str | None:
    """'ztf' or 'rubin' from the field names of an Avro/Parquet file's schema (None if unsure).

    The dispatcher's extension rule sends every ``.avro``/``.parquet`` to the Rubin reader;
    ZTF files (``candidate``/``prv_candidates``) need this look at the schema instead.
    """
    kind = container_kind(path)
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            target = path
            if path.is_dir():
                parts = sorted(p for p in path.rglob("*.parquet") if p.is_file())
                if not parts:
                    return None
                target = parts[0]
            names = set(pq.read_schema(target).names)
        elif kind == "avro":
            import fastavro

            with open(path, "rb") as fh:
                gzipped = fh.read(2) == _GZIP_MAGIC
            with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as fh:
                schema = fastavro.reader(fh).writer_schema  # reads the header only
            names = {f.get("name") for f in schema.get("fields", [])} if isinstance(
                schema, dict) else set()
        else:
            return None
    except (OSError, ValueError, EOFError, InputError):
        return None
    if "candidate" in names or "prv_candidates" in names:
        return "ztf"
    if "diaSource" in names or "diaSourcesList" in names:
        return "rubin"
    return None
