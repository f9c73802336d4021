"""One Arrow batch of alert packets in, one row of the output struct per alert out.

The scorer is loaded once per Python worker (:func:`scorer`, a module-level lazy singleton:
Spark reuses its Python workers across batches and tasks), never per batch. Scoring is the
core's stateless path, ``Scorer.score(lightcurves, history="packet")``: each alert's own
earlier detections are replayed as the object's earlier alerts. Fink's cross-matches travel in
the packets (:mod:`.packets`) and the core's readers map them (``vra_filters.readers.crossmatch``:
TNS, Mangrove distance, catalogue class, solar-system objects); the output reports the context
the VRA used.

So that an alert's result never depends on which other alerts share its Arrow batch (Spark
chooses that), alerts of one object are scored in separate calls: the k-th alert of every
object in the batch goes in call k. Alerts of different objects do not interact in the core,
so this equals scoring every alert on its own, and the batch still runs vectorised.

Nothing here raises for a bad alert: a packet the reader rejects, a Skip from the scorer, or
any unexpected error gives that row (or, for an error of the scorer itself, the batch) nulls
and a ``reason``.
"""

from __future__ import annotations

import math
import os
import threading
from typing import Any, Dict, List, Optional, Sequence

import vra_filters as vra
from vra_filters.history import object_rounds
from vra_filters.oracle import warnings_text
from vra_filters.readers import rubin as rubin_reader
from vra_filters.readers import ztf as ztf_reader

from .schema import NAMES

#: Environment variables read when the worker builds its scorer (so a cluster job can choose
#: without code): ORACLE routing ("auto", "none" or a model name) and the VRA policy.
ENV_ORACLE = "VRA_FINK_ORACLE"
ENV_POLICY = "VRA_FINK_POLICY"

_LOCK = threading.Lock()
_SCORER: Optional[vra.Scorer] = None
#: How many times this process built a scorer (tests check it stays at one).
LOADS = 0


def scorer() -> vra.Scorer:
    """This worker's scorer, built on first use (every model once, from the registry)."""
    global _SCORER, LOADS
    if _SCORER is None:
        with _LOCK:
            if _SCORER is None:
                _SCORER = vra.Scorer.load(policy=os.environ.get(ENV_POLICY, "default"),
                                          oracle=os.environ.get(ENV_ORACLE, "auto"))
                LOADS += 1
    return _SCORER


def set_scorer(s: Optional[vra.Scorer]) -> None:
    """Use ``s`` in this process (None: build the default again on next use)."""
    global _SCORER
    with _LOCK:
        _SCORER = s


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    if isinstance(exc, vra.InputError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _models(ann: vra.Annotation) -> str:
    return ", ".join(f"{m['name']}@{m['version']}:{m['sha256'][:12]}"
                     for _, m in sorted(ann.models.items()))


def row(ann: vra.Annotation, lc: vra.LightCurve) -> Dict[str, Any]:
    """The output struct of a scored alert (``lc``: its light curve, for the context used)."""
    ctx = lc.context
    out: Dict[str, Any] = {
        "object_id": ann.object_id, "alert_id": ann.alert_id, "survey": ann.survey,
        "mjd": ann.mjd, "visit": ann.visit, "phase": ann.phase, "stage": ann.stage,
        "status": ann.status, "p_real": ann.p_real, "p_gal": ann.p_gal,
        "vra_score": ann.vra_score, "rank": ann.rank, "galactic": ann.galactic,
        "tier": ann.tier, "tns_name": ann.tns_name,
        "distance_mpc": None if math.isnan(ctx.distance_mpc) else ctx.distance_mpc,
        "catalogue_class": ctx.catalogue_class or None,
        "known_sso": bool(ctx.solar_system), "ebv": ann.ebv,
        "explanation": ann.explanation,
        "vra_models": _models(ann), "vra_filters_version": vra.__version__,
        "settings": ann.settings, "reason": None,
    }
    block = ann.oracle
    if block is not None:
        out["oracle_status"] = block.get("status")
        out["oracle_warnings"] = warnings_text(block)
        out["oracle_model"] = (f"{block.get('model')}/{block.get('checkpoint')}/"
                               f"{block.get('variant')}:{str(block.get('sha256'))[:12]}")
        if block.get("status") == "ok":
            best = block.get("most_specific") or {}
            out["oracle_class"], out["oracle_prob"] = best.get("class"), best.get("p")
            for level in ("level1", "level2", "leaf"):
                top = (block.get("top") or {}).get(level) or {}
                out[f"oracle_{level}_class"] = top.get("class")
                out[f"oracle_{level}_prob"] = top.get("p")
    return out


def failed(reason: str) -> Dict[str, Any]:
    """The output struct of an alert that was not scored."""
    return {"reason": reason or "not scored (no reason given)"}


def score_packets(packets: Sequence[Any], survey: str,
                  bad: Optional[Sequence[Optional[str]]] = None,
                  s: Optional[vra.Scorer] = None) -> List[Dict[str, Any]]:
    """One output row per packet (see the module docstring) of ``survey`` (``lsst``/``ztf``);
    ``bad``: a reason to reject a row before reading it."""
    from_record = rubin_reader.from_record if survey == "lsst" else ztf_reader.from_record
    n = len(packets)
    out: List[Optional[Dict[str, Any]]] = [None] * n
    lcs: Dict[int, vra.LightCurve] = {}
    for i, packet in enumerate(packets):
        if bad is not None and bad[i]:
            out[i] = failed(bad[i])
            continue
        try:
            lcs[i] = from_record(packet)
        except Exception as exc:  # noqa: BLE001 - the boundary: a row, never the job
            out[i] = failed(_reason(exc))
    if lcs:
        try:
            s = s or scorer()
            idx = list(lcs)
            for part in object_rounds([(lcs[i].survey, lcs[i].object_id) for i in idx]):
                rows = [idx[k] for k in part]
                result = s.score([lcs[i] for i in rows], history="packet").results
                for i, res in zip(rows, result):
                    out[i] = (failed(res.reason) if isinstance(res, vra.Skip)
                              else row(res, lcs[i]))
        except Exception as exc:  # noqa: BLE001 - a broken scorer: every row says so
            why = "scorer failed: " + _reason(exc)
            for i in lcs:
                out[i] = out[i] or failed(why)
    return [r if r is not None else failed("internal error: alert was not scored")
            for r in out]


def frame(rows: List[Dict[str, Any]]) -> Any:
    """The rows as the ``pd.DataFrame`` a struct-returning pandas UDF gives back."""
    import pandas as pd

    columns = {name: [r.get(name) for r in rows] for name in NAMES}
    return pd.DataFrame(columns, columns=NAMES)


def score_rubin(diaSource: Any, prvDiaSources: Any, prvDiaForcedSources: Any, diaObject: Any,
                xm: Any = None, pred: Any = None) -> List[Dict[str, Any]]:
    """Output rows for one batch of Rubin alerts (the science module's body)."""
    from .packets import inexact_ids, rubin_packets

    packets = rubin_packets(diaSource, prvDiaSources, prvDiaForcedSources, diaObject, xm, pred)
    return score_packets(packets, "lsst", inexact_ids(diaSource, "diaSource"))


def score_ztf(objectId: Any, candid: Any, candidate: Any, prv_candidates: Any,
              xm: Any = None) -> List[Dict[str, Any]]:
    """Output rows for one batch of ZTF alerts (the science module's body)."""
    from .packets import inexact_ids, ztf_packets

    bad = inexact_ids(candidate, "candidate")
    if candid is not None:
        bad = [b or t for b, t in zip(bad, inexact_ids(candid.to_frame("candid"), ""))]
    return score_packets(ztf_packets(objectId, candid, candidate, prv_candidates, xm), "ztf",
                         bad)
