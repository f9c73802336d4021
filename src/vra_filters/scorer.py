"""The one public scorer: light curves and what is known of their objects in, annotations and
the objects' new states out.

:meth:`Scorer.score` is pure -- no file, database or network I/O, its inputs are not mutated,
the same inputs give the same outputs -- so every host calls it the same way: a stateful
stream loads the objects' states from its store and commits the returned ones
(:class:`vra_filters.stream.Stream`), a stateless caller (Fink) passes ``history="packet"`` and
lets the alert's own history stand in for the store, an ANTARES filter keeps the state bytes in
a locus property.

Within a batch, features, scorers and ORACLE run vectorised over all alerts; the policies then
walk each object's alerts in time order, because a visit depends on the ones before it. Any
failure of one alert -- its light curve, the features, the trees, ORACLE -- becomes a
:class:`~vra_filters.readers.Skip` with a reason in plain words and no state change for it;
the rest of the batch goes on.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from . import __version__
from .annotations import provenance
from .batch import Batch, ScoreResult
from .lightcurve import SURVEY_BANDS, LightCurve
from .policies import Policy, load_policy
from .readers import Skip
from .registry import load_vra_family, vra_routes
from .state import Key, ObjectState
from .trees import TreeEnsemble

Item = Union[LightCurve, Skip]
HISTORY_MODES = ("given", "packet")


@dataclass
class VRAModels:
    """The four scorers of one model family: (day1, dayN) x (real, gal)."""

    day1_real: TreeEnsemble
    day1_gal: TreeEnsemble
    dayN_real: TreeEnsemble
    dayN_gal: TreeEnsemble

    @classmethod
    def load(cls, family: str = "duck") -> VRAModels:
        """A family by its registry name, else a ``vra train`` directory
        (:func:`~vra_filters.registry.load_vra_family`)."""
        return cls(*load_vra_family(family))

    def pair(self, stage: str) -> Tuple[TreeEnsemble, TreeEnsemble]:
        return (self.day1_real, self.day1_gal) if stage == "day1" else (self.dayN_real,
                                                                        self.dayN_gal)


def _provenance(models: VRAModels) -> Dict[str, Dict[str, Dict[str, str]]]:
    return {stage: {"real": provenance(r), "gal": provenance(g)}
            for stage in ("day1", "dayN") for r, g in [models.pair(stage)]}


def _vra_models(models: Any) -> Tuple[VRAModels, Dict[str, VRAModels]]:
    """The default VRA models and those of the surveys routed elsewhere
    (:func:`~vra_filters.registry.vra_routes`), each family loaded once."""
    base, routes = vra_routes(models)
    loaded = {f: VRAModels.load(f) for f in {base, *routes.values()}}
    return loaded[base], {s: loaded[f] for s, f in routes.items()}


def _oracle_routing(oracle: Any) -> Dict[str, str]:
    """survey -> ORACLE model name for ``Scorer.load(oracle=...)``."""
    if oracle is None or oracle == "none":
        return {}
    if isinstance(oracle, Mapping):
        return {str(s): str(m) for s, m in oracle.items() if m not in (None, "none")}
    if oracle == "auto":
        from .registry import oracle_model_for
        routes = {s: oracle_model_for(s) for s in sorted(SURVEY_BANDS)}
        return {s: m for s, m in routes.items() if m}
    return {s: str(oracle) for s in sorted(SURVEY_BANDS)}


def _oracle_fallbacks(oracle: Any, fallback: Any, routing: Mapping[str, str],
                      convention: Optional[str]) -> Dict[str, str]:
    """survey -> the ORACLE model for the survey's alerts whose packet lacks the host galaxy
    magnitudes (``Scorer.load(oracle_without_metadata=...)``): ``"auto"`` = the registry's
    (:func:`~vra_filters.registry.oracle_without_metadata`) when ``oracle`` is ``"auto"`` too,
    else none -- an explicit model is exactly that model; never under an ``upstream*``
    convention, which reproduces upstream (the full model, fed -9). Only surveys ORACLE
    runs on, and only models other than the survey's own."""
    if fallback is None or fallback == "none":
        return {}
    from .oracle.inputs import convention as conv

    upstream = conv(convention).name.startswith("upstream")
    if fallback == "auto":
        if oracle != "auto" or upstream:
            return {}
        from .registry import oracle_without_metadata
        wanted = oracle_without_metadata()
    elif isinstance(fallback, Mapping):
        wanted = {str(s): str(m) for s, m in fallback.items() if m not in (None, "none")}
        if wanted and upstream:
            raise ValueError(f"ORACLE convention {convention!r} reproduces upstream, which runs "
                             "the full model on every packet: no oracle_without_metadata")
    else:
        raise ValueError("oracle_without_metadata must be 'auto', 'none' or "
                         f"{{survey: model}}, not {fallback!r}")
    return {s: m for s, m in wanted.items() if s in routing and routing[s] != m}


class Scorer:
    """Every model loaded once; :meth:`score` turns light curves into annotations.

    Build it with :meth:`load`. ``settings`` spells out every model file (sha256) and option
    that shapes the numbers; ``fingerprint`` is its short hash, carried by each annotation.
    """

    def __init__(self, models: VRAModels, policy: Policy, oracles: Mapping[str, Any],
                 ebv: Optional[float] = None, ebv_map: Any = None,
                 with_features: bool = False,
                 survey_models: Optional[Mapping[str, VRAModels]] = None,
                 oracle_fallbacks: Optional[Mapping[str, Any]] = None) -> None:
        if ebv is None and ebv_map is None:
            raise ValueError("Scorer needs an E(B-V) map or a fixed ebv")
        self.models = models
        #: survey -> the VRA models its alerts use, where not ``models`` (registry routing).
        self.survey_models = dict(survey_models or {})
        self.policy = policy
        self.oracles = dict(oracles)
        #: survey -> the ORACLE for the survey's alerts whose packet lacks the host-galaxy
        #: description ``oracles``' model needs (:meth:`vra_filters.oracle.Oracle.host_missing`).
        self.oracle_fallbacks = {s: o for s, o in dict(oracle_fallbacks or {}).items()
                                 if s in self.oracles}
        self.ebv = None if ebv is None else float(ebv)
        self.ebv_map = ebv_map
        self.with_features = bool(with_features)
        self._provenance = _provenance(models)
        self._survey_provenance = {s: _provenance(m) for s, m in self.survey_models.items()}
        routed = {f"{survey}/{stage}/{kind}": prov
                  for survey, by_stage in sorted(self._survey_provenance.items())
                  for stage, pair in by_stage.items() for kind, prov in pair.items()}
        self.settings: Dict[str, Any] = {
            "vra_filters": __version__,
            "models": {**{f"{stage}/{kind}": prov for stage, pair in self._provenance.items()
                          for kind, prov in pair.items()}, **routed},
            "policy": asdict(policy),
            "oracle": {s: dict(o.info(), threshold=o.threshold)
                       for s, o in sorted(self.oracles.items())},
            **({"oracle_without_metadata": {s: dict(o.info(), threshold=o.threshold)
                                            for s, o in sorted(self.oracle_fallbacks.items())}}
               if self.oracle_fallbacks else {}),
            "ebv": self.ebv,
            "ebv_map": (None if ebv_map is None or self.ebv is not None
                        else {"name": ebv_map.name, "sha256": ebv_map.sha256}),
            "with_features": self.with_features,
        }
        canonical = json.dumps(self.settings, sort_keys=True, default=str)
        self.fingerprint = hashlib.sha256(canonical.encode()).hexdigest()[:16]
        #: Seconds spent per stage since construction (read by ``vra bench``).
        self.timings: Counter = Counter()

    @classmethod
    def load(cls, policy: Union[str, Policy, None] = "default", oracle: Any = "auto",
             oracle_variant: Optional[str] = None, ebv: Optional[float] = None, *,
             models: Any = "auto", oracle_convention: Optional[str] = None,
             oracle_threads: int = 1, with_features: bool = False,
             ebv_map: Any = None, oracle_without_metadata: Any = "auto") -> Scorer:
        """Load every model once, from the registry.

        ``policy``: a preset name, a TOML file or a :class:`Policy`. ``oracle``: ``"auto"``
        (the registry's survey -> model routing), ``"none"``, a model name for every survey,
        or ``{survey: model}``. ``oracle_variant``: None = the deployed default (LiteRT int8,
        or the same int8 weights in numpy without LiteRT). ``ebv``: E(B-V) for alerts that
        carry none (else the dust map: ``ebv_map``, default ``$VRA_EBV_MAP`` or the shipped
        SFD map). ``models``: ``"auto"`` (the registry's survey -> VRA family routing), a family
        name or a directory of models for every survey (``vra train``), or ``{survey: family}``.
        ``oracle_without_metadata``: the model for a survey's alerts whose packet lacks the
        host-galaxy magnitudes its ORACLE model needs -- ``"auto"``: the registry's (LSST ->
        elasticc-lite) when ``oracle`` is ``"auto"`` and the convention is not ``upstream*``,
        else none; ``"none"``; or ``{survey: model}``. Those alerts' ``oracle`` block then
        names that model and says why in ``routed``.
        """
        pol = policy if isinstance(policy, Policy) else load_policy(policy)
        base, survey_models = _vra_models(models)
        routing = _oracle_routing(oracle)
        fallbacks = _oracle_fallbacks(oracle, oracle_without_metadata, routing,
                                      oracle_convention)
        oracles: Dict[str, Any] = {}
        backups: Dict[str, Any] = {}
        if routing:
            from .oracle import Oracle
            loaded: Dict[str, Any] = {}
            for to, table in ((oracles, routing), (backups, fallbacks)):
                for survey, model in table.items():
                    if model not in loaded:  # each model once
                        loaded[model] = Oracle.load(model=model, variant=oracle_variant,
                                                    convention=oracle_convention,
                                                    threads=oracle_threads)
                    to[survey] = loaded[model]
        if ebv is None and ebv_map is None:
            from .dust import default_map
            ebv_map = default_map()
        return cls(base, pol, oracles, ebv=ebv, ebv_map=ebv_map,
                   with_features=with_features, survey_models=survey_models,
                   oracle_fallbacks=backups)

    def models_for(self, survey: str) -> VRAModels:
        """The VRA models that score ``survey``'s alerts."""
        return self.survey_models.get(survey, self.models)

    # ------------------------------------------------------------------ scoring

    def score(self, lightcurves: Iterable[Item],
              prior: Optional[Mapping[Key, ObjectState]] = None,
              history: str = "given") -> ScoreResult:
        """Annotations for a batch of alerts (see the module docstring).

        ``prior``: each known object's :class:`ObjectState` by ``(survey, object_id)``; None
        or a missing key = an object seen for the first time. ``history``: ``"given"`` (the
        prior is all that is known of the past) or ``"packet"`` (each alert's own earlier
        detections are first replayed as earlier alerts through the same policies, those not
        newer than the prior's last visit excepted; only the alert itself is annotated).
        Alerts of one object are scored in time order whatever their input order.
        """
        if history not in HISTORY_MODES:
            raise ValueError(f"history must be one of {HISTORY_MODES}, got {history!r}")
        return Batch(self, list(lightcurves), dict(prior or {}), history).run()

    def _families(self) -> List[VRAModels]:
        """Every distinct set of VRA models in use (the default one first)."""
        out = [self.models]
        for m in self.survey_models.values():
            if all(m is not o for o in out):
                out.append(m)
        return out

    def _tick(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.timings[stage] += now - since
        return now
