"""Policies: from an alert's scores and its object's history to a rank and an eyeball tier.

Thresholds live in one TOML file (``data/policy/default.toml`` documents every key and holds
the ATLAS VRA 1.1 defaults; ``galactic.toml`` is a preset for galactic science). The tiers:

* ``garbage`` — auto-garbage fired (any visit best < 1; >= 2 visits best < 2; >= 3 visits
  mean < 3); it sticks to the object;
* ``purgatory`` — neither garbaged nor eyeballed: below the eyeball threshold and not a
  galactic candidate, or still undecided ``purgatory.days`` after the first score or after
  phase zero;
* ``fast_track`` — nearby host (distance < 100 Mpc) and rank >= the fast-track threshold;
* ``extragalactic`` — rank >= the eyeball threshold;
* ``galactic`` — galactic candidate below the eyeball threshold, or catalogued as a galactic
  source (a cataclysmic or other variable star, ``galactic.catalogue_classes``), whatever its
  rank and the garbage rules.

What the broker's cross-matches say comes first (:func:`context_rules`): a known solar-system
object (an asteroid) gets ``solar_system.rank`` (0: the auto-garbage rule bins it) and is never
a candidate; a TNS match (a known transient) gets ``score.tns_rank``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

from .tomlfile import read_toml

TIERS = ("fast_track", "extragalactic", "galactic", "purgatory", "garbage")
PRESETS = ("default", "galactic")

_DATA = Path(__file__).resolve().parent / "data" / "policy"

# TOML section/key -> Policy field.
_KEYS = {
    ("score", "f"): "vra_f",
    ("score", "tns_rank"): "tns_rank",
    ("eyeball", "threshold"): "eyeball_threshold",
    ("galactic", "f"): "gal_f",
    ("galactic", "radius"): "gal_radius",
    ("galactic", "below_threshold_only"): "gal_below_threshold_only",
    ("galactic", "catalogue_classes"): "galactic_classes",
    ("solar_system", "rank"): "sso_rank",
    ("garbage", "day1_max"): "garbage_day1_max",
    ("garbage", "visit2_max"): "garbage_visit2_max",
    ("garbage", "visit3_mean"): "garbage_visit3_mean",
    ("purgatory", "days"): "purgatory_days",
    ("fast_track", "distance_mpc"): "fast_track_distance_mpc",
    ("fast_track", "threshold"): "fast_track_threshold",
}


@dataclass(frozen=True)
class Policy:
    """Every policy threshold; the defaults equal ``data/policy/default.toml``."""

    vra_f: float = 0.5
    tns_rank: float = 10.0
    eyeball_threshold: float = 7.0
    gal_f: float = 0.9
    gal_radius: float = 0.4
    gal_below_threshold_only: bool = True
    garbage_day1_max: float = 1.0
    garbage_visit2_max: float = 2.0
    garbage_visit3_mean: float = 3.0
    purgatory_days: float = 15.0
    fast_track_distance_mpc: float = 100.0
    fast_track_threshold: float = 7.0
    galactic_classes: Tuple[str, ...] = ("CV", "VS")
    sso_rank: float = 0.0
    name: str = "default"

    @classmethod
    def from_mapping(cls, data: Dict[str, Any], name: str = "custom",
                     base: Optional[Policy] = None) -> Policy:
        """A policy from parsed TOML (sections as in default.toml); unknown keys are errors."""
        values: Dict[str, Any] = {}
        for section, table in data.items():
            if not isinstance(table, dict):
                raise ValueError(f"policy {name}: [{section}] must be a table")
            for key, value in table.items():
                attr = _KEYS.get((section, key))
                if attr is None:
                    raise ValueError(f"policy {name}: unknown key {section}.{key}")
                if attr == "galactic_classes":
                    if not (isinstance(value, list)
                            and all(isinstance(v, str) for v in value)):
                        raise ValueError(f"policy {name}: {section}.{key} must be a list of "
                                         "class names")
                    values[attr] = tuple(value)
                    continue
                kind = bool if attr == "gal_below_threshold_only" else float
                if kind is bool and not isinstance(value, bool):
                    raise ValueError(f"policy {name}: {section}.{key} must be true or false")
                if kind is float and (isinstance(value, bool)
                                      or not isinstance(value, (int, float))):
                    raise ValueError(f"policy {name}: {section}.{key} must be a number")
                values[attr] = kind(value)
        start = base if base is not None else cls()
        merged = {f.name: getattr(start, f.name) for f in fields(cls)}
        merged.update(values, name=name)
        if merged["sso_rank"] >= merged["eyeball_threshold"]:
            raise ValueError(f"policy {name}: solar_system.rank must stay below the eyeball "
                             "threshold (a known asteroid is never a candidate)")
        return cls(**merged)


def load_policy(source: Union[str, Path, None] = None) -> Policy:
    """A preset by name (``default``, ``galactic``) or a TOML file; None gives the default.

    A file overrides the default policy key by key.
    """
    if source is None or str(source) == "default":
        return Policy()
    if str(source) in PRESETS:
        return Policy.from_mapping(read_toml(_DATA / f"{source}.toml", "policy file"), name=str(source))
    path = Path(source)
    if not path.is_file():
        raise ValueError(f"policy {source!r}: no such file and not a preset "
                         f"({', '.join(PRESETS)})")
    return Policy.from_mapping(read_toml(path, "policy file"), name=path.name)


@dataclass
class ObjectHistory:
    """What the policies remember of one object between alerts (kept in the state store)."""

    n_visits: int = 0
    first_mjd: float = math.nan
    last_mjd: float = -math.inf
    max_rank: float = -math.inf
    sum_rank: float = 0.0
    garbage: bool = False

    def add_visit(self, rank: float, mjd: float) -> None:
        self.n_visits += 1
        if math.isnan(self.first_mjd):
            self.first_mjd = mjd
        self.last_mjd = max(self.last_mjd, mjd)
        self.max_rank = max(self.max_rank, rank)
        self.sum_rank += rank


def is_garbage(history: ObjectHistory, policy: Policy) -> bool:
    """ATLAS auto-garbage rules over the visits so far (VRAGarbageCollector, Feb 2025)."""
    n = history.n_visits
    if n == 0:
        return False
    mean = history.sum_rank / n
    return bool(history.max_rank < policy.garbage_day1_max
                or (n >= 2 and history.max_rank < policy.garbage_visit2_max)
                or (n >= 3 and mean < policy.garbage_visit3_mean))


def context_rules(score: float, gal_cand: bool, context: Any,
                  policy: Policy) -> Tuple[float, bool, bool, str]:
    """What the cross-matches decide before the scores: ``(rank, gal_flag, catalogued,
    reason)``.

    ``context`` is the alert's :class:`~vra_filters.lightcurve.Context`. A known solar-system
    object gets ``policy.sso_rank`` and no galactic flag (never a candidate); a TNS match gets
    ``policy.tns_rank``; a catalogue class among ``policy.galactic_classes`` (CV, VS) makes a
    galactic source (``catalogued``: its tier is ``galactic`` whatever its rank). ``reason`` is
    the sentence the annotation's explanation starts with ("" when the scores decided).
    """
    if context.solar_system:
        ident = f" {context.ss_object_id}" if context.ss_object_id else ""
        return (policy.sso_rank, False, False,
                f"known solar-system object{ident}: never a candidate")
    rank = policy.tns_rank if context.tns_name else float(score)
    gal_flag = bool(gal_cand) and (rank < policy.eyeball_threshold
                                   or not policy.gal_below_threshold_only)
    klass = context.catalogue_class
    if klass and klass in policy.galactic_classes and not context.tns_name:
        return rank, True, True, f"catalogued {klass}: a galactic source"
    return rank, gal_flag, False, ""


def tier(rank: float, gal_flag: bool, distance_mpc: float, history: ObjectHistory,
         mjd: float, policy: Policy, phase: float = 0.0, catalogued: bool = False) -> str:
    """The eyeball tier of an alert whose visit has already been added to ``history``.

    An object is undecided for the longer of: days since its first score, and its phase (days
    since phase zero; past +15 d the scorers are outside their training window too).
    ``catalogued``: a catalogue says the source is a known galactic one (:func:`context_rules`):
    ``galactic`` whatever the scores and the garbage rules say."""
    if catalogued:
        return "galactic"
    if history.garbage:
        return "garbage"
    if max(mjd - history.first_mjd, phase) > policy.purgatory_days:
        return "purgatory"
    if distance_mpc < policy.fast_track_distance_mpc and rank >= policy.fast_track_threshold:
        return "fast_track"
    if rank >= policy.eyeball_threshold:
        return "extragalactic"
    if gal_flag:
        return "galactic"
    return "purgatory"
