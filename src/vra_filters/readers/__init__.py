"""Readers: map real survey inputs onto :class:`~vra_filters.lightcurve.LightCurve`.

Each format module exposes two functions:

* ``iter_records(path) -> Iterator[Record]`` — the raw records of a file, one per alert;
* ``from_record(record) -> LightCurve`` — one alert as a light curve, raising
  :class:`~vra_filters.lightcurve.InputError` (message naming the bad field) when it cannot.

:func:`read` ties them together and never raises for a bad alert: it yields a :class:`Skip`
with the reason instead, so one broken alert never stops a batch.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Union

from ..lightcurve import InputError, LightCurve

FORMATS = ("atlas", "lasair", "rubin", "ztf")


@dataclass
class Record:
    """One raw alert and where it came from (``source`` = file name and record index)."""

    source: str
    data: Any


@dataclass
class Skip:
    """An alert that was not scored, and why."""

    source: str
    reason: str


def _module(fmt: str):
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)} or auto")
    return importlib.import_module(f"{__name__}.{fmt}")


def sniff_format(path: Path) -> str:
    """Guess a file's format from its extension and first record."""
    from ._files import container_kind, head_text, sniff_survey
    if container_kind(path) in ("avro", "parquet"):
        return sniff_survey(path) or "rubin"
    head = head_text(path)
    if '"lcnondets"' in head or '"followup_flag_date"' in head:
        return "atlas"
    if '"diaObjectId"' in head and ('"sherlock_classifications"' in head or '"UTC"' in head):
        return "lasair"
    if '"prv_candidates"' in head or '"candidate"' in head:
        return "ztf"
    if '"diaSource"' in head:
        return "rubin"
    raise InputError(f"{path}: cannot tell the format (not ATLAS, Lasair, Rubin or ZTF); "
                     "pass --format")


def read(paths: Iterable[Union[str, Path]], fmt: str = "auto") -> Iterator[Union[LightCurve, Skip]]:
    """Light curves (or skips with reasons) from files of one format, or each sniffed."""
    for raw in paths:
        path = Path(raw)
        try:
            module = _module(sniff_format(path) if fmt == "auto" else fmt)
            records = module.iter_records(path)
            for record in records:
                try:
                    yield module.from_record(record.data)
                except (InputError, KeyError, TypeError, ValueError, IndexError) as exc:
                    yield Skip(record.source, _reason(exc))
        except FileNotFoundError:
            yield Skip(str(path), "file not found")
        except (InputError, ValueError, OSError, json.JSONDecodeError) as exc:
            yield Skip(str(path), _reason(exc))


def _reason(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return f"{type(exc).__name__}: {exc}" if not isinstance(exc, InputError) else str(exc)
