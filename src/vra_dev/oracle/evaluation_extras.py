"""Extra ORACLE checks on the shared data folder for :mod:`.evaluation_report` (maintainers):
each measures one convention change of issue #8 before and after, or an out-of-domain case."""

from __future__ import annotations

import csv
import glob
from pathlib import Path

import numpy as np

LEVELS = ("level1", "level2", "leaf")


def _recalls(oracle, targets, phases=("+2 d", "all")) -> dict:
    from vra_filters.evaluation import oracle_run as R

    s = R.score_run(oracle.taxonomy, R.predict(oracle, targets, (2.0, 8.0)))
    return {p["phase"]: {lvl: p["levels"][lvl]["recall_macro"] for lvl in LEVELS}
            | {"warnings": p["warnings"]} for p in s["phases"] if p["phase"] in phases}


def plasticc(shared: Path) -> dict:
    """200 idealised PLAsTiCC SNANA SNe Ia: what ORACLE makes of them, with the flags."""
    from collections import Counter

    from vra_filters.evaluation import oracle_run as R
    from vra_filters.evaluation.oracle_snana import read_snana
    from vra_filters.lightcurve import LightCurve
    from vra_filters.oracle import Oracle

    head = next(iter(glob.glob(str(shared / "plasticc_alerts_snana_snia_sample" / "*HEAD*"))))
    lcs = [x for x in read_snana(head) if isinstance(x, LightCurve)]
    targets, _ = R.collect(lcs, {lc.object_id: "SNIa" for lc in lcs})
    out = {"n": len(targets)}
    for model in ("elasticc", "elasticc-lite"):
        o = Oracle.load(model, "numpy-float32")
        run = R.predict(o, targets, (2.0,))
        out[model] = {"recall": _recalls(o, targets),
                      "level2_predicted_whole_curve": dict(Counter(run["pred"]["all"]["level2"]))}
    return out


def bts_negative_differences(shared: Path) -> dict:
    """ZTF alerts with negative-difference detections: fed as -magpsf (the package before) or
    as magpsf (now, as BTS training saw ZTF magnitudes)."""
    import fastavro
    import pyarrow.parquet as pq

    from vra_filters.lightcurve import LightCurve
    from vra_filters.oracle import Oracle
    from vra_filters.oracle import inputs as inp
    from vra_filters.oracle import taxonomy as tx
    from vra_filters.readers import read

    root = Path(__file__).resolve().parents[3] / "tests" / "data"
    fink = shared / "fink"
    files = (sorted((root / "ztf").glob("*.avro")) + sorted((root / "ztf").glob("*.parquet"))
             + [root / "oracle_labelled" / "alerce_sne.jsonl.gz",
                fink / "fink-filters/fink_filters/data/few_SLSN_alerts.parquet",
                fink / "fink-client/datatest/ztf/part-3-305711.avro",
                next(iter((fink / "fink-filters/datatest/regular").glob("*.parquet")))]
             + sorted((fink / "fink-science/fink_science/data/alerts/datatest").glob("*.parquet")))
    best: dict = {}
    for f in files:
        for lc in read(f).lightcurves:
            if lc.object_id not in best or len(lc) > len(best[lc.object_id]):
                best[lc.object_id] = lc
    labels = {r["object_id"]: r["label"]
              for r in csv.DictReader(open(root / "oracle_labelled" / "alerce_sne_labels.csv"))}
    t = pq.read_table(fink / "fink-filters/fink_filters/data/few_SLSN_alerts.parquet",
                      columns=["objectId", "tnsclass"])
    labels.update({a: b for a, b in zip(t.column("objectId").to_pylist(),
                                        t.column("tnsclass").to_pylist()) if b})
    with open(fink / "fink-client/datatest/ztf/part-3-305711.avro", "rb") as fh:
        labels.update({r["objectId"]: r["tnsclass"] for r in fastavro.reader(fh)
                       if r.get("tnsclass") not in (None, "Unknown")})
    o = Oracle.load("bts", "numpy-float32")

    def top(lc: LightCurve, signed: bool):
        rows = inp.bts_rows_from_lightcurve(lc)
        if signed:
            use = lc.is_det & np.isfinite(lc.mag) & np.isfinite(lc.magerr)
            rows.feats[:, 0] = lc.mag[use]
        x = inp.input_from_rows(rows)
        p = o.taxonomy.probabilities(o.logits_from_inputs([x.ts], x.static[None])[0])[1]
        return p, o.taxonomy.top(p)

    neg = [lc for lc in best.values() if np.any(lc.is_det & (lc.mag < 0))]
    dp, changed = [], 0
    for lc in neg:
        (pa, ta), (pb, tb) = top(lc, True), top(lc, False)
        dp.append(float(np.abs(pa - pb).max()))
        changed += ta["leaf"][0] != tb["leaf"][0]
    acc = {True: [], False: []}
    n_lab_neg = 0
    for lc in best.values():
        try:
            node = tx.label_node(labels.get(lc.object_id, "?"), tx.BTS)
        except KeyError:
            continue
        if node is None:
            continue
        n_lab_neg += bool(np.any(lc.is_det & (lc.mag < 0)))
        for signed in (True, False):
            t_ = top(lc, signed)[1]
            acc[signed].append([t_[lvl][0] == tx.BTS.names[tx.ancestor_at(tx.BTS, node, lvl)]
                                for lvl in LEVELS])
    return {"n_objects": len(best), "n_with_negative": len(neg), "max_abs_dp": max(dp),
            "median_abs_dp": float(np.median(dp)), "leaf_changed": changed,
            "labelled": len(acc[True]), "labelled_with_negative": n_lab_neg,
            "accuracy_before": dict(zip(LEVELS, np.mean(acc[True], axis=0).tolist())),
            "accuracy_after": dict(zip(LEVELS, np.mean(acc[False], axis=0).tolist()))}


def alerce_without_metadata() -> dict:
    """The 30 ALeRCE SNe with and without their 22 candidate fields (position kept)."""
    from vra_filters.evaluation import oracle as EV
    from vra_filters.evaluation import oracle_run as R
    from vra_filters.evaluation.oracle_labels import read_labels
    from vra_filters.oracle import Oracle

    from .evaluation_report import strip_metadata

    items, _ = EV._read([str(EV.SHIPPED_DIR / "alerce_sne.jsonl.gz")], "auto")
    targets, _ = R.collect(items, read_labels(EV.SHIPPED_DIR / "alerce_sne_labels.csv"))
    o = Oracle.load("bts", "numpy-float32")
    return {"with": _recalls(o, targets), "without": _recalls(o, strip_metadata(targets))}


def lsst_dust_map_static() -> dict:
    """Shipped LSST alerts, E(B-V) filled from the dust map as the Scorer does: the full model's
    probabilities when that value reaches the input (``derived``, the package's old behaviour
    for packets without host values) against upstream's -9 (``packet``)."""
    from vra_filters.evaluation import oracle_run as R
    from vra_filters.oracle import Oracle

    from .reference import sample_alert_lightcurves

    lcs = sample_alert_lightcurves()
    bare = [lc for lc in lcs if not any(k in lc.context.extra for k in ("MWEBV", "HOSTGAL_SNSEP"))]
    targets = [R.Target(lc.object_id, lc.survey, "10", [lc]) for lc in bare]
    R.fill_ebv(targets)
    filled = [t.alerts[0] for t in targets]
    a = Oracle.load("elasticc", "numpy-float32", "first-detection/derived").classify(filled)
    b = Oracle.load("elasticc", "numpy-float32", "upstream").classify(filled)
    names = list(a[0]["probabilities"])
    dp = [max(abs(x["probabilities"][n] - y["probabilities"][n]) for n in names)
          for x, y in zip(a, b)]
    return {"n_alerts": len(filled), "max_abs_dp": float(max(dp)),
            "median_abs_dp": float(np.median(dp)),
            "leaf_changed": int(sum(x["top"]["leaf"]["class"] != y["top"]["leaf"]["class"]
                                    for x, y in zip(a, b)))}


def extras(shared: Path) -> dict:
    out = {}
    for name, fn in (("plasticc_snia", lambda: plasticc(shared)),
                     ("bts_negative_differences", lambda: bts_negative_differences(shared)),
                     ("alerce_without_candidate_fields", alerce_without_metadata),
                     ("lsst_dust_map_static", lsst_dust_map_static)):
        print(f"  extra: {name}", flush=True)
        out[name] = fn()
    return out
