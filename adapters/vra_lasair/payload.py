"""One :class:`vra_filters.Annotation` as one item of Lasair's ``annotate_list``.

Lasair's API checks the fields (Django REST framework, lasair-lsst ``AnnotateSerializer``):
objectId an integer, classification at most 80 characters, version 80, explanation 1,024,
classdict 4,096 characters of JSON, url 1,024. The annotation then reaches Lasair's database
later, through an SQL statement built without escaping, so an apostrophe, a backslash or a NaN
that passed the API can still fail there, after "success". This module keeps every item inside
stricter limits of its own, checked before the call:

* ``classification`` = the tier (``fast_track``, ``extragalactic``, ``galactic``,
  ``purgatory``, ``garbage``), at most 16 characters (portable to ZTF-era tables);
* ``version`` = ``<vra_filters version>-<settings fingerprint>``, at most 16 characters (the
  client truncates longer ones silently);
* ``explanation``: at most 1,024 characters;
* ``classdict``: a flat dict of JSON numbers, booleans, null and short strings (no NaN, no
  infinity, no numpy type), at most 4,096 characters as the client serialises it
  (``json.dumps`` defaults);
* no ``'``, ``"``, ``\\`` or control character in any string, and printable ASCII only (the
  client's ``json.dumps`` would escape anything else with a backslash).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Dict, Optional

import vra_filters as vra
from vra_filters.oracle import warnings_text

CLASSIFICATION_MAX = 16
VERSION_MAX = 16
EXPLANATION_MAX = 1024
CLASSDICT_MAX = 4096
URL_MAX = 1024
#: Longest string value inside classdict.
VALUE_MAX = 80
#: ORACLE leaf classes listed in classdict, most probable first.
ORACLE_TOP = 3

_UNSAFE = re.compile(r"[^\x20-\x7e]|['\"\\]")


class PayloadError(ValueError):
    """An annotation that cannot be made into a Lasair item (the message says why)."""


def clean(text: Any, limit: int) -> str:
    """``text`` as printable ASCII without quotes or backslashes, at most ``limit`` chars."""
    out = _UNSAFE.sub("_", str(text if text is not None else ""))
    return out[:limit]


def _number(value: Any, digits: int = 6) -> Optional[float]:
    """A finite float rounded to ``digits`` decimals, or None (NaN, infinities, junk)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(v):
        return None
    return round(v, digits)


def version_of(fingerprint: str, package_version: str = vra.__version__) -> str:
    """``<version>-<fingerprint prefix>`` in at most 16 characters."""
    base = clean(package_version, VERSION_MAX - 5)
    room = VERSION_MAX - len(base) - 1
    return f"{base}-{clean(fingerprint, room)}"


def classdict(ann: vra.Annotation) -> Dict[str, Any]:
    """The flat classdict of one annotation (see the module docstring)."""
    d: Dict[str, Any] = {
        "vra_score": _number(ann.vra_score), "rank": _number(ann.rank),
        "p_real": _number(ann.p_real), "p_gal": _number(ann.p_gal),
        "tier": clean(ann.tier, VALUE_MAX), "galactic": bool(ann.galactic),
        "visit": int(ann.visit), "phase": _number(ann.phase, 5),
        "mjd": _number(ann.mjd, 6), "stage": clean(ann.stage, VALUE_MAX),
        "diaSourceId": _int_or_text(ann.alert_id),
        "ebv": _number(ann.ebv, 5),
    }
    models = ann.models or {}
    for kind in ("real", "gal"):
        m = models.get(kind) or {}
        d[f"vra_{kind}_model"] = clean(f"{m.get('name', '')}@{m.get('version', '')}",
                                       VALUE_MAX)
    d["policy"] = clean(ann.policy, VALUE_MAX)
    d["settings"] = clean(ann.settings, VALUE_MAX)
    d["vra_filters"] = clean(vra.__version__, VALUE_MAX)
    o = ann.oracle
    if isinstance(o, dict):
        d["oracle_model"] = clean(o.get("model", ""), VALUE_MAX)
        d["oracle_version"] = clean(f"{o.get('checkpoint', '')}/{o.get('variant', '')}",
                                    VALUE_MAX)
        d["oracle_status"] = clean(o.get("status", ""), VALUE_MAX)
        if o.get("routed"):  # why this model ran (LSST packets without host magnitudes)
            d["oracle_routed"] = clean(o["routed"], VALUE_MAX)
        # the caveats to read the class with (too_few_points, ...), comma-separated
        d["oracle_warnings"] = clean(warnings_text(o), VALUE_MAX)
        top = o.get("top") or {}
        for level in ("level1", "level2", "leaf"):
            entry = top.get(level) or {}
            if entry:
                d[f"oracle_{level}"] = clean(entry.get("class", ""), VALUE_MAX)
                d[f"oracle_{level}_p"] = _number(entry.get("p"), 4)
        best = o.get("most_specific") or {}
        if best:
            d["oracle_class"] = clean(best.get("class", ""), VALUE_MAX)
            d["oracle_p"] = _number(best.get("p"), 4)
        probs = o.get("probabilities") or {}
        leaves = _leaves(probs, top)
        for k, (name, p) in enumerate(leaves[:ORACLE_TOP], start=1):
            d[f"oracle_top{k}"] = clean(name, VALUE_MAX)
            d[f"oracle_top{k}_p"] = _number(p, 4)
    return d


def _leaves(probs: Dict[str, Any], top: Dict[str, Any]) -> list:
    """ORACLE's leaf classes by probability (the taxonomy's upper levels left out)."""
    upper = {"Alert", "Transient", "Variable", "SN", "Fast", "Long", "Periodic", "AGN"}
    if isinstance((top.get("leaf") or {}).get("class"), str):
        upper.discard(top["leaf"]["class"])
    rows = [(str(k), _number(v, 6)) for k, v in probs.items() if k not in upper]
    rows = [(k, v) for k, v in rows if v is not None]
    return sorted(rows, key=lambda kv: (-kv[1], kv[0]))


def _int_or_text(value: Any) -> Any:
    text = str(value)
    return int(text) if text.isdigit() and len(text) < 20 else clean(text, VALUE_MAX)


def object_id(ann: vra.Annotation) -> int:
    """Lasair's objectId (the diaObjectId, an int64)."""
    try:
        oid = int(str(ann.object_id))
    except ValueError:
        raise PayloadError(f"object id {ann.object_id!r} is not a Lasair diaObjectId "
                           "(an integer)") from None
    if not 0 < oid < 2 ** 63:
        raise PayloadError(f"object id {oid} is outside Lasair's int64 range")
    return oid


def to_item(ann: vra.Annotation, topic: str, url: str = "") -> Dict[str, Any]:
    """The ``annotate_list`` item for one annotation, inside every limit, or PayloadError."""
    cd = classdict(ann)
    text = json.dumps(cd)  # exactly as the lasair client will serialise it
    while len(text) > CLASSDICT_MAX:  # cannot happen with the keys above; never send it long
        droppable = [k for k in cd if k.startswith("oracle_top")] or [k for k in cd
                                                                     if k.startswith("vra_")]
        if not droppable:
            raise PayloadError(f"classdict is {len(text)} characters, Lasair takes "
                               f"{CLASSDICT_MAX}")
        cd.pop(droppable[-1])
        text = json.dumps(cd)
    classification = clean(ann.tier, CLASSIFICATION_MAX)
    if not classification:
        raise PayloadError("empty classification (no tier)")
    item = {
        "objectId": object_id(ann), "topic": clean(topic, 255),
        "classification": classification,
        "version": version_of(ann.settings),
        "explanation": clean(f"VRA {ann.tier} rank {ann.rank:.3g}: {ann.explanation}",
                             EXPLANATION_MAX),
        "classdict": cd, "url": clean(url, URL_MAX),
    }
    check(item)
    return item


def check(item: Dict[str, Any]) -> None:
    """PayloadError unless ``item`` passes Lasair's limits and the hazards above."""
    for name, limit in (("classification", CLASSIFICATION_MAX), ("version", VERSION_MAX),
                        ("explanation", EXPLANATION_MAX), ("url", URL_MAX), ("topic", 255)):
        value = item.get(name, "")
        if not isinstance(value, str) or len(value) > limit or _UNSAFE.search(value):
            raise PayloadError(f"{name} is not a safe string of at most {limit} characters")
    if not item["classification"]:
        raise PayloadError("classification is empty")
    if not isinstance(item.get("objectId"), int) or isinstance(item["objectId"], bool):
        raise PayloadError("objectId is not an int")
    cd = item.get("classdict")
    if not isinstance(cd, dict):
        raise PayloadError("classdict is not a dict")
    for key, value in cd.items():
        if _UNSAFE.search(key) or isinstance(value, (dict, list)):
            raise PayloadError(f"classdict key {key!r} is not flat and safe")
        if isinstance(value, float) and not math.isfinite(value):
            raise PayloadError(f"classdict {key} is not finite")
        if isinstance(value, str) and _UNSAFE.search(value):
            raise PayloadError(f"classdict {key} holds an unsafe character")
        if value is not None and type(value) not in (bool, int, float, str):
            raise PayloadError(f"classdict {key} is a {type(value).__name__}")
    text = json.dumps(cd, allow_nan=False)
    if len(text) > CLASSDICT_MAX or "\\" in text:
        raise PayloadError(f"classdict is {len(text)} characters (Lasair takes "
                           f"{CLASSDICT_MAX}) or holds an escape")
