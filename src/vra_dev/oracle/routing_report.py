"""ORACLE routing on LSST packets: the full model against what ``oracle="auto"`` runs (maintainers).

    python -m vra_dev.oracle.routing_report [--no-write]

The shipped LSST labelled sets (tests/data/oracle_labelled) are made LSST-like -- the packet's
static values removed as Rubin/Fink send them, only E(B-V) kept as Lasair sends most alerts,
or E(B-V) with the host redshifts and separation as Lasair sends an alert with a Sherlock
host -- and scored with the survey's model alone and with the registry's fallback where
:meth:`~vra_filters.oracle.Oracle.host_missing` says so (``oracle_run.predict(fallback=)``,
the engine of ``vra evaluate oracle``). The table goes between the
``<!-- oracle-evaluation:routing -->`` markers of models/oracle/README.md.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np

from .evaluation_report import MODELS_DIR, replace_marked

LEVELS = ("level1", "level2", "leaf")
#: (label, static names kept): how each broker's LSST packets arrive.
CASES = (
    ("as shipped (host values)", None),
    ("no static value (Rubin/Fink)", ()),
    ("E(B−V) only (Lasair)", ("MWEBV", "MWEBV_ERR")),
    ("E(B−V), host z, photo-z, separation (Lasair with a Sherlock host)",
     ("MWEBV", "MWEBV_ERR", "REDSHIFT_HELIO", "REDSHIFT_HELIO_ERR", "HOSTGAL_PHOTOZ",
      "HOSTGAL_PHOTOZ_ERR", "HOSTGAL_SPECZ", "HOSTGAL_SPECZ_ERR", "HOSTGAL_SNSEP")),
)
NAMES = {"elasticc_earlysnia": "ELAsTiCC SNe Ia", "s82_rrlyrae": "Stripe-82 RR Lyrae"}


def keep_only(targets, names) -> list:
    """Copies of ``targets`` whose alerts keep only the static values ``names``."""
    if names is None:
        return list(targets)
    return [replace(t, alerts=[replace(lc, context=replace(lc.context, extra={
        k: v for k, v in (lc.context.extra or {}).items() if k in names})) for lc in t.alerts])
        for t in targets]


def _levels(score: dict, phase: str) -> str:
    ph = next(p for p in score["phases"] if p["phase"] == phase)
    return " / ".join(f"{ph['levels'][lvl]['recall_macro']:.3f}" for lvl in LEVELS)


def _mean(score: dict) -> float:
    return float(np.mean([p["levels"][lvl]["recall_macro"] for p in score["phases"]
                          for lvl in LEVELS]))


def rows(variants) -> list:
    """One table row per labelled LSST set and case (12 phases, float and ``variants[1:]``)."""
    from vra_filters.evaluation import oracle as EV
    from vra_filters.evaluation import oracle_run as R
    from vra_filters.evaluation.oracle_labels import read_labels
    from vra_filters.oracle import Oracle
    from vra_filters.registry import oracle_model_for, oracle_without_metadata

    out = []
    for packets, labels in EV.SHIPPED:
        items, _ = EV._read([str(EV.SHIPPED_DIR / packets)], "auto")
        targets, _ = R.collect(items, read_labels(EV.SHIPPED_DIR / labels))
        R.fill_ebv(targets)
        if not targets or targets[0].survey != "lsst":
            continue
        name = packets.split(".")[0]
        bare = not any(lc.context.extra for t in targets for lc in t.alerts)
        for label, names in CASES:
            if bare and names is not None:
                continue  # nothing to remove: the shipped row says it all
            if bare:
                label = "as shipped (no static value)"
            group = keep_only(targets, names)
            cells = {}
            for variant in variants:
                full = Oracle.load(oracle_model_for("lsst"), variant)
                lite = Oracle.load(oracle_without_metadata()["lsst"], variant)
                pf = R.predict(full, group)
                pr = R.predict(full, group, fallback=lite)
                cells[variant] = (R.score_run(full.taxonomy, pf),
                                  R.score_run(full.taxonomy, pr), pr["routed"]["all"])
            sf, sr, n = cells[variants[0]]
            same = _levels(sf, "all") == _levels(sr, "all")
            means = " \\| ".join(f"{_mean(a):.3f} → {_mean(b):.3f}"
                                 for a, b, _ in cells.values())
            out.append(f"| {NAMES.get(name, name)} ({sf['n_objects']}) | {label} | {n} | "
                       f"{_levels(sf, '+2 d')} | "
                       f"{'same' if same else _levels(sr, '+2 d')} | {_levels(sf, 'all')} | "
                       f"{'same' if same else _levels(sr, 'all')} | {means} |")
    return out


def main(argv=None) -> int:
    from vra_filters.oracle import default_variant

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)
    head = ("| set (objects) | packet | routed to lite | full +2 d | routed +2 d | "
            "full whole curve | routed whole curve | mean, 12 phases × 3 levels: "
            "full → routed |\n|---|---|---|---|---|---|---|---|")
    table = "\n".join([head] + rows(["numpy-float32", default_variant()]))
    print(table)
    if not args.no_write:
        replace_marked(MODELS_DIR / "README.md", "routing", table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
