#!/usr/bin/env python3
"""Maintainer script: convert the ATLAS VRA "duck" scorers from JSON node dumps to the
vra_filters portable tree format (``models/vra/duck/{day1,dayN}/{real,gal}/``).

The JSON dumps hold the same trees as the atlasvras pickles (extracted under scikit-learn 1.4.2,
the only versions able to unpickle them), so the project never needs those pickles or
scikit-learn at run time. Run once when the models change::

    python tools/convert_atlas_json_models.py /path/to/models_json [--out models/vra/duck]
        [--labelled /path/to/atlas_labelled_features]

With ``--labelled`` it also prints the model-card metrics measured on the labelled rows.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
from pathlib import Path

import numpy as np

from vra_filters.registry import models_dir
from vra_filters.trees import TreeEnsemble

VERSION = "duck-1.1"
SOURCE_REPO = "https://github.com/HeloiseS/atlasvras"
SOURCE_COMMIT = "e07e274a028cb770660ee62006d5302d9896d38c"
LICENCE = (
    "BSD-3-Clause, Copyright (c) 2024, Heloise F Stevance (atlasvras); "
    "full text in models/vra/duck/LICENSE"
)
# sha256 of the original joblib files in atlasvras (atlasvras/st3ph3n/models/duck/...).
JOBLIB_SHA256 = {
    "day1/gal_scorer_LR0.2_L210_pruned.joblib": (
        "a981ce5af31efd678a5fcae6f58c9277cefdda97a854574d1a2b5f95a6c9714c"
    ),
    "day1/real_scorer_LR0.1_L210_pruned.joblib": (
        "7250abc1dddd7cfeb555c3e9c5f038db836670b36b50a745de08ee685b023a4d"
    ),
    "dayN/gal_scorer_LR0.2_L210_pruned.joblib": (
        "09e82c509d9c5d2a95fee66f9860d6cc9512c71e62433221ae258d322014d7e4"
    ),
    "dayN/real_scorer_LR0.1_L210_pruned.joblib": (
        "2399a396618e9be1fbcddf1946f45d3d7af54358ec18bab2e9e3eb44d2fb52e1"
    ),
}
TARGETS = {
    "real": "1 = real astrophysical transient (eyeball label good or galactic), "
    "0 = proper-motion star or garbage",
    "gal": "1 = galactic (eyeball label galactic or pm), 0 = good (extragalactic); "
    "garbage not used in training",
}


def convert(json_path: Path, stage: str, kind: str) -> TreeEnsemble:
    """Build one TreeEnsemble from an atlasvras JSON dump, with provenance metadata."""
    raw = json_path.read_bytes()
    d = json.loads(raw)
    joblib_rel = f"{stage}/{Path(d['source_joblib']).name}"
    params = dict(d["params"])
    params["n_iter_"] = d["n_iter"]
    provenance = {
        "model_family": "Duck (ATLAS VRA 1.0/1.1, Feb/Mar 2025; production default)",
        "source_repository": SOURCE_REPO,
        "source_commit": SOURCE_COMMIT,
        "source_path": f"atlasvras/st3ph3n/models/duck/{joblib_rel}",
        "source_sha256": JOBLIB_SHA256[joblib_rel],
        "sklearn_version_pickled": d["sklearn_version_pickled"],
        "extraction": "node arrays dumped to JSON from the unpickled estimator under "
        "scikit-learn 1.4.2 (predict_proba reproduced to 1e-16), then converted by "
        "tools/convert_atlas_json_models.py",
        "json_dump_file": json_path.name,
        "json_dump_sha256": hashlib.sha256(raw).hexdigest(),
        "target": TARGETS[kind],
        "training_data": "eyeballed ATLAS alerts (Stevance et al., The ATLAS Virtual Research "
        "Assistant); day-1 rows per alert, day-N rows per visit between day 2 and 15",
        "citation": "Stevance et al., 'The ATLAS Virtual Research Assistant'",
    }
    return TreeEnsemble.from_trees(
        d["trees"],
        d["baseline_prediction"],
        feature_names=d["feature_names"],
        classes=d["classes"],
        n_trees_per_iteration=1,
        name=f"vra/duck/{stage}/{kind}",
        version=VERSION,
        hyper_parameters=params,
        provenance=provenance,
        licence=LICENCE,
    )


# ---------------------------------------------------------------- model-card metrics


def _auc(score: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC via the Mann-Whitney U statistic (ties count one half)."""
    order = np.argsort(score, kind="mergesort")
    s = score[order]
    ranks = np.empty(len(s))
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i : j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _read_features(path: Path):
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    return rows


def _value(text: str) -> float:
    if text == "":
        return float("nan")
    if text in ("True", "False"):
        return 1.0 if text == "True" else 0.0
    return float(text)


def metrics(out: Path, labelled: Path) -> None:
    """Print AUCs and recall-at-top-K of the converted models on the labelled rows."""
    for stage in ("day1", "dayN"):
        xrows = _read_features(labelled / f"X_train_{stage}_duck1000rows.csv")
        yrows = _read_features(labelled / f"y_train_{stage}_duck1000rows.csv")
        assert [r["ATLAS_ID"] for r in xrows] == [r["ATLAS_ID"] for r in yrows]
        label = np.array([r["type"] for r in yrows])
        known = np.isin(label, ["good", "galactic", "pm", "garbage"])
        p = {}
        for kind in ("real", "gal"):
            model = TreeEnsemble.load(out / stage / kind)
            cols = {f: np.array([_value(r[f]) for r in xrows]) for f in model.feature_names}
            p[kind] = model.predict_proba(cols)[:, 1]
        real = np.isin(label, ["good", "galactic"])
        auc_real = _auc(p["real"][known], real[known])
        gal_set = np.isin(label, ["good", "galactic", "pm"])
        auc_gal = _auc(p["gal"][gal_set], np.isin(label, ["galactic", "pm"])[gal_set])
        vra = 10 * (np.sqrt(1.25) - np.hypot(1 - p["real"], 0.5 * p["gal"])) / np.sqrt(1.25)
        order = np.argsort(-vra[known], kind="mergesort")
        good = (label[known] == "good")[order]
        n = known.sum()
        rec = {q: good[: int(round(q * n))].sum() / good.sum() for q in (0.15, 0.25)}
        r_prec = good[: int(good.sum())].sum() / good.sum()
        excluded = sorted({str(v) for v in label[~known]})
        print(
            f"{stage}: n={n} (excluded {len(label) - n} rows labelled {excluded}); "
            f"{int(good.sum())} good; AUC p_real (good+galactic vs pm+garbage) = "
            f"{auc_real:.4f}; AUC p_gal (galactic+pm vs good) = {auc_gal:.4f}; "
            f"recall of good in top 15% / 25% by VRA score = {rec[0.15]:.3f} / {rec[0.25]:.3f}; "
            f"R-precision of good by VRA score = {r_prec:.3f}"
        )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models_json", type=Path, help="directory holding duck/{day1,dayN}/*.json")
    ap.add_argument("--out", type=Path, default=models_dir() / "vra" / "duck")
    ap.add_argument("--labelled", type=Path, help="atlas_labelled_features dir (metrics)")
    args = ap.parse_args(argv)
    for stage in ("day1", "dayN"):
        for kind in ("real", "gal"):
            (src,) = sorted((args.models_json / "duck" / stage).glob(f"{kind}_scorer_*.json"))
            model = convert(src, stage, kind)
            model.save(args.out / stage / kind)
            print(f"{model.name}: {len(model.feature_names)} features, sha256 {model.sha256}")
    if args.labelled:
        metrics(args.out, args.labelled)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
