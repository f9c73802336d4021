"""From annotations to queued notifications, and from a queued job to the Slack call.

:class:`Notifier` plans the three kinds of message and puts them in the :class:`Queue`
(once per key, ever); :func:`render` turns a job into the exact Slack call (method, arguments,
PNG), used both to post and to print a dry run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from . import messages, plots
from .config import SlackConfig
from .queue import Queue
from .sources import AlertIndex, as_dict, photometry
from .weekly import TIERS, weekly_report

#: Annotation fields too big or too internal for a message (kept out of the queue).
_DROP = ("features",)


@dataclass
class Planned:
    """A notification: its queue key, what it is made from, and whether it is new (False:
    queued or posted before, so nothing will be sent again)."""

    key: str
    kind: str
    channel: str
    payload: Dict[str, Any]
    new: bool


@dataclass
class Rendered:
    """One Slack Web API call: ``method`` (WebClient method name) and its arguments."""

    method: str
    args: Dict[str, Any]
    png: Optional[bytes] = None
    png_name: Optional[str] = None


def _compact(ann: Mapping[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in ann.items() if k not in _DROP}


def _object_key(ann: Mapping[str, Any]) -> tuple:
    return (str(ann["survey"]), str(ann["object_id"]))


def _mjd(ann: Mapping[str, Any]) -> float:
    try:
        return float(ann.get("mjd"))
    except (TypeError, ValueError):
        return float("inf")


class Notifier:
    """Plans notifications into ``queue`` (None for a dry run without a queue file; a
    read-only queue for a dry run that skips what was already posted)."""

    def __init__(self, config: SlackConfig, queue: Optional[Queue] = None,
                 alerts: Optional[AlertIndex] = None) -> None:
        self.config = config
        self.queue = queue
        self.alerts = alerts

    def _put(self, key: str, kind: str, payload: Dict[str, Any],
             seen: Sequence[tuple] = ()) -> Planned:
        channel = self.config.channel(kind)
        if self.queue is None:
            return Planned(key, kind, channel, payload, True)
        if self.queue.read_only:
            return Planned(key, kind, channel, payload, self.queue.status(key) is None)
        new = self.queue.enqueue(key, kind, channel, payload, seen=seen)
        return Planned(key, kind, channel, payload, new)

    def _seen(self, survey: str, object_id: str, tier: str) -> bool:
        return self.queue is not None and self.queue.seen_before(survey, object_id, tier)

    # ------------------------------------------------------------------ fast track
    def fast_track_payload(self, ann: Mapping[str, Any], lightcurve: Any = None) -> Dict[str, Any]:
        """What the fast-track message of ``ann`` is made from (photometry from
        ``lightcurve``, else from the alert index, else none, with the reason)."""
        if lightcurve is None and self.alerts is not None:
            lightcurve = self.alerts.find(ann)
        payload: Dict[str, Any] = {"annotation": _compact(ann), "photometry": None}
        if lightcurve is not None:
            payload["photometry"] = photometry(lightcurve, ann.get("mjd"))
        elif self.alerts is None:
            payload["no_plot_reason"] = ("the alert photometry was not given "
                                         "(vra slack ... --alerts ALERT_FILE)")
        else:
            payload["no_plot_reason"] = ("this alert is not in the alert files given "
                                         f"({len(self.alerts)} objects there)")
        return payload

    def fast_track(self, annotations: Iterable[Any]) -> List[Planned]:
        """One message per object that reached the fast-track tier: its first fast-track
        alert in ``annotations``; objects announced before (even in another run) are
        returned with ``new=False`` and not queued again."""
        first: Dict[tuple, Mapping[str, Any]] = {}
        for raw in annotations:
            ann = as_dict(raw)
            if ann["tier"] != "fast_track":
                continue
            key = _object_key(ann)
            if key not in first or _mjd(ann) < _mjd(first[key]):
                first[key] = ann
        out = []
        for (survey, object_id), ann in sorted(first.items(), key=lambda kv: _mjd(kv[1])):
            key = f"fast_track/{survey}/{object_id}"
            if self.queue is not None and self.queue.status(key) is not None:
                out.append(Planned(key, "fast_track", self.config.channel("fast_track"),
                                   {"annotation": _compact(ann)}, False))
                continue
            out.append(self._put(key, "fast_track", self.fast_track_payload(ann),
                                 seen=[(survey, object_id, "fast_track")]))
        return out

    # ------------------------------------------------------------------ digest
    def digest(self, annotations: Iterable[Any]) -> Optional[Planned]:
        """The digest of one ingest cycle (None when there are no annotations). The key
        hashes the cycle's alerts, so the same cycle is never digested twice."""
        anns = [as_dict(a) for a in annotations]
        if not anns:
            return None
        last: Dict[tuple, Mapping[str, Any]] = {}
        alerts = {t: 0 for t in TIERS}
        for ann in sorted(anns, key=_mjd):
            last[_object_key(ann)] = ann
            alerts[ann["tier"]] = alerts.get(ann["tier"], 0) + 1
        objects = {t: 0 for t in TIERS}
        for ann in last.values():
            objects[ann["tier"]] = objects.get(ann["tier"], 0) + 1
        top: Dict[str, List[Dict[str, Any]]] = {}
        seen = []
        for tier in messages.EYEBALL_TIERS:
            ranked = sorted((a for a in last.values() if a["tier"] == tier),
                            key=lambda a: (-(a.get("rank") or 0.0), str(a["object_id"])))
            for a in ranked:
                seen.append((a["survey"], str(a["object_id"]), tier))
            top[tier] = [{
                "survey": a["survey"], "object_id": str(a["object_id"]),
                "alert_id": a.get("alert_id"), "tns_name": a.get("tns_name"),
                "rank": a.get("rank"), "p_real": a.get("p_real"), "p_gal": a.get("p_gal"),
                "oracle": {k: (a.get("oracle") or {}).get(k)
                           for k in ("status", "reason", "most_specific")}
                if a.get("oracle") else None,
                "new": not self._seen(a["survey"], str(a["object_id"]), tier),
            } for a in ranked[:self.config.top_n]]
        ids = sorted(f"{a['survey']}/{a['object_id']}/{a.get('alert_id')}/{a['tier']}"
                     for a in anns)
        digest_id = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]
        mjds = [m for m in map(_mjd, anns) if m != float("inf")]
        payload = {
            "n_alerts": len(anns), "n_objects": len(last), "tiers": list(TIERS),
            "alerts": alerts, "objects": objects, "top": top,
            "mjd_range": [min(mjds), max(mjds)] if mjds else None,
            "policies": sorted({str(a.get("policy")) for a in anns if a.get("policy")}),
        }
        return self._put(f"digest/{digest_id}", "digest", payload, seen=seen)

    # ------------------------------------------------------------------ weekly
    def weekly(self, annotations: Iterable[Any], days: float = 7.0,
               until: Optional[float] = None) -> Planned:
        report = weekly_report([as_dict(a) for a in annotations], self.config, days, until)
        key = (f"weekly/{messages.mjd_date(report['mjd_start'])}/"
               f"{messages.mjd_date(report['mjd_end'])}")
        return self._put(key, "weekly", report)


def render(kind: str, channel: str, payload: Mapping[str, Any],
           config: SlackConfig) -> Rendered:
    """The Slack call for a job (the PNG is drawn here, at delivery, never while scoring)."""
    if kind == "fast_track":
        ann = payload["annotation"]
        phot = payload.get("photometry")
        if phot and phot.get("mjd"):
            label = messages.name(ann)
            subtitle = (f"{messages.SURVEY_LABELS.get(ann.get('survey'), ann.get('survey'))} "
                        f"{ann.get('object_id')} · rank {float(ann.get('rank') or 0):.2f} · "
                        f"tier fast track")
            png = plots.lightcurve_png(phot, f"Fast track: {label}", subtitle)
            filename = f"{ann.get('survey')}_{ann.get('object_id')}_lightcurve.png"
            return Rendered("files_upload_v2", {
                "channel": channel, "filename": filename, "title": f"{label} light curve",
                "alt_txt": f"Light curve of {label} up to the alert at MJD "
                           f"{phot['alert_mjd']:.3f}",
                "initial_comment": messages.fast_track_text(payload, config, with_plot=True),
            }, png, filename)
        text = messages.fast_track_text(payload, config, with_plot=False)
        return Rendered("chat_postMessage", {
            "channel": channel, "text": text.split("\n", 1)[0].replace("*", ""),
            "blocks": messages.blocks_from_text(text)})
    if kind == "digest":
        text, blocks = messages.digest(payload, config)
        return Rendered("chat_postMessage", {"channel": channel, "text": text,
                                             "blocks": blocks})
    if kind == "weekly":
        start, end = messages.mjd_date(payload["mjd_start"]), messages.mjd_date(payload["mjd_end"])
        png = plots.outcomes_png(payload["outcome"], payload["alerts"],
                                 f"VRA outcomes {start} – {end} "
                                 f"({payload['n_objects']} objects)", TIERS)
        filename = f"vra_weekly_{start}_{end}.png"
        return Rendered("files_upload_v2", {
            "channel": channel, "filename": filename, "title": f"VRA outcomes {start} – {end}",
            "alt_txt": "Objects per outcome tier", "initial_comment":
                messages.weekly_text(payload, config)}, png, filename)
    raise ValueError(f"unknown notification kind {kind!r}")


def dry_run_record(planned: Planned, rendered: Rendered, png_path: Optional[str]) -> str:
    """What ``--dry-run`` prints for one notification (JSON)."""
    return json.dumps({"key": planned.key, "new": planned.new, "method": rendered.method,
                       "args": rendered.args, "png": png_path}, indent=2, ensure_ascii=False)
