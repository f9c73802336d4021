"""Saved loci: ``DevKitLocus``-shaped JSON files (optionally gzipped), one locus or a list.

Used by ``vra antares run-locus``, the package check, the tests and the benchmark. Two quirks
of real files are smoothed over: the devkit's own ``small_locus`` sample stores
``grav_wave_events_metadata`` as a list of GraceDB ids, which devkit 0.11 rejects (a dict is
expected; it becomes ``{}``), and keys starting with ``_`` (our provenance notes) are dropped.
"""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any, Dict, List, Union

PathLike = Union[str, Path]


def read_loci(path: PathLike) -> List[Dict[str, Any]]:
    """The locus dicts in a JSON file (``.gz`` allowed): one object, or a list of them."""
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        data = json.load(fh)
    items = data if isinstance(data, list) else [data]
    if not all(isinstance(d, dict) for d in items):
        raise ValueError(f"{path}: expected a locus object or a list of locus objects")
    return [clean_locus_dict(d) for d in items]


def clean_locus_dict(data: Dict[str, Any]) -> Dict[str, Any]:
    """A copy ``DevKitLocus.model_validate`` accepts (see the module docstring)."""
    out = {k: v for k, v in data.items() if not k.startswith("_")}
    if isinstance(out.get("grav_wave_events_metadata"), list):
        out["grav_wave_events_metadata"] = {}
    return out


def devkit_locus(data: Dict[str, Any]) -> Any:
    """A fresh ``DevKitLocus`` from a locus dict (deep-copied: runs never share state)."""
    from antares_devkit.models import DevKitLocus

    return DevKitLocus.model_validate(copy.deepcopy(data))


def first_alerts(data: Dict[str, Any], n: int) -> Dict[str, Any]:
    """The locus as ANTARES saw it when its ``n``-th alert arrived: the first ``n`` alerts
    (forced photometry on the new trigger limited to epochs up to its time) and no
    properties or tags written by filters."""
    out = {k: v for k, v in data.items() if k not in ("alerts", "user_properties",
                                                       "user_tags", "old_properties")}
    alerts = copy.deepcopy(data["alerts"][:n])
    if alerts:
        full = data["alerts"][-1].get("non_persistent_properties") or {}
        forced = full.get("lsst_fp_hists")
        if isinstance(forced, list):
            t = alerts[-1]["mjd"]
            alerts[-1]["non_persistent_properties"] = {
                "lsst_fp_hists": [f for f in forced if f.get("midpointMjdTai", t + 1) <= t]}
    out["alerts"] = alerts
    internal = out.get("internal_properties") or {}
    if data.get("old_properties"):  # the devkit splits these into internal / user properties
        internal = devkit_locus(dict(data, alerts=[])).internal_properties
    props = dict(internal)
    props["num_alerts"] = len(alerts)
    out["internal_properties"] = props
    return out
