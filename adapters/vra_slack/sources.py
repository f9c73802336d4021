"""What the notifier reads: annotations (JSON lines, a state store, live objects) and the
photometry of the alerts they came from (for the light-curve plot).

Annotations are the dicts ``vra score`` writes (``Annotation.to_dict()``); an object with
``to_dict()`` or any mapping is accepted. Photometry comes from the alert file given with
``--alerts`` (read by the core's readers); an annotation is matched to its light curve by
``(survey, alert_id)``, else by ``(survey, object_id)`` with the points after the alert cut off
(ATLAS objects are one file replayed visit by visit).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

#: Days of history before the alert shown in the plot (at most), and after its first
#: detection at least this much earlier.
PLOT_DAYS_MAX = 200.0
PLOT_DAYS_BEFORE_FIRST = 20.0


class SourceError(ValueError):
    """An input that cannot be read; the message names the file and line."""


def as_dict(annotation: Any) -> Dict[str, Any]:
    """An annotation as a plain dict (``Annotation`` objects via ``to_dict()``)."""
    if hasattr(annotation, "to_dict"):
        annotation = annotation.to_dict()
    if not isinstance(annotation, Mapping):
        raise TypeError(f"an annotation must be a mapping or have to_dict(), not "
                        f"{type(annotation).__name__}")
    for key in ("object_id", "survey", "tier"):
        if key not in annotation:
            raise SourceError(f"annotation without {key!r} (is this `vra score` output?)")
    return dict(annotation)


def read_jsonl(paths: Iterable[str]) -> Iterator[Dict[str, Any]]:
    """Annotations from JSON-lines files (``-`` is stdin); blank lines are skipped, a bad
    line stops the read with its file and line number."""
    for path in paths:
        if path == "-":
            yield from _lines(sys.stdin, "<stdin>")
            continue
        try:
            with open(path, encoding="utf-8") as fh:
                yield from _lines(fh, path)
        except FileNotFoundError:
            raise SourceError(f"{path}: annotation file not found") from None


def _lines(fh, name: str) -> Iterator[Dict[str, Any]]:
    for i, line in enumerate(fh, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SourceError(f"{name}:{i}: not JSON ({exc.msg})") from None
        try:
            yield as_dict(record)
        except (SourceError, TypeError) as exc:
            raise SourceError(f"{name}:{i}: {exc}") from None


def read_state_store(path: str) -> List[Dict[str, Any]]:
    """The annotations a ``vra score --state FILE`` store holds (its ``alerts`` table), read
    only. The store keeps the latest annotation of every alert it scored."""
    import vra_filters as vra

    try:
        with vra.SQLiteStore(path, read_only=True) as store:
            return [as_dict(a) for a in store.iter_annotations()]
    except vra.StateError as exc:
        raise SourceError(str(exc)) from None


# --------------------------------------------------------------------------- photometry


def read_lightcurves(paths: Iterable[str]) -> Tuple[List[Any], List[str]]:
    """Light curves and skip reasons from alert files, with the core's readers."""
    import vra_filters

    lcs: List[Any] = []
    skips: List[str] = []
    for path in paths:
        if not Path(path).is_file():
            raise SourceError(f"{path}: alert file not found")
        read = getattr(vra_filters, "read", None)
        if read is not None:  # the public API: one result with .lightcurves and .skips
            res = read(path)
            lcs.extend(res.lightcurves)
            skips.extend(f"{s.source}: {s.reason}" for s in res.skips)
            continue
        from vra_filters.readers import read as read_files
        for item in read_files([path]):
            if hasattr(item, "mjd"):
                lcs.append(item)
            else:
                skips.append(f"{item.source}: {item.reason}")
    return lcs, skips


class AlertIndex:
    """Light curves by ``(survey, alert_id)`` and ``(survey, object_id)``."""

    def __init__(self, lightcurves: Iterable[Any] = ()) -> None:
        self.by_alert: Dict[Tuple[str, str], Any] = {}
        self.by_object: Dict[Tuple[str, str], Any] = {}
        for lc in lightcurves:
            self.add(lc)

    def add(self, lc: Any) -> None:
        if lc.alert_id:
            self.by_alert[(lc.survey, str(lc.alert_id))] = lc
        key = (lc.survey, str(lc.object_id))
        best = self.by_object.get(key)
        if best is None or len(lc.mjd) > len(best.mjd):
            self.by_object[key] = lc

    def __len__(self) -> int:
        return len(self.by_object)

    def find(self, ann: Mapping[str, Any]) -> Optional[Any]:
        survey = ann.get("survey")
        lc = self.by_alert.get((survey, str(ann.get("alert_id"))))
        return lc if lc is not None else self.by_object.get((survey, str(ann.get("object_id"))))


def _f(v: Any) -> Optional[float]:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def photometry(lc: Any, alert_mjd: Optional[float]) -> Dict[str, Any]:
    """The points to plot, as JSON-safe lists: the light curve up to the alert, from at most
    :data:`PLOT_DAYS_MAX` days before it (and no earlier than 20 d before the first detection
    of that window), plus the host context the message shows."""
    import numpy as np

    mjd = np.asarray(lc.mjd, dtype=float)
    end = float(alert_mjd) if alert_mjd is not None else float(mjd.max(initial=0.0))
    keep = mjd <= end + 1e-6
    start = end - PLOT_DAYS_MAX
    det = np.asarray(lc.is_det, dtype=bool)
    first = mjd[keep & det & (mjd >= start)]
    if first.size:
        start = max(start, float(first.min()) - PLOT_DAYS_BEFORE_FIRST)
    keep &= mjd >= start
    mag = np.asarray(lc.mag, dtype=float)[keep]
    err = np.asarray(lc.magerr, dtype=float)[keep]

    def col(a):
        return [None if not math.isfinite(x) else round(float(x), 5) for x in a]

    ctx = lc.context
    return {
        "mjd": col(mjd[keep]), "mag": col(mag), "magerr": col(err),
        "band": [str(b) for b in np.asarray(lc.band)[keep]],
        "is_det": [bool(x) for x in det[keep]],
        "alert_mjd": end,
        "n_det": int(det[mjd <= end + 1e-6].sum()),
        "host": {"distance_mpc": _f(ctx.distance_mpc), "sep_arcsec": _f(ctx.host_sep_arcsec),
                 "z": _f(ctx.z), "photoz": _f(ctx.photoz),
                 "class": str(ctx.catalogue_class or "") or None},
    }
