"""The ANTARES filter: VRA scores, eyeball tier and ORACLE classes for every LSST / ZTF alert.

A devkit 0.11 ``BaseFilter``. ANTARES calls ``setup()`` once when it loads the filters and
``run(locus)`` for every alert (the locus's newest). ``_run`` reads the light curve straight
from ``locus.alerts`` (:mod:`.locus`), runs the core pipeline on it with the object's history
taken from the locus itself, and writes plain ``str``/``int``/``float`` properties and tags.

State between alerts lives in the locus property ``vra_state`` (a JSON string, one entry per
survey): the policies' :class:`ObjectHistory` (visits, first/last MJD kept as exact decimal
strings -- ANTARES stores float properties with float32 precision, ~6 minutes at MJD 61000 --
best and summed rank, garbage flag) and the ORACLE's incremental GRU state (base64 of its own
binary layout). A re-delivered alert (not newer than the last one scored) changes nothing.

Outcomes: ``Succeeded``; ``Skipped`` with a reason for anything the data cannot support (no
alerts, unknown survey, missing or NaN photometry, an upper-limit trigger, a re-delivery);
``Errored`` only for a bug. The reason is in the returned ``FilterReturn``'s ``reason`` field
and in :attr:`VirtualResearchAssistant.last_skip_reason`.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import traceback
from importlib import resources
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from antares_devkit.models import BaseFilter, FilterReturn

from ._core import (
    VENDORED,
    InputError,
    LightCurve,
    Skip,
    dust,
    oracle,
    pipeline,
    policies,
    state,
    trees,
    vra_filters,
)
from .locus import locus_lightcurve

#: Locus property holding the per-survey history (JSON string; see the module docstring).
STATE_PROPERTY = "vra_state"
STATE_VERSION = 1
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
        _prop(STATE_PROPERTY, "str", "Internal: the VRA's per-object history and ORACLE state "
              "(JSON); read back on the next alert"),
    ]
    OUTPUT_LOCUS_TAGS = [
        {"name": "vra_fast_track", "description": "VRA fast track: rank >= 7 and a host "
         "galaxy closer than 100 Mpc"},
        {"name": "vra_extragalactic_candidate", "description": "VRA eyeball list: rank >= 7 "
         "(real, extragalactic transient candidate)"},
        {"name": "vra_galactic_candidate", "description": "VRA galactic candidate: likely "
         "real and galactic, rank below the eyeball threshold"},
    ]
    REQUIRES_FILES = ["models/vra/duck/**", "models/oracle/elasticc/weights_f1.*",
                      "models/oracle/bts/weights_f1.*"]

    #: VRA model family and ORACLE model per survey (``f1`` checkpoint). The ORACLE runtime is
    #: the core's deployed default if that is a numpy one, else its numpy fallback (the same
    #: int8 weights as the LiteRT default, models/oracle/README.md): ANTARES has numpy only.
    VRA_FAMILY = "duck"
    ORACLE_MODELS = {"lsst": "elasticc", "ztf": "bts"}
    ORACLE_VARIANT = (oracle.DEFAULT_VARIANT if oracle.DEFAULT_VARIANT.startswith("numpy-")
                      else oracle.FALLBACK_VARIANT)

    def setup(self) -> None:
        """Load every model once (ANTARES calls this when it loads the filters)."""
        root = models_root()
        self.policy = policies.Policy()
        self.models = pipeline.VRAModels(*(
            trees.TreeEnsemble.load(root / "vra" / self.VRA_FAMILY / stage / kind)
            for stage in ("day1", "dayN") for kind in ("real", "gal")))
        self.ebv_map = dust.EbvMap.load()
        self.oracles = {survey: _load_oracle(model, self.ORACLE_VARIANT)
                        for survey, model in self.ORACLE_MODELS.items()}
        self._types = {p["name"]: p["type"] for p in self.OUTPUT_LOCUS_PROPERTIES}
        self.last_skip_reason: Optional[str] = None
        for model in (self.models.day1_real, self.models.day1_gal, self.models.dayN_real,
                      self.models.dayN_gal):  # build the lazy explanation tables now, not on
            model.contributions(np.zeros((1, model.n_features)))  # the first alert (~0.1 s)

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
        store = LocusStore()
        key = (lc.survey, lc.object_id)
        store.restore(key, saved.get(lc.survey))
        result = pipeline.Pipeline(policy=self.policy, state=store, models=self.models,
                                   ebv_map=self.ebv_map,
                                   oracle=self.oracles.get(lc.survey)).score_batch([lc])[0]
        if isinstance(result, Skip):
            raise SkipLocus(result.reason)
        if result.get("status") != "new":
            raise SkipLocus(f"alert {result.get('alert_id')} at MJD {lc.alert_mjd:.5f} is not "
                            "newer than the last alert scored for this locus (re-delivery)")
        self._write(locus, lc, result)
        saved[lc.survey] = store.snapshot(key)
        locus.set_property(STATE_PROPERTY, write_state(saved))
        tag = TIER_TAGS.get(result.get("tier"))
        if tag:
            locus.tag(tag)

    # ------------------------------------------------------------------ outputs

    def _write(self, locus: Any, lc: LightCurve, ann: Dict[str, Any]) -> None:
        put = self._put
        put(locus, "vra_p_real", ann.get("p_real"))
        put(locus, "vra_p_gal", ann.get("p_gal"))
        put(locus, "vra_score", ann.get("vra_score"))
        put(locus, "vra_rank", ann.get("rank"))
        put(locus, "vra_tier", ann.get("tier"))
        put(locus, "vra_galactic", int(bool(ann.get("galactic"))))
        put(locus, "vra_stage", ann.get("stage"))
        put(locus, "vra_visits", ann.get("visit"))
        put(locus, "vra_survey", lc.survey)
        put(locus, "vra_alert_id", lc.alert_id)
        put(locus, "vra_explanation", ann.get("explanation"))
        oracle = ann.get("oracle")
        put(locus, "vra_model_version", model_version(ann.get("models") or {}, oracle))
        status = "not_run" if oracle is None else oracle.get("status")
        put(locus, "vra_oracle_status", status)
        if status != "ok":  # clear the classes of an earlier alert: properties persist
            oracle = {}
        best = oracle.get("most_specific") or {}
        put(locus, "vra_oracle_class", best.get("class", ""))
        put(locus, "vra_oracle_prob", best.get("p", 0.0))
        top = oracle.get("top") or {}
        for level in ORACLE_LEVELS:
            entry = top.get(level) or {}
            put(locus, f"vra_oracle_{level}_class", entry.get("class", ""))
            put(locus, f"vra_oracle_{level}_prob", entry.get("p", 0.0))

    def _put(self, locus: Any, name: str, value: Any) -> bool:
        """``set_property`` with the declared type as a plain Python value; None, NaN and
        out-of-range floats are not written (ANTARES rejects None and |x| > float32 max)."""
        if value is None:
            return False
        kind = self._types[name]
        if kind == "float":
            value = float(value)
            if not math.isfinite(value) or abs(value) > ES_FLOAT_MAX:
                return False
        elif kind == "int":
            value = int(value)
        else:
            value = str(value)
        locus.set_property(name, value)
        return True

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
    ``importlib.resources``) when packaged for ANTARES, else the checkout's ``models/``."""
    if VENDORED:
        root = Path(str(resources.files(__package__) / "models"))
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: the filter's models are missing")
        return root
    return vra_filters.registry.models_dir()


def _load_oracle(model: str, variant: str) -> Any:
    """The ORACLE for one survey (numpy runtime; the weights sit in ``models/oracle``, where
    the core's loader finds them in a checkout and in the packaged filter alike)."""
    return oracle.Oracle.load(model=model, variant=variant)


def model_version(models: Dict[str, Any], oracle: Optional[Dict[str, Any]]) -> str:
    """``vra_filters 0.1.0; vra/duck/dayN/real duck-1.1 a497d27d; ...; oracle bts f1 ...``."""
    parts = [f"vra_filters {vra_filters.__version__}"]
    for role in ("real", "gal"):
        m = models.get(role) or {}
        parts.append(f"{m.get('name')} {m.get('version')} {str(m.get('sha256'))[:8]}")
    if oracle is not None:
        parts.append(f"oracle {oracle.get('model')} {oracle.get('checkpoint')} "
                     f"{oracle.get('variant')} {str(oracle.get('sha256'))[:8]}")
    return "; ".join(parts)


class LocusStore(state.MemoryStore):
    """A one-locus state store: seeded from ``vra_state``, read back into it after the run.

    Remembers the model states committed under any name, so whatever the ORACLE keeps is
    carried to the next alert without this adapter knowing its layout."""

    def __init__(self) -> None:
        super().__init__()
        self.model_names: List[str] = []

    def commit(self, histories, alerts, model_states=()) -> None:
        model_states = list(model_states)
        super().commit(histories, alerts, model_states)
        for _survey, _object, name, _blob in model_states:
            if name not in self.model_names:
                self.model_names.append(name)

    def restore(self, key: Tuple[str, str], saved: Optional[Dict[str, Any]]) -> None:
        """Seed the store with one survey's entry of ``vra_state`` (None: a new object)."""
        if not saved:
            return
        hist = policies.ObjectHistory(
            n_visits=int(saved["n"]), first_mjd=float(saved["first"]),
            last_mjd=float(saved["last"]), max_rank=float(saved["max"]),
            sum_rank=float(saved["sum"]), garbage=bool(saved["garbage"]))
        blobs = [(key[0], key[1], name, base64.b64decode(text))
                 for name, text in (saved.get("models") or {}).items()]
        self.commit({key: hist}, [], blobs)

    def snapshot(self, key: Tuple[str, str]) -> Dict[str, Any]:
        """The survey's entry for ``vra_state`` (MJDs as exact decimal strings)."""
        hist = self.histories([key])[key]
        out: Dict[str, Any] = {
            "n": hist.n_visits, "first": repr(hist.first_mjd), "last": repr(hist.last_mjd),
            "max": repr(hist.max_rank), "sum": repr(hist.sum_rank), "garbage": int(hist.garbage),
        }
        models = {}
        for name in self.model_names:
            blob = self.model_states(name, [key]).get(key)
            if blob:
                models[name] = base64.b64encode(blob).decode("ascii")
        if models:
            out["models"] = models
        return out


def read_state(text: Any) -> Dict[str, Any]:
    """``vra_state`` as a dict of per-survey entries; absent or unreadable -> ``{}`` (the
    object then starts afresh, as on its first alert)."""
    if not isinstance(text, str) or not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(data, dict) or data.get("v") != STATE_VERSION:
        return {}
    out = {}
    for survey, entry in data.items():
        if survey != "v" and _valid_entry(entry):
            out[survey] = entry
    return out


def _valid_entry(entry: Any) -> bool:
    if not isinstance(entry, dict):
        return False
    try:
        int(entry["n"])
        for k in ("first", "last", "max", "sum"):
            float(entry[k])
        for blob in (entry.get("models") or {}).values():
            base64.b64decode(blob, validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error):
        return False
    return True


def write_state(entries: Dict[str, Any]) -> str:
    return json.dumps(dict(entries, v=STATE_VERSION), sort_keys=True, separators=(",", ":"))
