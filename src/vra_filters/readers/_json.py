"""JSON text as alert documents: a JSON array of packets, one packet, or JSON lines.

Why it is more than ``json.loads``: the files come from Kafka dumps, hand edits and cut-off
downloads, and one bad byte must cost one alert, not the file:

* JSON lines are read line by line from the stream (never the whole file); a line that is not
  UTF-8, not JSON, or nested too deeply for the parser is a :class:`BadRecord` for that line;
* an array is parsed in one go when it is well formed; when it is not (a cut-off download, a
  non-UTF-8 byte, one corrupt or over-nested element) it is walked element by element, so the
  elements before the damage (and after it, when the damage can be stepped over) are kept;
* a file that ends inside a document sets :attr:`Status.cut` and the caller reports one
  "file truncated after N records".

Parsing: orjson (~4x the standard library on a 47 kB Lasair message, bare ``NaN`` included:
see :func:`loads_lenient`), the standard library for the rest (``Infinity``, trailing commas
from Lasair's hand-edited files). The nesting limit is orjson's 1,024 levels whatever the
interpreter's recursion limit (an imported library may raise that one).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from typing import Any, BinaryIO

from ._fields import BadRecord


def _orjson():
    """The orjson module (a core dependency), or None: imported on first use so the readers
    also run from numpy and the standard library alone (the ANTARES filter vendors them)."""
    global _ORJSON
    if _ORJSON is None:
        try:
            import orjson
        except ImportError:
            orjson = False
        _ORJSON = orjson
    return _ORJSON or None


_ORJSON = None

#: A JSON string literal, or a comma followed only by whitespace and a closing bracket.
#: Matching strings first makes the trailing-comma fix safe: commas inside strings are kept.
_TRAILING_COMMA = re.compile(r'("(?:[^"\\]|\\.)*")|,(\s*[}\]])', re.DOTALL)
#: Trailing commas fixed one by one (each costs a re-parse) before the regex takes over.
_MAX_COMMA_FIXES = 20
#: Tokens that delimit JSON values: whole strings, brackets, commas (and an unclosed quote).
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},]|"', re.DOTALL)
#: What ``surrogateescape`` decoding makes of bytes that are not UTF-8.
_UNDECODABLE = re.compile("[\udc80-\udcff]")
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_BOM = b"\xef\xbb\xbf"
TOO_DEEP = "nested too deeply to read (over 1,024 levels)"


class Status:
    """What the parser saw of the end of the text: ``cut`` = it ended inside a document."""

    __slots__ = ("cut",)

    def __init__(self) -> None:
        self.cut = False


def _strip_trailing_commas(text: str) -> str:
    return _TRAILING_COMMA.sub(lambda m: m.group(1) or m.group(2), text)


def _too_deep(exc: Exception) -> bool:
    text = str(exc)
    return "depth" in text or "recursion" in text


def loads_lenient(data: bytes | str) -> Any:
    """One JSON document from bytes or text.

    :mod:`orjson` parses standard JSON. A document with a bare ``NaN`` (Lasair's messages) is
    parsed with each ``NaN`` written as ``null`` followed by a tab: outside
    strings that is the JSON for a missing value (the readers treat None and NaN alike), and
    inside a string the raw tab is invalid, so a string holding "NaN" makes this attempt fail
    instead of changing the text. What orjson refuses goes to the standard library, which also
    takes ``Infinity`` and trailing commas. Raises ValueError (corrupt; UnicodeDecodeError for
    bytes that are not UTF-8) or RecursionError (nested over 1,024 levels).
    """
    orjson = _ORJSON or _orjson()
    if orjson is not None:
        nan, null = _NAN[isinstance(data, str)]
        # "NaN" anywhere (1 us on 47 kB): the rewritten text first, the text as it is if
        # that fails (NaN only inside strings)
        for text in ((data.replace(nan, null), data) if nan in data else (data,)):
            try:
                return orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                if _too_deep(exc):
                    raise RecursionError(TOO_DEEP) from None
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    if data.count("[") + data.count("{") > MAX_DEPTH and _deeper_than(data, MAX_DEPTH):
        raise RecursionError(TOO_DEEP)  # orjson's limit, whatever the interpreter's
    return _loads_stdlib(data)


#: The nesting limit: orjson's, and the standard-library path's too.
MAX_DEPTH = 1024


def _deeper_than(text: str, limit: int) -> bool:
    """True when brackets outside strings nest deeper than ``limit`` (no recursion)."""
    depth = 0
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok in "[{":
            depth += 1
            if depth > limit:
                return True
        elif tok in "]}":
            depth -= 1
    return False


#: NaN -> null + tab, for bytes and for text.
_NAN = ((b"NaN", b"null\t"), ("NaN", "null\t"))


def _loads_stdlib(text: str) -> Any:
    """``json.loads`` that also accepts trailing commas (Lasair's hand-edited test files).

    On a parse error the decoder's own error position tells whether it is a trailing comma
    (a ``}``/``]`` preceded by ``,`` and blanks): that comma is removed and the text parsed
    again, so commas inside strings are never touched. After :data:`_MAX_COMMA_FIXES` such
    fixes the string-aware regex removes all the rest at once.
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


def parse_line(raw: bytes) -> Any:
    """One JSON line as a document, or a :class:`BadRecord` saying what is wrong with it."""
    if raw.startswith(_BOM):
        raw = raw[3:]
    try:
        return loads_lenient(raw)
    except UnicodeDecodeError as exc:
        return BadRecord(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column "
                         f"{exc.start + 1})")
    except RecursionError:
        return BadRecord(TOO_DEEP)
    except ValueError as exc:
        return BadRecord(f"corrupt JSON line ({exc})")


def looks_like_json_lines(text: str) -> bool:
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
                except (ValueError, RecursionError):
                    pass
        if starts > 1 and parsed:
            return True
    return False


def iter_lines(numbered: Iterable[tuple[int, bytes]], name: str,
               truncated: Callable[[], bool] = lambda: False,
               status: Status | None = None,
               cached: dict[int, Any] | None = None) -> Iterator[tuple[str, Any]]:
    """(``name:line``, document or BadRecord) per non-blank line. A last line without its
    newline in a stream that ``truncated()`` is the cut itself: it sets ``status.cut``
    instead of becoming a record."""
    for lineno, raw in numbered:
        if not raw or raw.isspace():  # (not raw.strip(): that copies a whole line)
            continue
        if not raw.endswith(b"\n") and truncated():
            if status is not None:
                status.cut = True
            return
        where = f"{name}:{lineno}"
        if cached is not None and lineno in cached:
            yield where, cached[lineno]
        else:
            yield where, parse_line(raw)


def _next_nonblank(it: Iterator[bytes], head: list[bytes]) -> bytes | None:
    """The next line of ``it`` that is not blank (None at the end); each line read is
    appended to ``head``."""
    for raw in it:
        head.append(raw)
        if raw and not raw.isspace():
            return raw
    return None


def iter_json(stream: BinaryIO, name: str, lines: bool, status: Status,
              truncated: Callable[[], bool] = lambda: False) -> Iterator[tuple[str, Any]]:
    """(source, document or BadRecord) for each alert-level document of a JSON byte stream.

    ``lines`` forces JSON lines (the file's suffix says so). Otherwise the first non-blank
    line decides: one that parses alone as an object, followed by another non-blank line,
    means JSON lines (streamed); anything else is one document (an array or one packet),
    read whole. ``source`` is ``name#index`` for documents, ``name:line`` for JSON lines.
    """
    it = iter(stream)
    if lines:
        yield from iter_lines(enumerate(it, 1), name, truncated, status)
        return
    head: list[bytes] = []
    first = _next_nonblank(it, head)
    if first is None:
        return
    if first.lstrip(_BOM).lstrip().startswith(b"{"):
        doc = parse_line(first)
        if not isinstance(doc, BadRecord) and (first.endswith(b"\n") or not truncated()):
            first_no = len(head)
            if _next_nonblank(it, head) is None:
                yield f"{name}#0", doc
                return
            yield from iter_lines(enumerate(chain(head, it), 1), name, truncated, status,
                                  cached={first_no: doc})
            return
    yield from iter_document(b"".join(head) + stream.read(), name, status)


def iter_document(data: bytes, name: str, status: Status) -> Iterator[tuple[str, Any]]:
    """The documents of a whole JSON text (array or one packet; JSON lines detected)."""
    try:
        text = data.decode("utf-8")
        clean = True
    except UnicodeDecodeError:
        text = data.decode("utf-8", "surrogateescape")
        clean = False
    if text.startswith("\ufeff"):
        text = text[1:]
    if clean:
        try:
            doc = loads_lenient(text)
        except (ValueError, RecursionError):
            pass
        else:
            if isinstance(doc, list):
                for i, item in enumerate(doc):
                    yield f"{name}#{i}", item
            else:
                yield f"{name}#0", doc
            return
    if looks_like_json_lines(text):
        yield from iter_lines(enumerate(data.split(b"\n"), 1), name)
        return
    i = _skip_ws(text, 0)
    if i < len(text) and text[i] == "[":
        yield from _walk_array(text, i + 1, name, clean, status)
    elif i < len(text):
        yield from _one_document(text, name, clean, status)


def _skip_ws(text: str, i: int) -> int:
    return _WHITESPACE.match(text, i).end()


def _undecodable(text: str, start: int, end: int) -> str | None:
    """'not UTF-8 text (byte 0x..)' if text[start:end] holds bytes that were not UTF-8."""
    m = _UNDECODABLE.search(text, start, end)
    return None if m is None else f"not UTF-8 text (byte 0x{ord(m.group()) - 0xDC00:02x})"


def _one_document(text: str, name: str, clean: bool, status: Status
                  ) -> Iterator[tuple[str, Any]]:
    try:
        doc = loads_lenient(text)
    except RecursionError:
        yield f"{name}#0", BadRecord(TOO_DEEP)
        return
    except ValueError as exc:
        if not text[getattr(exc, "pos", 0):].strip():
            status.cut = True  # ran off the end: the caller says "truncated"
        else:
            yield f"{name}#0", BadRecord(f"corrupt JSON ({exc})")
        return
    problem = None if clean else _undecodable(text, 0, len(text))
    yield f"{name}#0", BadRecord(problem) if problem else doc


def value_end(text: str, i: int) -> int | None:
    """Where the JSON value starting at ``i`` ends (string-aware bracket matching, no
    recursion), i.e. the index after it or of the ``,``/``]`` that follows a broken scalar;
    None when the text ends first."""
    depth = 0
    for m in _TOKEN.finditer(text, i):
        tok = m.group()
        if tok[0] == '"':
            if len(tok) == 1:
                return None  # a string that never closes
            if depth == 0:
                return m.end()
        elif tok in "[{":
            depth += 1
        elif tok in "]}":
            if depth == 0:
                return m.start()
            depth -= 1
            if depth == 0:
                return m.end()
        elif depth == 0:  # ','
            return m.start()
    return None


def _after_array(text: str, i: int, name: str, k: int) -> Iterator[tuple[str, Any]]:
    """A note when something other than blanks follows the array's closing bracket."""
    i = _skip_ws(text, i)
    if i < len(text):
        after = f"{k} record" if k == 1 else f"{k} records"
        yield name, BadRecord(f"unexpected text after the JSON array of {after} (at character "
                              f"{i + 1}); ignored")


def _walk_array(text: str, i: int, name: str, clean: bool, status: Status
                ) -> Iterator[tuple[str, Any]]:
    """The elements of a damaged JSON array one by one (the text after its ``[``)."""
    k = 0
    n = len(text)
    while True:
        i = _skip_ws(text, i)
        if i >= n:
            status.cut = True
            return
        if text[i] == "]":
            yield from _after_array(text, i + 1, name, k)
            return
        start = i
        reason = None
        obj: Any = None
        end = value_end(text, i)  # no recursion, so no limit of the interpreter's applies
        if end is None:
            status.cut = True
            return
        try:
            obj = loads_lenient(text[i:end])
        except RecursionError:
            reason = TOO_DEEP
        except ValueError as exc:
            reason = f"corrupt JSON ({exc})"
        if reason is None and not clean:
            reason = _undecodable(text, start, end)
        where = f"{name}#{k}"
        yield where, BadRecord(reason) if reason else obj
        k += 1
        i = _skip_ws(text, end)
        if i >= n:
            status.cut = True
            return
        if text[i] == ",":
            i += 1
        elif text[i] == "]":
            yield from _after_array(text, i + 1, name, k)
            return
        else:
            after = f"{k} record" if k == 1 else f"{k} records"
            yield name, BadRecord(f"corrupt JSON after {after} (expected ',' or ']' at "
                                  f"character {i + 1}); rest of the file not read")
            return
