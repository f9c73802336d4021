"""Lasair-LSST Kafka messages (filter output "with full alert") as light curves.

A record is the filter's object row (SELECT columns such as ``diaObjectId, ebv, ra, decl,
tns_name, separationArcsec, distance, direct_distance, z, photoZ, photoZErr,
sherlock_classifications, latestR``, plus ``UTC``) and, optionally, ``alert``: a Rubin packet in
Lasair's layout (``diaObject``, ``diaSourcesList`` with the whole history, its latest element
being the triggering source, ``diaForcedSourcesList``, ``diaNondetectionLimitsList``).

Files: a JSON array or JSON lines, optionally gzipped (``.json.gz``, ``.jsonl.gz``). Real files
carry bare ``NaN`` (accepted) and hand edits with trailing commas (stripped outside strings
before parsing). A truncated/corrupt file raises :class:`InputError` (one Skip); a corrupt line
of a JSON lines file is a Skip for that line only.

Duplicates: the live stream has delivered every object twice (once with ``alert``, once
without; ``20260205_073301.json``: 64 records, 32 objects). :func:`iter_records` keeps one
record per (diaObjectId, latest diaSourceId), preferring one that carries ``alert``; a record
without ``alert`` is dropped when a record with ``alert`` for the same object ends at the same
time (``lastDiaSourceMjdTai``). A record left without ``alert`` fails with "no alert packet".

The photometry follows the Rubin reader exactly (:func:`.rubin.build_lightcurve`). Context comes
from the object row: ``ebv``, ``host_sep_arcsec`` = ``separationArcsec`` (arcsec), ``z``,
``photoz``/``photoz_err`` (Sherlock), ``distance_mpc`` = ``distance`` else ``direct_distance``
(Mpc), ``catalogue_class`` = ``sherlock_classifications``, ``tns_name``; ``rb`` = the triggering
source's ``reliability`` (else the row's ``latestR``); ``solar_system`` from the triggering
source's ``ssObjectId`` (:mod:`.crossmatch`). ``Context.extra`` holds ORACLE's static
inputs as ORACLE SPEC section 8 maps them for Lasair: MWEBV = ebv, MWEBV_ERR = 0.05 ebv,
REDSHIFT_HELIO = z, else photoZ (then REDSHIFT_HELIO_ERR = photoZErr), HOSTGAL_SPECZ = z,
HOSTGAL_PHOTOZ/_ERR = photoZ/photoZErr, HOSTGAL_SNSEP = separationArcsec; absent values are left
out (the ORACLE adapter fills -9).
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..lightcurve import InputError, LightCurve
from . import Record
from ._fields import as_dict_list, as_float, check_not_bad, int_id, kind, label
from ._files import iter_json_documents
from .crossmatch import rubin_context
from .rubin import build_lightcurve, object_context, trigger_of


def _latest_source(alert: Any) -> tuple[int | None, float]:
    """(diaSourceId, midpointMjdTai) of the latest diaSource of a Lasair ``alert``, or
    (None, NaN) when the packet is unusable (the record is then kept and fails later)."""
    if not isinstance(alert, Mapping):
        return None, math.nan
    try:
        sources = as_dict_list(alert.get("diaSourcesList"), "diaSourcesList")
        if not sources:
            return None, math.nan
        latest = trigger_of(sources, "diaSourcesList")
    except InputError:
        return None, math.nan
    return int_id(latest.get("diaSourceId")), as_float(
        latest.get("midpointMjdTai", latest.get("midPointTai")))


#: How far (in records) the streamed duplicate check looks: Kafka re-deliveries and Lasair's
#: duplicates sit close together; older re-deliveries are caught by the state store
#: (``vra score``'s re-delivery check). Records are held back at most this many records.
DEDUPE_WINDOW = 1_000
#: How many alert keys / objects it remembers.
DEDUPE_MEMORY = 200_000


def _time_key(t: float) -> Any:
    """An alert time as a key: MJD to 1e-6 d (0.09 s), how an alert-less row is matched."""
    return "nan" if math.isnan(t) else round(t, 6)


#: Marks a buffered record that a later one made redundant.
_DROPPED = object()


def dedupe(docs: Iterable[tuple[str, Any]], window: int = DEDUPE_WINDOW,
           memory: int = DEDUPE_MEMORY, report: bool = False) -> Iterator[tuple[str, Any]]:
    """One record per (diaObjectId, latest diaSourceId), preferring those with ``alert``,
    streamed in file order: memory is bounded by ``window`` records and ``memory`` keys.

    A record without ``alert`` (a "lite" object row) is dropped when a record with ``alert``
    for the same object and time (any time, if the row has none) comes within ``window``
    records either side, or when an equal lite row came before; else it is kept (it fails in
    ``from_record`` with the reason). Undecodable records and records without a diaObjectId
    pass through untouched. ``report``: a dropped record is yielded in its place as
    ``(source, Duplicate)`` saying which record made it redundant, instead of vanishing.
    """
    from . import Duplicate

    seen: OrderedDict = OrderedDict()  # (oid, source id) of alerts already kept
    alert_times: OrderedDict = OrderedDict()  # oid -> {time key: source} of its kept alerts
    lite_seen: OrderedDict = OrderedDict()  # (oid, time key) of lite rows kept or held
    held: dict = {}  # (oid, time key) -> the buffered lite entry, while in the window
    buf: deque = deque()  # entries [source, record, lite key or None]; record _DROPPED = dropped

    def remember(store: OrderedDict, key: Any, value: Any = True) -> None:
        store[key] = value
        store.move_to_end(key)
        if len(store) > memory:
            store.popitem(last=False)

    def release(entry: list):
        if entry[2] is not None and held.get(entry[2]) is entry:
            del held[entry[2]]
        if entry[1] is _DROPPED:  # (a JSON null is a record: from_record says why)
            if not report:
                return False
            entry[1] = Duplicate(entry[0], entry[3])
        return True

    def drop(source: str, reason: str) -> None:
        if report:
            buf.append([source, Duplicate(source, reason), None])

    for source, rec in docs:
        oid = int_id(rec.get("diaObjectId")) if isinstance(rec, Mapping) else None
        entry = [source, rec, None]
        if oid is not None and rec.get("alert") is not None:
            try:
                source_id, mjd = _latest_source(rec["alert"])
            except Exception:  # a junk packet is kept: from_record says why
                source_id, mjd = None, math.nan
            key = (oid, source_id if source_id is not None else f"@{source}")
            if key in seen:
                drop(source, f"duplicate: the same alert (diaObjectId {oid}, diaSourceId "
                             f"{source_id}) as {seen[key]}")
                continue
            remember(seen, key, source)
            tkey = _time_key(mjd)
            times = alert_times.get(oid) or {}
            times.setdefault(tkey, source)
            remember(alert_times, oid, times)
            for lite in ((oid, tkey), (oid, "nan")):  # a lite twin held in the window
                twin = held.pop(lite, None)
                if twin is not None:
                    twin[1] = _DROPPED
                    twin.append(f"duplicate: an object row without the alert, which is in "
                                f"full at {source}")
        elif oid is not None:
            lite = (oid, _time_key(as_float(rec.get("lastDiaSourceMjdTai"))))
            times = alert_times.get(oid)
            if lite in lite_seen:
                drop(source, f"duplicate: the same object row (diaObjectId {oid}) as "
                             f"{lite_seen[lite]}")
                continue
            if times and (lite[1] == "nan" or lite[1] in times):
                full = times.get(lite[1]) or next(iter(times.values()))
                drop(source, f"duplicate: an object row without the alert, which is in full "
                             f"at {full}")
                continue
            remember(lite_seen, lite, source)
            entry[2] = lite
            held[lite] = entry
        buf.append(entry)
        while len(buf) > window:
            head = buf.popleft()
            if release(head):
                yield head[0], head[1]
    while buf:
        head = buf.popleft()
        if release(head):
            yield head[0], head[1]


def select(docs: Iterable[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
    """The records of one Lasair file, streamed: those scored, and each duplicate as a
    :class:`~vra_filters.readers.Duplicate` in its place (:func:`dedupe`)."""
    return dedupe(docs, report=True)


def iter_records(path: Path) -> Iterator[Record]:
    """The deduplicated records of a Lasair JSON / JSON lines file (optionally gzipped)."""
    for source, data in dedupe(iter_json_documents(Path(path))):
        yield Record(source, data)


def _sherlock_class(row: Mapping, alert: Mapping) -> str:
    text = label(row.get("sherlock_classifications"))
    if text:
        return text
    annotations = alert.get("annotations")
    if isinstance(annotations, Mapping):
        sherlock = annotations.get("sherlock")
        if isinstance(sherlock, list) and sherlock and isinstance(sherlock[0], Mapping):
            return label(sherlock[0].get("classification"))
    return ""


def oracle_static(ebv: float, z: float, photoz: float, photoz_err: float,
                  sep: float) -> dict[str, float]:
    """ORACLE's static inputs for a Lasair object (SPEC section 8); NaN inputs are left out."""
    extra: dict[str, float] = {}

    def put(name: str, value: float) -> None:
        if not math.isnan(value):
            extra[name] = value

    put("MWEBV", ebv)
    put("MWEBV_ERR", 0.05 * ebv)
    if not math.isnan(z):
        put("REDSHIFT_HELIO", z)
    elif not math.isnan(photoz):
        put("REDSHIFT_HELIO", photoz)
        put("REDSHIFT_HELIO_ERR", photoz_err)
    put("HOSTGAL_SPECZ", z)
    put("HOSTGAL_PHOTOZ", photoz)
    put("HOSTGAL_PHOTOZ_ERR", photoz_err)
    put("HOSTGAL_SNSEP", sep)
    return extra


def from_record(data: Any) -> LightCurve:
    """One Lasair record (object row + ``alert``) as a light curve."""
    check_not_bad(data)
    if not isinstance(data, Mapping):
        raise InputError(f"record: expected a record, got {kind(data)}")
    oid = int_id(data.get("diaObjectId"))
    name = str(oid) if oid is not None else "record"
    alert = data.get("alert")
    if alert is None:
        raise InputError(f"{name}: no alert packet (field 'alert' missing)")
    if not isinstance(alert, Mapping):
        raise InputError(f"{name}: field 'alert' is {kind(alert)}, not a packet")
    sources = as_dict_list(alert.get("diaSourcesList"), "alert.diaSourcesList")
    if not sources:
        raise InputError(f"{name}: empty history (alert.diaSourcesList is empty)")
    trigger = trigger_of(sources, "alert.diaSourcesList")
    if oid is None:
        oid = int_id(trigger.get("diaObjectId"))
        if oid is None:
            raise InputError("diaObjectId: missing or not a positive integer")
    dia_object = alert.get("diaObject") if isinstance(alert.get("diaObject"), Mapping) else None
    context = object_context(dia_object, trigger)
    ra, dec = as_float(data.get("ra")), as_float(data.get("decl", data.get("dec")))
    if math.isfinite(ra) and math.isfinite(dec):
        context.ra, context.dec = ra, dec
    ebv = as_float(data.get("ebv"))
    if math.isnan(ebv):
        ebv = as_float(alert.get("ebv"))
    z, photoz = as_float(data.get("z")), as_float(data.get("photoZ"))
    photoz_err, sep = as_float(data.get("photoZErr")), as_float(data.get("separationArcsec"))
    distance = as_float(data.get("distance"))
    if math.isnan(distance):
        distance = as_float(data.get("direct_distance"))
    context.ebv, context.z, context.photoz, context.photoz_err = ebv, z, photoz, photoz_err
    context.host_sep_arcsec, context.distance_mpc = sep, distance
    context.catalogue_class = _sherlock_class(data, alert)
    context.tns_name = label(data.get("tns_name"))
    context.extra.update(oracle_static(ebv, z, photoz, photoz_err, sep))
    rubin_context(context, alert, trigger)  # the solar-system association
    alert_id = int_id(trigger.get("diaSourceId"))
    lc = build_lightcurve(
        sources=sources, trigger=trigger,
        forced=as_dict_list(alert.get("diaForcedSourcesList"), "alert.diaForcedSourcesList"),
        limits=as_dict_list(alert.get("diaNondetectionLimitsList"),
                            "alert.diaNondetectionLimitsList"),
        object_id=str(oid), alert_id=str(alert_id) if alert_id else "", context=context,
        where="alert.diaSourcesList")
    if math.isnan(lc.context.rb):
        lc.context.rb = as_float(data.get("latestR"))
    return lc
