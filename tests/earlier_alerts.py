"""An object's earlier alerts rebuilt from one packet, as the broker would have sent them:
what the packet-history replay (``history="packet"``) is tested against."""

from __future__ import annotations

import math


def _t(d, *names):
    for n in names:
        if d.get(n) is not None:
            return float(d[n])
    return math.nan


def rubin_earlier(packet):
    """The object's earlier alerts rebuilt as packets: at detection k, the sources up to and
    including k and the forced photometry / limits no later than it."""
    tkeys = ("midpointMjdTai", "midPointTai")
    sources = sorted(list(packet.get("prvDiaSources") or []) + [packet["diaSource"]],
                     key=lambda s: _t(s, *tkeys))
    out = []
    for src in sources[:-1]:
        t = _t(src, *tkeys)
        q = dict(packet)
        q.pop("alertId", None)
        q["diaSource"] = src
        q["prvDiaSources"] = [s for s in sources if _t(s, *tkeys) < t]
        for name in ("prvDiaForcedSources", "prvDiaNondetectionLimits"):
            if packet.get(name) is not None:
                q[name] = [f for f in packet[name] if _t(f, *tkeys) <= t]
        out.append(q)
    return out + [packet]


def ztf_earlier(packet):
    """The same for ZTF: each earlier detection becomes the candidate of an earlier alert."""
    cand = packet["candidate"]
    prv = sorted(packet.get("prv_candidates") or [], key=lambda e: e["jd"])
    out = []
    for e in prv:
        if e.get("candid") is None or e.get("magpsf") is None or e["jd"] >= cand["jd"]:
            continue
        q = dict(packet, candid=e["candid"])
        q["candidate"] = {**cand, **{k: v for k, v in e.items() if v is not None}}
        q["candidate"]["drb"] = e.get("drb")
        q["prv_candidates"] = [p for p in prv if p["jd"] < e["jd"]]
        out.append(q)
    return out + [packet]


def lasair_earlier(record):
    """The same for a Lasair record: its alert cut at each earlier detection."""
    alert = record["alert"]
    tkeys = ("midpointMjdTai",)
    sources = sorted(alert["diaSourcesList"], key=lambda s: _t(s, *tkeys))
    out = []
    for src in sources[:-1]:
        t = _t(src, *tkeys)
        a = dict(alert, diaSourcesList=[s for s in sources if _t(s, *tkeys) <= t])
        for name in ("diaForcedSourcesList", "diaNondetectionLimitsList"):
            if alert.get(name) is not None:
                a[name] = [f for f in alert[name] if _t(f, *tkeys) <= t]
        out.append(dict(record, alert=a))
    return out + [record]
