"""Which VRA scorers an evaluation compares, and their scores on labelled rows.

A model spec is a registry family (``duck``), a directory with ``day1/`` and ``dayN/`` (what
``vra train`` writes for alerts), or one stage's directory with ``real/`` and ``gal/`` (what
``vra train FEATURES LABELS OUTDIR --stage S`` writes).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

import numpy as np

from ..policies import Policy
from ..score import vra_score
from ..train_data import LabelledSet


def load_pair(spec: str, stage: str):
    """The (real, gal) scorers of ``spec`` for ``stage`` (see the module docstring)."""
    from ..scorer import VRAModels
    from ..trees import TreeEnsemble

    if os.path.isdir(os.path.join(spec, "real")) and os.path.isdir(os.path.join(spec, "gal")):
        pair = tuple(TreeEnsemble.load(os.path.join(spec, k)) for k in ("real", "gal"))
        names = [list(m.feature_names) for m in pair]
        from ..train_data import feature_names
        want = list(feature_names(stage))
        if any(n != want for n in names):
            raise ValueError(f"{spec}: these scorers take {names[0][:3]}..., not the {stage} "
                             "features (wrong --stage?)")
        return pair
    return VRAModels.load(spec).pair(stage)


def label_of(spec: str) -> str:
    """A short name for a model spec in tables and legends."""
    path = Path(spec)
    if path.is_dir():
        return path.resolve().name if path.name not in ("day1", "dayN") else \
            f"{path.resolve().parent.name}/{path.name}"
    return spec


def held_out_ids(spec: str, stage: str) -> Optional[Set[str]]:
    """The objects ``vra train`` held out when it trained ``spec``'s ``stage`` scorers, from
    their ``model.json`` (None if not recorded, e.g. the duck models)."""
    candidates = [Path(spec) / stage / "real", Path(spec) / "real"]
    if not Path(spec).is_dir():
        from .. import registry

        try:
            candidates.append(registry.get(f"vra/{spec}/{stage}/real").path)
        except (KeyError, ValueError):
            pass
    for folder in candidates:
        meta = folder / "model.json"
        if meta.is_file():
            data = json.loads(meta.read_text(encoding="utf-8"))
            ids = (data.get("provenance") or {}).get("held_out_ids")
            if ids is not None and data.get("feature_names", [""])[0] == (
                    "dayN" if stage == "dayN" else "Nnondet_std"):
                return set(map(str, ids))
    return None


@dataclass
class Scored:
    """One model's probabilities, VRA scores and ranks (the score after the context rules:
    a known solar-system object gets the policy's ``sso_rank``, a TNS match ``tns_rank``)."""

    spec: str
    label: str
    stage: str
    p_real: np.ndarray
    p_gal: np.ndarray
    score: np.ndarray
    rank: np.ndarray
    models: Dict[str, Dict[str, str]]


def score_set(spec: str, data: LabelledSet, policy: Optional[Policy] = None) -> Scored:
    pol = policy or Policy()
    real, gal = load_pair(spec, data.stage)
    pr = real.predict_proba(data.X)[:, 1]
    pg = gal.predict_proba(data.X)[:, 1]
    info = {k: {"name": m.name, "version": m.version, "sha256": m.sha256 or ""}
            for k, m in (("real", real), ("gal", gal))}
    score = vra_score(pr, pg, pol.vra_f)
    rank = np.where(data.sso, pol.sso_rank, np.where(data.tns, pol.tns_rank, score))
    return Scored(spec, label_of(spec), data.stage, pr, pg, score, rank, info)


def predictor(spec: str, stage: str, vra_f: float = 0.5):
    """X -> VRA score (for permutation importance)."""
    real, gal = load_pair(spec, stage)

    def predict(X: np.ndarray) -> np.ndarray:
        return vra_score(real.predict_proba(X)[:, 1], gal.predict_proba(X)[:, 1], vra_f)

    return predict


def visit_sequences(sets: Dict[str, LabelledSet], scored: Dict[str, Scored]
                    ) -> Tuple[Dict[str, List[Tuple[float, float, float, bool]]], Dict[str, str]]:
    """Each object's visits in order -- its day-1 row, then its day-N rows by day -- as
    ``(rank, p_real, p_gal, solar_system)``, and each object's label."""
    seqs: Dict[str, List[Tuple[float, float, float, float, bool]]] = {}
    labels: Dict[str, str] = {}
    for rank_stage, stage in ((0, "day1"), (1, "dayN")):
        data, s = sets.get(stage), scored.get(stage)
        if data is None or s is None:
            continue
        for i in range(len(data)):
            oid = str(data.ids[i])
            labels.setdefault(oid, str(data.labels[i]))
            key = rank_stage * 1e12 + float(data.order[i])
            seqs.setdefault(oid, []).append((key, float(s.rank[i]), float(s.p_real[i]),
                                             float(s.p_gal[i]), bool(data.sso[i])))
    out = {oid: [(r, a, b, c) for _, r, a, b, c in sorted(v)] for oid, v in seqs.items()}
    return out, labels
