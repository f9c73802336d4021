"""Field helpers shared by every reader: turning untrusted packet values into numbers, ids,
labels and columns, or into an :class:`~vra_filters.lightcurve.InputError` naming the field.

The rule every reader follows: a value whose *structure* is wrong (a record that is not a
record, a list that is not a list of records, an id that is not an id) rejects the alert with
a message saying which field; a context number that is missing or junk (``"abc"``, ``[1]``,
``10**400``) is NaN, because a missing host redshift must not cost the alert.

numpy and the standard library only (the ANTARES filter vendors this module).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

import numpy as np

from ..lightcurve import InputError

#: Longest id accepted (Rubin ids are 19 digits, ZTF ``ZTF19acihgng``, ATLAS 19 digits).
MAX_ID_CHARS = 128
#: Largest integer id: Rubin/ZTF/ATLAS ids are signed 64-bit integers.
MAX_INT_ID = 2 ** 63 - 1


class BadRecord:
    """Stands in for a record that could not even be decoded (a corrupt JSON line, the end of
    a truncated file). Every reader's ``from_record`` raises :class:`InputError` with
    ``reason`` for it, so the dispatcher reports it as a Skip and goes on with the file."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"BadRecord({self.reason!r})"


def check_not_bad(data: Any) -> None:
    """Raise the stored reason if ``data`` is a :class:`BadRecord`."""
    if isinstance(data, BadRecord):
        raise InputError(data.reason)


def kind(value: Any) -> str:
    """A value's JSON-ish type name for messages: 'null', 'a string', 'a number', ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a record"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def shown(value: Any, limit: int = 40) -> str:
    """A value quoted in a message: its repr cut to ``limit`` characters (containers and
    unprintable values by their kind only)."""
    if isinstance(value, (Mapping, list, tuple)):
        return kind(value)
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # e.g. an int too long for str()
        return kind(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def as_float(value: Any) -> float:
    """A scalar as float (numeric strings too); None and non-numeric values become NaN.

    Used for context values, where a missing number must not reject the whole alert."""
    if value is None or isinstance(value, (bytes, bool)):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return math.nan


def int_id(value: Any) -> int | None:
    """A positive 64-bit integer id, or None for None/0/NaN/garbage (strings included)."""
    if value is None or isinstance(value, (bool, str, bytes)):
        return None
    try:
        ident = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return ident if 0 < ident <= MAX_INT_ID else None


def check_text(text: str, where: str) -> str:
    """``text`` unchanged if it can be written as UTF-8, else an :class:`InputError`.

    JSON may carry lone surrogates (``"\\udcff"``); such an id could be neither stored nor
    printed, so it rejects the alert here rather than crashing a store later."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        raise InputError(f"{where}: not valid text (lone surrogate U+{ord(bad):04X} at "
                         f"character {exc.start + 1})") from None
    return text


def text_id(value: Any, where: str) -> str:
    """An object id as text: a non-empty string or a non-negative integer, at most
    :data:`MAX_ID_CHARS` characters and valid UTF-8; anything else names ``where``."""
    if value is None or value == "":
        raise InputError(f"{where}: missing")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(f"{where}: expected a string or an integer, got {kind(value)}")
    if isinstance(value, int):
        if not 0 <= value <= MAX_INT_ID:
            raise InputError(f"{where}: integer id out of range")
        return str(value)
    if len(value) > MAX_ID_CHARS:
        raise InputError(f"{where}: id longer than {MAX_ID_CHARS} characters")
    return check_text(value, where)


def label(value: Any) -> str:
    """A free-text context value (TNS name, Sherlock class) as a string: '' for None/NaN and
    for lists or records; characters UTF-8 cannot hold (lone surrogates) become '?'."""
    if value is None or isinstance(value, (Mapping, list, tuple, bytes, bool)):
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    text = value if isinstance(value, str) else str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def first_key(items: Sequence[Mapping], aliases: Sequence[str]) -> str | None:
    """The first alias present in the first item (schemas do not mix within one list)."""
    if not items:
        return None
    head = items[0]
    for name in aliases:
        if name in head:
            return name
    return None


def as_dict_list(value: Any, where: str) -> list[Mapping]:
    """A list of packet entries; None means empty; None elements are dropped.

    Only the first and last entries are type-checked here (cheap); :func:`column` names the
    list when an entry in between is not a record."""
    if value is None:
        return []
    if isinstance(value, Mapping) or not isinstance(value, (list, tuple)):
        raise InputError(f"{where}: expected a list of records, got {kind(value)}")
    items = list(value)
    if None in items:
        items = [d for d in items if d is not None]
    if items and not all(isinstance(d, Mapping) for d in (items[0], items[-1])):
        raise InputError(f"{where}: list entries are not records")
    return items


def record_list(value: Any, where: str) -> list[Mapping]:
    """Like :func:`as_dict_list` but every entry is checked (for short lists read with
    ``.get``, e.g. ATLAS rows and cross-matches)."""
    if value is None:
        return []
    if isinstance(value, Mapping) or not isinstance(value, (list, tuple)):
        raise InputError(f"{where}: expected a list of records, got {kind(value)}")
    items = list(value) if None not in value else [d for d in value if d is not None]
    if not set(map(type, items)) <= {dict}:  # fast path: plain dicts (what JSON gives)
        for i, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise InputError(f"{where}: entry {i + 1} is {kind(item)}, not a record")
    return items


def column(items: Sequence[Mapping], key: str | None, where: str,
           dtype: Any = float) -> np.ndarray:
    """One field of every entry as an array (missing/None -> NaN for floats)."""
    n = len(items)
    if key is None:
        return np.full(n, np.nan) if dtype is float else np.zeros(n, dtype=dtype)
    try:
        values = [d.get(key) for d in items]
    except AttributeError as exc:
        raise InputError(f"{where}: list entries are not records") from exc
    try:
        if dtype is bool:
            return np.array([bool(v) for v in values], dtype=bool)
        out = np.array(values, dtype=dtype)
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise InputError(f"{where}.{key}: non-numeric value") from exc
    if out.ndim != 1:  # equal-length lists instead of numbers
        raise InputError(f"{where}.{key}: non-numeric value")
    return out


def plain_values(items: Sequence[Any], keys: Sequence[str]) -> list[tuple] | None:
    """The values of ``keys`` in every entry, one tuple per key, in one pass over the list (a
    key an entry lacks gives None there, as ``.get`` would).

    Only for lists of plain dicts (what JSON, Avro and Parquet give): for anything else it
    returns None and the caller takes its field-by-field path, whose errors name the problem.
    """
    if not items or not keys or set(map(type, items)) != {dict}:
        return None
    get = itemgetter(*keys)
    try:
        rows = list(map(get, items))
    except KeyError:  # some entry lacks a field
        rows = [tuple(map(d.get, keys)) for d in items]
        if len(keys) == 1:
            rows = [row[0] for row in rows]
    if len(keys) == 1:
        return [tuple(rows)]
    return list(zip(*rows))


def all_distinct(ids: Sequence[Any]) -> bool:
    """True when no two ids are equal (then :func:`first_occurrence` keeps every entry); False
    also when an id is unhashable (let :func:`first_occurrence` decide)."""
    try:
        return len(set(ids)) == len(ids)
    except TypeError:
        return False


def first_occurrence(ids: list[Any]) -> np.ndarray:
    """Mask keeping the first entry of each distinct id (None or unhashable ids are never
    duplicates)."""
    n = len(ids)
    keep = np.ones(n, dtype=bool)
    if n < 2:
        return keep
    seen: dict[Any, int] = {}
    for i, ident in enumerate(ids):
        if ident is None:
            continue
        try:
            if ident in seen:
                keep[i] = False
            else:
                seen[ident] = i
        except TypeError:
            continue
    return keep
