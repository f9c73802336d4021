"""Slack message content (mrkdwn text and Block Kit blocks) from annotations and reports.

Pure functions of plain dicts: the same job always gives the same message, so a dry run
shows exactly what would be posted.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .config import TNS_URL, SlackConfig

TIER_LABELS = {"fast_track": "Fast track", "extragalactic": "Extragalactic candidates",
               "galactic": "Galactic candidates", "purgatory": "Purgatory",
               "garbage": "Auto-garbage"}
TIER_EMOJI = {"fast_track": ":rotating_light:", "extragalactic": ":stars:",
              "galactic": ":milky_way:", "purgatory": ":hourglass:", "garbage": ":wastebasket:"}
EYEBALL_TIERS = ("fast_track", "extragalactic", "galactic")
SURVEY_LABELS = {"lsst": "LSST", "ztf": "ZTF", "atlas": "ATLAS"}
#: ORACLE classes from fewer detections than this carry a caveat.
MIN_ORACLE_DETECTIONS = 3
SECTION_MAX = 2900  # Slack: 3000 characters per section text


def esc(text: Any) -> str:
    """Text safe inside Slack mrkdwn (``&``, ``<``, ``>`` are control characters there)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    return f"<{url}|{esc(label)}>"


def name(ann: Mapping[str, Any]) -> str:
    """What eyeballers call the object: its TNS name when it has one, else its id."""
    return str(ann.get("tns_name") or ann.get("object_id"))


def links(ann: Mapping[str, Any], config: SlackConfig) -> List[Tuple[str, str]]:
    """``(label, url)`` of the object's broker pages (configured brokers that know the
    survey, and whose template's fields the annotation has) and its TNS page."""
    fields = {k: v for k, v in ann.items() if isinstance(v, (str, int)) and v != ""}
    out = []
    for broker in config.brokers:
        template = config.links.get(broker, {}).get(str(ann.get("survey")))
        if not template:
            continue
        try:
            out.append((broker.upper() if broker == "atlas" else broker.capitalize(),
                        template.format(**fields)))
        except (KeyError, IndexError):
            continue  # e.g. an ANTARES locus id this annotation does not carry
    tns = ann.get("tns_name")
    if tns:
        bare = str(tns)
        for prefix in ("AT ", "SN ", "AT", "SN"):
            if bare.startswith(prefix) and bare[len(prefix):][:1].isdigit():
                bare = bare[len(prefix):].strip()
                break
        out.append((f"TNS {tns}", TNS_URL.format(name=bare)))
    return out


def _p(v: Any, fmt: str = "{:.3f}") -> str:
    return "n/a" if v is None else fmt.format(float(v))


def oracle_summary(oracle: Optional[Mapping[str, Any]], short: bool = False) -> str:
    """ORACLE's classes down the taxonomy (``Transient 0.97 > SN 0.93 > SNIa 0.81``)."""
    if not oracle:
        return "not run"
    if oracle.get("status") != "ok":
        return f"no classes ({esc(oracle.get('reason') or oracle.get('status'))})"
    spec = oracle.get("most_specific") or {}
    if short:
        return f"{esc(spec.get('class'))} {_p(spec.get('p'), '{:.2f}')}" if spec else "n/a"
    top = oracle.get("top") or {}
    chain = " › ".join(f"{esc(top[k]['class'])} {_p(top[k].get('p'), '{:.2f}')}"
                       for k in ("level1", "level2", "leaf") if top.get(k))
    if spec and spec.get("class") != (top.get("leaf") or {}).get("class"):
        chain += f" (most specific above {oracle.get('threshold', 0.5)}: " \
                 f"{esc(spec['class'])} {_p(spec.get('p'), '{:.2f}')})"
    return f"{chain} _({esc(oracle.get('model'))}, {esc(oracle.get('variant'))})_"


def _host(host: Optional[Mapping[str, Any]]) -> str:
    if not host:
        return "host distance unknown (no alert file given)"
    parts = []
    parts.append(f"{host['distance_mpc']:.0f} Mpc" if host.get("distance_mpc") is not None
                 else "distance unknown")
    if host.get("sep_arcsec") is not None:
        parts.append(f"{host['sep_arcsec']:.1f}″ from the transient")
    if host.get("z") is not None:
        parts.append(f"z {host['z']:.4f}")
    elif host.get("photoz") is not None:
        parts.append(f"photo-z {host['photoz']:.3f}")
    if host.get("class"):
        parts.append(f"Sherlock {esc(host['class'])}")
    return ", ".join(parts)


def fast_track_text(payload: Mapping[str, Any], config: SlackConfig,
                    with_plot: bool) -> str:
    """The one message for an object entering the fast track (mrkdwn)."""
    ann = payload["annotation"]
    phot = payload.get("photometry")
    survey = SURVEY_LABELS.get(ann.get("survey"), str(ann.get("survey")))
    head = f":rotating_light: *Fast track: {esc(name(ann))}*"
    if ann.get("tns_name"):
        head += f" ({survey} {esc(ann['object_id'])})"
    else:
        head += f" ({survey})"
    lines = [head]
    urls = links(ann, config)
    if urls:
        lines.append(" · ".join(link(u, label) for label, u in urls))
    rank = f"*Rank* {_p(ann.get('rank'), '{:.2f}')}"
    if ann.get("vra_score") is not None and ann.get("rank") != ann.get("vra_score"):
        rank += f" (model score {_p(ann['vra_score'], '{:.2f}')}" + \
                ("; TNS match)" if ann.get("tns_name") else ")")
    lines.append(f"{rank} · *p_real* {_p(ann.get('p_real'))} · *p_gal* {_p(ann.get('p_gal'))}"
                 f" · visit {ann.get('visit', '?')}, phase {_p(ann.get('phase'), '{:+.1f}')} d,"
                 f" MJD {_p(ann.get('mjd'), '{:.3f}')}")
    oracle = ann.get("oracle")
    lines.append(f"*ORACLE* {oracle_summary(oracle)}")
    n_det = phot.get("n_det") if phot else (oracle or {}).get("n_rows")
    if oracle and oracle.get("status") == "ok":
        if n_det is None:
            lines.append(":warning: number of detections unknown: ORACLE's classes may rest "
                         "on too few points")
        elif n_det < MIN_ORACLE_DETECTIONS:
            lines.append(f":warning: only {n_det} detection{'s' if n_det != 1 else ''}: too "
                         "few points for ORACLE's classes to be trusted yet")
    lines.append(f"*Host* {_host(phot.get('host') if phot else None)}")
    if ann.get("explanation"):
        lines.append(f"_Why:_ {esc(ann['explanation'])}")
    if with_plot:
        lines.append(":chart_with_upwards_trend: light curve attached")
    else:
        lines.append(":grey_question: no light-curve plot: "
                     + esc(payload.get("no_plot_reason") or "the alert photometry was not given"))
    models = ann.get("models") or {}
    versions = sorted({m.get("version", "?") for m in models.values() if isinstance(m, dict)})
    lines.append(f"_alert {esc(ann.get('alert_id'))} · models {esc(', '.join(versions))} · "
                 f"policy {esc(ann.get('policy', '?'))}_")
    return "\n".join(lines)


def blocks_from_text(text: str) -> List[Dict[str, Any]]:
    """Sections of at most :data:`SECTION_MAX` characters, split at line ends."""
    blocks: List[Dict[str, Any]] = []
    chunk: List[str] = []
    size = 0
    for line in text.split("\n"):
        if chunk and size + len(line) + 1 > SECTION_MAX:
            blocks.append(_section("\n".join(chunk)))
            chunk, size = [], 0
        chunk.append(line[:SECTION_MAX])
        size += len(line) + 1
    if chunk:
        blocks.append(_section("\n".join(chunk)))
    return blocks


def _section(text: str) -> Dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _entry(e: Mapping[str, Any], config: SlackConfig) -> str:
    urls = links(e, config)
    shown = link(urls[0][1], name(e)) if urls else esc(name(e))
    if len(urls) > 1:
        shown += " (" + " · ".join(link(u, label) for label, u in urls[1:]) + ")"
    new = " :new:" if e.get("new") else ""
    return (f"• {shown} rank {_p(e.get('rank'), '{:.2f}')} · p_real {_p(e.get('p_real'), '{:.2f}')}"
            f" · p_gal {_p(e.get('p_gal'), '{:.2f}')} · ORACLE "
            f"{oracle_summary(e.get('oracle'), short=True)}{new}")


def digest(payload: Mapping[str, Any], config: SlackConfig) -> Tuple[str, List[Dict[str, Any]]]:
    """The after-ingest digest: ``(notification text, blocks)``."""
    objects, alerts = payload["objects"], payload["alerts"]
    eyeball = {t: objects.get(t, 0) for t in EYEBALL_TIERS}
    text = (f"VRA ingest: {eyeball['fast_track']} fast track, {eyeball['extragalactic']} "
            f"extragalactic, {eyeball['galactic']} galactic candidates "
            f"({payload['n_alerts']} alerts)")
    span = payload.get("mjd_range")
    blocks: List[Dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "VRA: ingest complete"}},
        _section(f"*{payload['n_alerts']} alerts* of {payload['n_objects']} objects scored"
                 + (f" · MJD {span[0]:.3f} – {span[1]:.3f}" if span else "")),
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"{TIER_EMOJI[t]} *{TIER_LABELS[t]}*\n"
                                       f"{objects.get(t, 0)} objects ({alerts.get(t, 0)} alerts)"}
            for t in payload["tiers"]]},
    ]
    for tier in EYEBALL_TIERS:
        entries = payload["top"].get(tier) or []
        if not entries:
            continue
        n = objects.get(tier, 0)
        head = (f"{TIER_EMOJI[tier]} *{TIER_LABELS[tier]}*"
                f" — {'top ' + str(len(entries)) + ' of ' if n > len(entries) else ''}{n}, "
                f"{sum(1 for e in entries if e.get('new'))} new")
        blocks.extend(blocks_from_text("\n".join([head] + [_entry(e, config) for e in entries])))
    if not any(eyeball.values()):
        blocks.append(_section("Nothing to eyeball this cycle."))
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": (
        f"eyeball threshold {config.eyeball_threshold:g} · policy "
        f"{esc(', '.join(payload.get('policies') or ['?']))} · vra_filters")}]})
    return text, blocks


def mjd_date(mjd: float) -> str:
    return (_dt.date(1858, 11, 17) + _dt.timedelta(days=int(mjd // 1))).isoformat()


def _listing(rows: Sequence[Mapping[str, Any]], config: SlackConfig, what: str,
             limit: int = 15) -> List[str]:
    out = []
    for r in rows[:limit]:
        urls = links(r, config)
        shown = link(urls[0][1], name(r)) if urls else esc(name(r))
        out.append(f"• {shown} {what.format(**r)}")
    if len(rows) > limit:
        out.append(f"• … and {len(rows) - limit} more")
    return out


def weekly_text(report: Mapping[str, Any], config: SlackConfig) -> str:
    """The weekly report (mrkdwn), posted with the outcomes chart."""
    start, end = report["mjd_start"], report["mjd_end"]
    eye = report["eyeballed"]
    lines = [f":bar_chart: *VRA weekly report* {mjd_date(start)} – {mjd_date(end)} "
             f"(MJD {start:.1f} – {end:.1f})",
             f"*Alerts scored* {report['n_alerts']} ({report['n_objects']} objects) · "
             f"*auto-garbaged* {report['garbaged_objects']} objects "
             f"({report['garbaged_alerts']} alerts)",
             "*Eyeballed* " + " · ".join(f"{TIER_LABELS[t].lower()} {eye.get(t, 0)}"
                                         for t in EYEBALL_TIERS) + " objects"]
    stuck = report["stuck"]
    lines.append(f"*Stuck in purgatory* (undecided > {config.purgatory_days:g} d): {len(stuck)}")
    lines += _listing(stuck, config, "best rank {best_rank:.2f}, {days:.0f} d since first "
                                     "seen")
    misses = report["misses"]
    lines.append(f"*Potential misses* (TNS-matched, model rank never ≥ "
                 f"{config.eyeball_threshold:g}, never galactic): {len(misses)}")
    lines += _listing(misses, config, "best model rank {best_score:.2f}")
    if report.get("found_first") is not None:
        lines.append(f"TNS-matched objects the VRA flagged before they had a TNS name: "
                     f"{report['found_first']}; only after: {report['found_by_others']}")
    return "\n".join(lines)
