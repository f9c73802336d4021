"""Inputs shared by the alert readers: files or in-memory bytes holding JSON (array, single
packet, JSON lines), Avro container files or Parquet, each optionally gzip-compressed.

Why one place: Lasair, Rubin and ZTF alerts arrive in the same few containers, and the rules
for a broken input must be identical everywhere. Every iterator here yields
``(source, record)`` pairs and never raises for damage it can locate: a corrupt JSON line, a
non-UTF-8 byte or an over-nested element becomes a :class:`~._fields.BadRecord` (a Skip for
that record), and a file that ends early (a cut-off ``.jsonl.gz``, ``.json.gz`` or Avro file)
gives the records before the cut and then one ``"file truncated after N records"``. Only an
input that cannot be opened at all raises :class:`~vra_filters.lightcurve.InputError`.

The container is told by its magic number (gzip ``1f 8b``, Avro ``Obj\\x01``, Parquet
``PAR1``), else by the file suffix. fastavro and pyarrow are imported inside the functions
that need them so that importing the package (e.g. on an ANTARES worker) costs nothing.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..lightcurve import InputError
from . import _json
from ._fields import BadRecord

GZIP_MAGIC = b"\x1f\x8b"
AVRO_MAGIC = b"Obj\x01"
PARQUET_MAGIC = b"PAR1"
#: Suffixes that say "one JSON document per line" without looking inside.
_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonlines")
_CHUNK = 1 << 16
_MAX_OUT = 1 << 20


class GunzipReader(io.RawIOBase):
    """A gzip stream (one or more members) decompressed as it is read.

    Unlike :mod:`gzip`, an early end is not an exception: reading just stops and
    :attr:`truncated` is set, so the caller keeps everything before the cut. Corrupt
    compressed data or bytes after the last member stop reading too and set :attr:`error`.
    """

    def __init__(self, raw: Any, chunk: int = _CHUNK, max_out: int = _MAX_OUT) -> None:
        super().__init__()
        self._raw = raw
        self._chunk, self._max_out = chunk, max_out
        self._z: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._in = b""
        self._out = b""
        self._pos = 0
        self._done = False
        self.truncated = False
        self.error: str | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        while self._pos >= len(self._out):
            if not self._fill():
                return 0
        n = min(len(buf), len(self._out) - self._pos)
        buf[:n] = memoryview(self._out)[self._pos:self._pos + n]
        self._pos += n
        return n

    def readall(self) -> bytes:
        parts = [self._out[self._pos:]]
        self._pos = len(self._out)
        while self._fill():
            parts.append(self._out)
            self._pos = len(self._out)
        return b"".join(parts)

    def close(self) -> None:
        self._raw.close()
        super().close()

    def _fill(self) -> bool:
        """Decompress the next piece into ``_out``; False at the end of the data."""
        while not self._done:
            if self._z is None:  # between two members: another one, zero padding, or the end
                while len(self._in) < 2:
                    more = self._raw.read(self._chunk)
                    if not more:
                        break
                    self._in += more
                if not self._in.strip(b"\x00"):
                    self._in = self._raw.read(self._chunk)
                    if not self._in:
                        break  # clean end
                    continue
                if self._in[:2] != GZIP_MAGIC:
                    self.error = "unexpected bytes after the gzip data"
                    break
                self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
            if not self._in:
                self._in = self._raw.read(self._chunk)
                if not self._in:  # end of input inside a member: pending output, then stop
                    self._done = True
                    try:
                        out = self._z.flush()
                    except zlib.error:
                        out = b""
                    self.truncated = not self._z.eof
                    if out:
                        self._out, self._pos = out, 0
                        return True
                    return False
            try:
                out = self._z.decompress(self._in, self._max_out)
            except zlib.error as exc:
                self.error = f"corrupt gzip data ({exc})"
                break
            if self._z.eof:
                self._in = self._z.unused_data
                self._z = None
            else:
                self._in = self._z.unconsumed_tail
            if out:
                self._out, self._pos = out, 0
                return True
        self._done = True
        return False


class Source:
    """One input: a file (``path``) or a blob of bytes (``data``), named ``name`` in sources."""

    __slots__ = ("name", "path", "data", "_kind")

    def __init__(self, name: str, path: Path | None = None, data: bytes | None = None) -> None:
        self.name, self.path, self.data = name, path, data
        self._kind: str | None = None

    @classmethod
    def of(cls, item: Any) -> Source:
        if isinstance(item, Source):
            return item
        path = Path(item)
        return cls(path.name, path=path)

    def open_raw(self) -> Any:
        return open(self.path, "rb") if self.path is not None else io.BytesIO(self.data)

    def open(self, peek: int = 0) -> tuple[Any, GunzipReader | None]:
        """A binary stream of the (gunzipped) content, and the gunzip reader if any
        (``peek``: only that many bytes will be read, so decompress no more)."""
        raw = self.open_raw()
        try:
            magic = raw.read(2)
            raw.seek(0)
        except BaseException:
            raw.close()
            raise
        if magic == GZIP_MAGIC:
            if peek:
                gz = GunzipReader(raw, chunk=min(peek, _CHUNK), max_out=peek)
                return io.BufferedReader(gz, peek), gz
            gz = GunzipReader(raw)
            return io.BufferedReader(gz, _CHUNK), gz
        return raw, None

    def head(self, size: int = 65536) -> bytes:
        """The first ``size`` bytes of the content (gunzipped; as much as there is)."""
        stream, _ = self.open(peek=size)
        with stream:
            return stream.read(size)

    @property
    def suffixes(self) -> str:
        return "".join(self.path.suffixes).lower() if self.path is not None else ""

    def kind(self) -> str:
        """'avro', 'parquet' or 'json': the magic number, else the suffix (folder = Parquet)."""
        if self._kind is None:
            self._kind = self._find_kind()
        return self._kind

    def _find_kind(self) -> str:
        if self.path is not None and self.path.is_dir():
            return "parquet"
        magic = self.head(4)
        if magic == AVRO_MAGIC:
            return "avro"
        if magic == PARQUET_MAGIC:
            return "parquet"
        if ".avro" in self.suffixes:
            return "avro"
        if ".parquet" in self.suffixes:
            return "parquet"
        return "json"


def trailer(name: str, n: int, gz: GunzipReader | None, cut: bool) -> BadRecord | None:
    """The record closing a damaged input: truncated (gzip or document cut), or corrupt."""
    if (gz is not None and gz.truncated) or cut:
        return BadRecord(f"file truncated after {records(n)}")
    if gz is not None and gz.error:
        return BadRecord(f"{gz.error} after {records(n)}")
    return None


def records(n: int) -> str:
    return f"{n} record" if n == 1 else f"{n} records"


def iter_json_documents(source: Any) -> Iterator[tuple[str, Any]]:
    """(source, document) for each alert-level JSON document of a file or :class:`Source`.

    Layouts: a JSON array of packets, a single packet object, or JSON lines (``.jsonl`` /
    ``.ndjson`` or detected from the content), any of them gzipped; see :mod:`._json`.
    """
    src = Source.of(source)
    stream, gz = src.open()
    status = _json.Status()
    lines = any(s in src.suffixes for s in _JSONL_SUFFIXES)
    n = 0
    with stream:
        for item in _json.iter_json(stream, src.name, lines, status,
                                    truncated=lambda: gz is not None and gz.truncated):
            n += 1
            yield item
    tail = trailer(src.name, n, gz, status.cut)
    if tail is not None:
        yield src.name, tail


def iter_avro(source: Any) -> Iterator[tuple[str, Any]]:
    """(source, record) for each record of an Avro container file (optionally gzipped),
    streamed block by block. A file cut inside a block gives the records of the blocks
    before it and then "file truncated after N records"; other damage ends the file with
    "corrupt Avro file after N records" (or "not a readable Avro file")."""
    import fastavro  # lazy: only Avro users pay for it

    src = Source.of(source)
    magic = src.head(4)
    if len(magic) == 4 and magic != AVRO_MAGIC:
        raise InputError("not an Avro file (it does not start with the Avro header)")
    stream, gz = src.open()
    n = 0
    failure: Exception | None = None
    with stream:
        try:
            for rec in fastavro.reader(stream):
                yield f"{src.name}#{n}", rec
                n += 1
        except Exception as exc:
            failure = exc
        exhausted = failure is not None and not stream.read(1)
    tail = trailer(src.name, n, gz, exhausted)
    if tail is None and failure is not None:
        what = "corrupt Avro file after " + records(n) if n else "not a readable Avro file"
        tail = BadRecord(f"{what} ({type(failure).__name__}: {failure})")
    if tail is not None:
        yield src.name, tail


def _parquet_parts(src: Source) -> list[Any]:
    if src.path is not None and src.path.is_dir():
        parts = sorted(p for p in src.path.rglob("*.parquet") if p.is_file())
        if not parts:
            raise InputError("folder holds no .parquet part")
        return parts
    stream, gz = src.open()
    if gz is None and src.path is not None:
        stream.close()
        return [src.path]
    with stream:
        data = stream.read()
    if gz is not None and (gz.truncated or gz.error):
        raise InputError("file truncated (gzip stream ends early); a Parquet file "
                         "cannot be read in part")
    return [io.BytesIO(data)]


def iter_parquet(source: Any, skip_prefixes: tuple[str, ...] = ("cutout",),
                 batch_size: int = 256) -> Iterator[tuple[str, Any]]:
    """(source, row dict) for each row of a Parquet file or a Spark-style folder of parts.

    Columns whose names start with ``skip_prefixes`` (the image cutouts, ~100 kB per alert)
    are not read at all. Rows are converted batch by batch so memory stays bounded.
    """
    import pyarrow.parquet as pq  # lazy: only Parquet users pay for it

    src = Source.of(source)
    index = 0
    for part in _parquet_parts(src):
        label = f" (part {part.name})" if isinstance(part, Path) and part != src.path else ""
        try:
            pfile = pq.ParquetFile(part)
            columns: list[str] | None = [
                n for n in pfile.schema_arrow.names if not n.startswith(skip_prefixes)]
            for batch in pfile.iter_batches(batch_size=batch_size, columns=columns):
                for row in batch.to_pylist():
                    yield f"{src.name}#{index}", row
                    index += 1
        except Exception as exc:
            raise InputError(f"corrupt Parquet file{label} after {records(index)} "
                             f"({type(exc).__name__}: {exc})") from exc


def iter_any(source: Any) -> Iterator[tuple[str, Any]]:
    """(source, packet) from a JSON, Avro or Parquet input, chosen by :meth:`Source.kind`."""
    src = Source.of(source)
    kind = src.kind()
    if kind == "avro":
        return iter_avro(src)
    if kind == "parquet":
        return iter_parquet(src)
    return iter_json_documents(src)


def iter_packet_records(path: Any) -> Iterator[Any]:
    """The reader contract's ``iter_records`` for one-packet-per-record files (Rubin, ZTF):
    :class:`~vra_filters.readers.Record` objects from a JSON, Avro or Parquet file."""
    from . import Record

    for source, data in iter_any(path):
        yield Record(source, data)


def container_kind(path: Any) -> str:
    """'avro', 'parquet' or 'json' for a file, folder or :class:`Source`."""
    return Source.of(path).kind()


def head_text(path: Any, size: int = 65536) -> str:
    """The first ``size`` bytes of a (possibly gzipped) input as text, for format sniffing."""
    return Source.of(path).head(size).decode("utf-8", errors="replace")


def schema_names(source: Any) -> set[str] | None:
    """Top-level field names of an Avro/Parquet input's schema (None if it has none)."""
    src = Source.of(source)
    kind = src.kind()
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            parts = _parquet_parts(src)
            return set(pq.ParquetFile(parts[0]).schema_arrow.names)
        if kind == "avro":
            import fastavro

            stream, _ = src.open()
            with stream:
                schema = fastavro.reader(stream).writer_schema  # reads the header only
            return {f.get("name") for f in schema.get("fields", [])} if isinstance(
                schema, dict) else set()
    except Exception:
        return None
    return None


def survey_from_names(names: Any) -> str | None:
    """'ztf', 'rubin', 'lasair' or 'atlas' from a record's (or schema's) top-level field names."""
    if "candidate" in names or "prv_candidates" in names:
        return "ztf"
    if "object" in names and ("lc" in names or "lcnondets" in names):
        return "atlas"
    if "diaObjectId" in names and any(k in names for k in
                                      ("alert", "sherlock_classifications", "UTC", "latestR")):
        return "lasair"
    if any(k in names for k in ("diaSource", "diaSourcesList", "prvDiaSources")):
        return "rubin"
    return None


def sniff_survey(path: Any) -> str | None:
    """'ztf' or 'rubin' from the field names of an Avro/Parquet file's schema (None if unsure).

    The dispatcher's container rule sends every Avro/Parquet input to the Rubin reader; ZTF
    files (``candidate``/``prv_candidates``) need this look at the schema instead.
    """
    names = schema_names(path)
    if not names:
        return None
    survey = survey_from_names(names)
    return survey if survey in ("ztf", "rubin") else None
