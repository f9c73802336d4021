"""The ANTARES filter: VRA scores, eyeball tier and ORACLE classes for every LSST / ZTF alert.

A devkit 0.11 ``BaseFilter``. ANTARES calls ``setup()`` once when it loads the filters (it
loads the core's :class:`~vra_filters.Scorer`: every model, once) and ``run(locus)`` for every
alert (the locus's newest). ``_run`` reads the light curve straight from ``locus.alerts``
(:mod:`.locus`), scores it with ``Scorer.score([lc], prior=...)`` -- the object's history taken
from the locus itself -- and writes plain ``str``/``int``/``float`` properties and tags
(:class:`LocusSink`).

State between alerts lives in the locus property ``vra_state``: a JSON object with one entry
per survey, the base64 of that object's :class:`~vra_filters.ObjectState` bytes (the core's one
versioned codec: visits, first/last MJD as float64 -- ANTARES would keep a float property to
float32, ~6 minutes at MJD 61000 --, best and summed rank, garbage flag and the ORACLE's
incremental GRU state). The locus is the object: the state is the locus's whatever object id
the survey gave its alerts. An unreadable entry is ignored (the object starts afresh). A
re-delivered alert (not newer than the last one scored) changes nothing.

Outcomes: ``Succeeded``; ``Skipped`` with a reason for anything the data cannot support (no
alerts, unknown survey, missing or NaN photometry, an upper-limit trigger, a re-delivery);
``Errored`` only for a bug. The reason is in the returned ``FilterReturn``'s ``reason`` field
and in :attr:`VirtualResearchAssistant.last_skip_reason`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
import traceback
from importlib import resources
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
from antares_devkit.models import BaseFilter, FilterReturn

from ._core import (
    VENDORED,
    Annotation,
    InputError,
    ObjectState,
    Scorer,
    Skip,
    StateError,
    oracle,
    vra_filters,
)
from .locus import locus_lightcurve

#: Locus property holding the per-survey state (JSON string; see the module docstring).
STATE_PROPERTY = "vra_state"
#: Tier -> tag (the ``purgatory`` and ``garbage`` tiers are not tagged).
TIER_TAGS = {
    "fast_track": "vra_fast_track",
    "extragalactic": "vra_extragalactic_candidate",
    "galactic": "vra_galactic_candidate",
}
#: ORACLE taxonomy levels written as properties.
ORACLE_LEVELS = ("level1", "level2", "leaf")
#: ANTARES' limit on float properties (Elasticsearch float).
ES_FLOAT_MAX = (2 - 2 ** -23) * 2 ** 127


class SkipLocus(Exception):
    """Raised inside ``_run`` when the locus cannot be scored; the message is the reason."""


class VraFilterReturn(FilterReturn):
    """``FilterReturn`` plus why a locus was skipped (the devkit's has no field for it)."""

    reason: Optional[str] = None


def _prop(name: str, kind: str, description: str) -> Dict[str, str]:
    return {"name": name, "type": kind, "description": description}


class VirtualResearchAssistant(BaseFilter):
    """ATLAS Virtual Research Assistant (VRA) scores and the ORACLE classifier (vra_filters)."""

    SLACK_CHANNEL = "#filter-vra"
    TRIGGERING_SURVEY = "all"
    REQUIRED_LOCUS_PROPERTIES: List[str] = []
    REQUIRED_TAGS: List[str] = []
    # Survey-prefixed names are only required of alerts of that survey (devkit >= 0.11), so a
    # ZTF upper-limit trigger (no ztf_magpsf) is skipped before _run.
    REQUIRED_ALERT_PROPERTIES = [
        "ant_survey",
        "lsst_diaSource_midpointMjdTai", "lsst_diaSource_band", "lsst_diaSource_psfFlux",
        "lsst_diaSource_psfFluxErr",
        "ztf_jd", "ztf_fid", "ztf_magpsf", "ztf_sigmapsf",
    ]
    OUTPUT_LOCUS_PROPERTIES = [
        _prop("vra_p_real", "float", "VRA real/bogus scorer: probability the transient is real "
              "(0-1; day-1 model on the first night, day-N after)"),
        _prop("vra_p_gal", "float", "VRA galactic scorer: probability the transient is galactic "
              "(0-1)"),
        _prop("vra_score", "float", "VRA score (ATLAS VRA eq. 2, 0-10) from p_real and p_gal; "
              "high = real and extragalactic"),
        _prop("vra_rank", "float", "VRA rank after the policies: the score, or 10 for a known "
              "(TNS) transient; eyeball threshold 7"),
        _prop("vra_tier", "str", "VRA eyeball tier: fast_track, extragalactic, galactic, "
              "purgatory or garbage"),
        _prop("vra_galactic", "int", "1 if the VRA flags a galactic candidate, else 0"),
        _prop("vra_stage", "str", "VRA feature set used: day1 (first night) or dayN"),
        _prop("vra_visits", "int", "Number of visits (alerts newer than the last one) the VRA "
              "has scored for this locus and survey"),
        _prop("vra_survey", "str", "Survey whose alerts were scored last: lsst or ztf"),
        _prop("vra_alert_id", "str", "ANTARES id of the alert scored last"),
        _prop("vra_explanation", "str", "The features that pushed the VRA score most"),
        _prop("vra_model_version", "str", "vra_filters version and the name, version and "
              "sha256 prefix of every model used"),
        _prop("vra_oracle_status", "str", "ORACLE outcome: ok, or why it gave no classes "
              "(e.g. no_detection, unsupported); the class properties are then empty and the "
              "probabilities 0"),
        _prop("vra_oracle_class", "str", "ORACLE most specific class with probability above "
              "its threshold (0.5)"),
        _prop("vra_oracle_prob", "float", "Probability of vra_oracle_class"),
        _prop("vra_oracle_level1_class", "str", "ORACLE top class at level 1 (e.g. Transient, "
              "Variable)"),
        _prop("vra_oracle_level1_prob", "float", "Probability of vra_oracle_level1_class"),
        _prop("vra_oracle_level2_class", "str", "ORACLE top class at level 2 (e.g. SN, Fast, "
              "Long, Periodic, AGN)"),
        _prop("vra_oracle_level2_prob", "float", "Probability of vra_oracle_level2_class"),
        _prop("vra_oracle_leaf_class", "str", "ORACLE top leaf class (e.g. SNIa, SNII, TDE)"),
        _prop("vra_oracle_leaf_prob", "float", "Probability of vra_oracle_leaf_class"),
        _prop("vra_oracle_warnings", "str", "Caveats to read the ORACLE classes with, "
              "comma-separated (e.g. too_few_points: under 3 detections); empty: none"),
        _prop(STATE_PROPERTY, "str", "Internal: the VRA's per-object history and ORACLE state "
              "(JSON: survey -> base64 of the vra_filters ObjectState bytes); read back on the "
              "next alert"),
    ]
    OUTPUT_LOCUS_TAGS = [
        {"name": "vra_fast_track", "description": "VRA fast track: rank >= 7 and a host "
         "galaxy closer than 100 Mpc"},
        {"name": "vra_extragalactic_candidate", "description": "VRA eyeball list: rank >= 7 "
         "(real, extragalactic transient candidate)"},
        {"name": "vra_galactic_candidate", "description": "VRA galactic candidate: likely "
         "real and galactic, rank below the eyeball threshold"},
    ]
    REQUIRES_FILES = ["models/registry.json", "models/vra/duck/**",
                      "models/oracle/elasticc/weights_f1.*",
                      "models/oracle/elasticc-lite/weights_f1.*", "models/oracle/bts/weights_f1.*",
                      "models/dust/**"]

    #: VRA model family and ORACLE model per survey (``f1`` checkpoint). The ORACLE runtime is
    #: the core's deployed default if that is a numpy one, else its numpy fallback (the same
    #: int8 weights as the LiteRT default, models/oracle/README.md): ANTARES has numpy only.
    VRA_FAMILY = "duck"
    ORACLE_MODELS = {"lsst": "elasticc", "ztf": "bts"}
    #: ... and instead, on alerts without the host galaxy's magnitudes (every real Rubin LSST
    #: alert), the model the registry routes them to (``registry.oracle_without_metadata``).
    ORACLE_WITHOUT_METADATA = {"lsst": "elasticc-lite"}
    ORACLE_VARIANT = (oracle.DEFAULT_VARIANT if oracle.DEFAULT_VARIANT.startswith("numpy-")
                      else oracle.FALLBACK_VARIANT)

    def setup(self) -> None:
        """Load every model once (ANTARES calls this when it loads the filters)."""
        check_models_root()
        self.scorer = Scorer.load(policy="default", oracle=dict(self.ORACLE_MODELS),
                                  oracle_without_metadata=dict(self.ORACLE_WITHOUT_METADATA),
                                  oracle_variant=self.ORACLE_VARIANT, models=self.VRA_FAMILY)
        self._types = {p["name"]: p["type"] for p in self.OUTPUT_LOCUS_PROPERTIES}
        self.last_skip_reason: Optional[str] = None
        models = self.scorer.models
        for model in models.pair("day1") + models.pair("dayN"):  # build the lazy explanation
            model.contributions(np.zeros((1, model.n_features)))  # tables now (~0.1 s)

    # ------------------------------------------------------------------ devkit entry points

    def run(self, locus: Any) -> FilterReturn:
        """``BaseFilter.run`` with reasons: every data problem ends ``Skipped``, never
        ``Errored`` (the base class raises on a locus without alerts or ``ant_survey``)."""
        self.last_skip_reason = None
        reason = _precheck(locus)
        if reason is None and not self._satisfies_contraints(locus):
            reason = self._constraint_reason(locus)
        if reason is None:
            try:
                self._run(locus)
                return VraFilterReturn(status="Succeeded")
            except SkipLocus as exc:
                reason = str(exc)
            except Exception as exc:  # a bug: report it as the devkit does
                return VraFilterReturn(status="Errored", exception_name=type(exc).__name__,
                                       exception_message=str(exc),
                                       traceback=traceback.format_exc())
        self.last_skip_reason = reason
        return VraFilterReturn(status="Skipped", reason=reason)

    def _run(self, locus: Any) -> None:
        try:
            lc = locus_lightcurve(locus)
        except InputError as exc:
            raise SkipLocus(str(exc)) from None
        saved = read_state(locus.properties.get(STATE_PROPERTY))
        key = (lc.survey, lc.object_id)
        state = decode_state(saved.get(lc.survey), key)
        out = self.scorer.score([lc], prior={key: state} if state is not None else None)
        (ann,) = out.results
        if isinstance(ann, Skip):
            raise SkipLocus(ann.reason)
        if ann.status != "new":
            raise SkipLocus(f"alert {ann.alert_id} at MJD {lc.alert_mjd:.5f} is not newer "
                            "than the last alert scored for this locus (re-delivery)")
        LocusSink(locus, self._types).write(ann)
        saved[lc.survey] = encode_state(out.states[key])
        locus.set_property(STATE_PROPERTY, write_state(saved))
        tag = TIER_TAGS.get(ann.tier)
        if tag:
            locus.tag(tag)

    def _constraint_reason(self, locus: Any) -> str:
        missing = [p for p in self.REQUIRED_LOCUS_PROPERTIES if p not in locus.properties]
        missing += [f"tag {t}" for t in self.REQUIRED_TAGS if t not in locus.tags]
        alert = locus.alert
        props = alert.properties
        prefix = {1: "ztf_", 2: "ztf_", 3: "decat_", 4: "lsst_"}.get(props.get("ant_survey"))
        survey_prefixes = ("ztf_", "lsst_", "decat_")
        missing += [p for p in self.REQUIRED_ALERT_PROPERTIES if p not in props
                    and (not p.startswith(survey_prefixes) or p.startswith(prefix or "-"))]
        if missing:
            what = ", ".join(missing)
            if props.get("ant_survey") == 2:
                return f"alert {alert.id}: the triggering alert is a ZTF upper limit " \
                       f"(no new detection to score; missing {what})"
            return f"alert {alert.id}: missing required properties: {what}"
        return "the locus does not meet the filter's requirements"


# ------------------------------------------------------------------ helpers


def _precheck(locus: Any) -> Optional[str]:
    """What the devkit's constraint check would crash on (IndexError / KeyError)."""
    alerts = getattr(locus, "alerts", None)
    if not alerts:
        return f"locus {getattr(locus, 'id', '?')}: no alerts"
    if "ant_survey" not in alerts[-1].properties:
        return f"alert {alerts[-1].id}: missing property 'ant_survey'"
    return None


def models_root() -> Path:
    """The folder of the shipped models: the filter package's ``models/`` (found with
    ``importlib.resources``) when packaged for ANTARES, else the core registry's."""
    if VENDORED:
        return Path(str(resources.files(__package__) / "models"))
    return vra_filters.registry.models_dir()


def check_models_root() -> None:
    """Packaged, the vendored core must read the package's own models (it does unless
    ``$VRA_MODELS`` points elsewhere)."""
    if not VENDORED:
        return
    mine = models_root()
    if not (mine / "registry.json").is_file():
        raise FileNotFoundError(f"{mine}: the filter's models are missing")
    used = vra_filters.registry.models_dir()
    if used.resolve() != mine.resolve():
        raise RuntimeError(f"the vendored core reads models from {used}, not the filter's "
                           f"{mine} (unset ${vra_filters.registry.ENV_VAR})")


class LocusSink:
    """A :class:`vra_filters.Sink` writing an annotation onto a locus: the ``vra_*``
    properties (as the declared plain types) of :attr:`VirtualResearchAssistant.
    OUTPUT_LOCUS_PROPERTIES`. The tags and ``vra_state`` are the filter's."""

    def __init__(self, locus: Any, types: Dict[str, str]) -> None:
        self.locus = locus
        self.types = types

    def write(self, ann: Annotation) -> None:
        put = self._put
        put("vra_p_real", ann.p_real)
        put("vra_p_gal", ann.p_gal)
        put("vra_score", ann.vra_score)
        put("vra_rank", ann.rank)
        put("vra_tier", ann.tier)
        put("vra_galactic", int(bool(ann.galactic)))
        put("vra_stage", ann.stage)
        put("vra_visits", ann.visit)
        put("vra_survey", ann.survey)
        put("vra_alert_id", ann.alert_id)
        put("vra_explanation", ann.explanation)
        block = ann.oracle
        put("vra_model_version", model_version(ann.models or {}, block))
        status = "not_run" if block is None else block.get("status")
        put("vra_oracle_status", status)
        put("vra_oracle_warnings", oracle.warnings_text(block))
        if status != "ok":  # clear the classes of an earlier alert: properties persist
            block = {}
        best = block.get("most_specific") or {}
        put("vra_oracle_class", best.get("class", ""))
        put("vra_oracle_prob", best.get("p", 0.0))
        top = block.get("top") or {}
        for level in ORACLE_LEVELS:
            entry = top.get(level) or {}
            put(f"vra_oracle_{level}_class", entry.get("class", ""))
            put(f"vra_oracle_{level}_prob", entry.get("p", 0.0))

    def flush(self) -> None:
        """Nothing buffered: ``set_property`` writes at once."""

    def close(self) -> None:
        """Nothing to release (the locus belongs to ANTARES)."""

    def _put(self, name: str, value: Any) -> bool:
        """``set_property`` with the declared type as a plain Python value; None, NaN and
        out-of-range floats are not written (ANTARES rejects None and |x| > float32 max)."""
        if value is None:
            return False
        kind = self.types[name]
        if kind == "float":
            value = float(value)
            if not math.isfinite(value) or abs(value) > ES_FLOAT_MAX:
                return False
        elif kind == "int":
            value = int(value)
        else:
            value = str(value)
        self.locus.set_property(name, value)
        return True


def model_version(models: Dict[str, Any], block: Optional[Dict[str, Any]]) -> str:
    """``vra_filters 0.1.0; vra/duck/dayN/real duck-1.1 a497d27d; ...; oracle bts f1 ...``."""
    parts = [f"vra_filters {vra_filters.__version__}"]
    for role in ("real", "gal"):
        m = models.get(role) or {}
        parts.append(f"{m.get('name')} {m.get('version')} {str(m.get('sha256'))[:8]}")
    if block is not None:
        parts.append(f"oracle {block.get('model')} {block.get('checkpoint')} "
                     f"{block.get('variant')} {str(block.get('sha256'))[:8]}")
    return "; ".join(parts)


# ------------------------------------------------------------------ vra_state


def read_state(text: Any) -> Dict[str, str]:
    """``vra_state`` as ``{survey: base64 text}``; absent or unreadable -> ``{}`` (the
    objects then start afresh, as on their first alert). Entries are decoded one survey at a
    time by :func:`decode_state`."""
    if not isinstance(text, str) or not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def decode_state(entry: Optional[str], key) -> Optional[ObjectState]:
    """One survey's entry as the :class:`ObjectState` of ``key`` = (survey, object id); None
    when absent or unreadable (bad base64, bytes the codec rejects, another survey's state).
    The locus is the object: a state saved under another object id of the same survey (ZTF
    may give one locus's alerts two ids) is carried over to this one."""
    if not entry:
        return None
    try:
        state = ObjectState.from_bytes(base64.b64decode(entry, validate=True))
    except (binascii.Error, ValueError, StateError):
        return None
    if state.survey != key[0]:
        return None
    if state.object_id != key[1]:
        state = dataclasses.replace(state, object_id=key[1])
    return state


def encode_state(state: ObjectState) -> str:
    return base64.b64encode(state.to_bytes()).decode("ascii")


def write_state(entries: Dict[str, str]) -> str:
    return json.dumps(entries, sort_keys=True, separators=(",", ":"))
