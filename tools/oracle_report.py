#!/usr/bin/env python3
"""Maintainer step: measure every ORACLE variant and (re)write models/oracle/REPORT.json and the
model cards models/oracle/<model>/MODEL_CARD.md.

Measured, on the 44 reference light curves (tests/data/oracle) plus every LSST alert in the
project's samples (tests/data/lasair, tests/data/rubin, via the package readers):

* float parity: max |logit - upstream logit| for numpy-float32, TFLite float32 and Keras, both
  conventions, on the 44 curves and (inference convention, the only one upstream gave prefixes
  for) every valid prefix of the three growing curves; BTS demo curve for the BTS model;
* quantized agreement with numpy-float32: fraction of light curves with the same top class at
  level 1, level 2 and leaf, and the max |probability difference| over all 26 nodes;
* incremental vs full recomputation: max |delta| of logits and probabilities over every prefix
  of the growing curves, fed one alert at a time (state through bytes each time);
* inference vs training convention: how often the top class differs per level (float);
* file sizes; optionally (--bench) the throughput table of ``vra_dev.oracle.bench``.

Needs TensorFlow (Keras rows) and ai-edge-litert (TFLite rows); rows whose runtime is missing are
reported as errors. Usage: python tools/oracle_report.py [--bench] [--models elasticc ...]
"""

from __future__ import annotations

import argparse
import json
import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# one core for the throughput rows (--bench): BLAS, TensorFlow and LiteRT all single-threaded
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
             "TF_NUM_INTEROP_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from vra_dev.manifest import files_below  # noqa: E402
from vra_dev.oracle import load_oracle  # noqa: E402
from vra_dev.oracle import reference as R  # noqa: E402
from vra_filters.oracle import state_from_bytes, state_to_bytes  # noqa: E402
from vra_filters.oracle import weights as wt  # noqa: E402
from vra_filters.oracle.core import DEFAULT_VARIANT  # noqa: E402
from vra_filters.registry import models_dir  # noqa: E402

KEYS = {"elasticc": "elasticc_f1", "elasticc-lite": "lite_f1"}
FLOAT = ("numpy-float32", "float32", "keras")
QUANT = ("numpy-int8", "dynamic-int8", "int8")
LEVELS = ("level1", "level2", "leaf")


def _logits(results):
    return np.array([r["logits"] for r in results], np.float64)


def _probs(results, names):
    return np.array([[r["probabilities"][n] for n in names] for r in results], np.float64)


def growing(d):
    """[(row index into trunc_*, LightCurve prefix)] for the three growing curves."""
    out = []
    for j in range(len(d["trunc_names"])):
        lo, hi = d["trunc_offsets"][j], d["trunc_offsets"][j + 1]
        s = int(d["trunc_sample_index"][lo])
        out.append([(r, R.lightcurve_from_raw(d, s, int(d["trunc_prefix_len"][r])))
                    for r in range(lo, hi)])
    return out


def parity(model, d, lcs, series):
    out = {}
    for variant in FLOAT:
        for conv in ("upstream", "upstream-training"):
            key = KEYS[model] + ("_trainconv" if conv == "upstream-training" else "")
            try:
                o = load_oracle(model, variant, conv)
            except ImportError as exc:
                out[f"{variant}/{conv}"] = {"error": str(exc)}
                continue
            rec = {"max_abs_dlogit_44": float(np.abs(_logits(o.classify(lcs))
                                                      - d[f"{key}_logits"]).max())}
            if conv == "upstream":
                worst = 0.0
                n = 0
                for curve in series:
                    res = o.classify([lc for _, lc in curve])
                    for (r, _), x in zip(curve, res):
                        if x["status"] == "ok":
                            worst = max(worst, float(np.abs(np.array(x["logits"])
                                                            - d[f"trunc_{key}_logits"][r]).max()))
                            n += 1
                rec["max_abs_dlogit_prefixes"] = worst
                rec["n_prefixes"] = n
            out[f"{variant}/{conv}"] = rec
    return out


def agreement(model, lcs, names):
    out = {}
    for conv in ("upstream", "upstream-training"):
        base = load_oracle(model, "numpy-float32", conv).classify(lcs)
        ok = [i for i, r in enumerate(base) if r["status"] == "ok"]
        pf = _probs([base[i] for i in ok], names)
        for variant in QUANT:
            try:
                res = load_oracle(model, variant, conv).classify(lcs)
            except ImportError as exc:
                out[f"{variant}/{conv}"] = {"error": str(exc)}
                continue
            pq = _probs([res[i] for i in ok], names)
            rec = {"n": len(ok)}
            for lvl in LEVELS:
                rec[f"agree_{lvl}"] = float(np.mean(
                    [base[i]["top"][lvl]["class"] == res[i]["top"][lvl]["class"] for i in ok]))
            rec["max_abs_dprob"] = float(np.abs(pq - pf).max())
            out[f"{variant}/{conv}"] = rec
    return out


def incremental(model, series, names):
    out = {}
    for variant in FLOAT[:2] + QUANT[:2]:
        try:
            o = load_oracle(model, variant)
        except ImportError as exc:
            out[variant] = {"error": str(exc)}
            continue
        dl = dp = 0.0
        for curve in series:
            full = o.classify([lc for _, lc in curve])
            st = None
            for (_, lc), f in zip(curve, full):
                inc, st = o.update(st, lc)
                st = state_from_bytes(state_to_bytes(st))
                if f["status"] == "ok":
                    dl = max(dl, float(np.abs(np.array(f["logits"])
                                              - np.array(inc["logits"])).max()))
                    dp = max(dp, float(np.abs(_probs([f], names) - _probs([inc], names)).max()))
        out[variant] = {"max_abs_dlogit": dl, "max_abs_dprob": dp}
    return out


def convention_disagreement(model, lcs):
    a = load_oracle(model, "numpy-float32", "upstream").classify(lcs)
    b = load_oracle(model, "numpy-float32", "upstream-training").classify(lcs)
    ok = [i for i in range(len(lcs)) if a[i]["status"] == b[i]["status"] == "ok"]
    return {"n": len(ok), **{f"differ_{lvl}": float(np.mean(
        [a[i]["top"][lvl]["class"] != b[i]["top"][lvl]["class"] for i in ok])) for lvl in LEVELS}}


def bts_parity(d):
    out = {}
    for variant in ("numpy-float32", "float32", "keras") + QUANT:
        try:
            o = load_oracle("bts", variant)
        except ImportError as exc:
            out[variant] = {"error": str(exc)}
            continue
        lg = o.logits_from_inputs([d["bts_fakeSN_ts"]], d["bts_fakeSN_static"][None])[0]
        out[variant] = {"max_abs_dlogit": float(np.abs(lg - d["bts_f1_logits"]).max())}
    return out


def sizes(model):
    files = files_below(f"oracle/{model}")
    return {k: v["bytes"] for k, v in files.items() if k.endswith((".npz", ".tflite"))}


CARD = """# ORACLE-1 {title} — model card

**What it is.** ORACLE-1 {title} (Shah et al.), a 2-layer GRU (hidden 100) + dense head
hierarchical classifier, {desc}. Ported from the upstream PyTorch state dicts by
`tools/oracle_convert.py` (weights copied, code re-written from the clean-room spec); exports by
`tools/oracle_export_tflite.py`; figures below by `tools/oracle_report.py`.

**Source.** {repo} @ `{commit}`, run dir `{run}`. Default checkpoint `best_model_f1.pth`
(upstream's inference default, sha256 `{src_f1}`); `best_model.pth` (sha256 `{src_best}`) ships
as checkpoint `best` (numpy float32/int8 only).

**Licence.** {licence}
Full text: `LICENSE-ORACLE` in this folder. The restriction travels with every file here and
with every derived artifact (quantized weights, TFLite files, outputs).

## Files (sha256 in `models/registry.json`, checked at load time)

| file | variant | bytes | sha256 |
|---|---|---|---|
{files}

## Inputs

{inputs}

## Agreement figures (measured {date})

Float ports vs upstream logits (max |Δ|; 44 reference curves; prefixes = every valid prefix of
the 3 growing curves, inference convention):

{parity}

Quantized vs numpy-float32 (reference curves + every LSST alert in the project samples):

{agree}

Incremental (one alert at a time, state serialised between alerts) vs full recomputation, every
prefix of the growing curves:

{incr}

Inference vs training convention, fraction of light curves whose top class differs (float):
{conv}

Throughput (one core; preprocessing and post-processing included; Keras float = 1.0x):

{bench}

Deployed default variant: **`{default}`** (LiteRT), falling back to `numpy-int8` (the same
int8 weights) where LiteRT is not installed; see models/oracle/README.md.
"""


def _md_table(rows, cols):
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols)
    return head + "\n" + "\n".join("| " + " | ".join(r) + " |" for r in rows)


def _variant_of(filename: str) -> str:
    """'weights_f1.int8.npz' -> 'numpy-int8 (f1)', 'oracle_f1.float32.tflite' -> 'float32 (f1)'."""
    stem, precision, ext = filename.rsplit(".", 2)
    ckpt = stem.split("_", 1)[1]
    return f"{'numpy-' if ext == 'npz' else ''}{precision} ({ckpt})"


def write_card(model, rep, date):
    folder = wt.model_dir(model)
    meta = json.loads((folder / "weights_f1.float32.json").read_text())
    meta_b = json.loads((folder / "weights_best.float32.json").read_text())
    files = files_below(f"oracle/{model}")
    frows = []
    for name, info in sorted(files.items()):
        if name.endswith((".npz", ".tflite")):
            frows.append(f"| `{name}` | {_variant_of(name)} | {info['bytes']} | "
                         f"`{info['sha256']}` |")
    m = rep["models"][model]
    if model == "bts":
        title, desc = "BTS (ZTF)", ("trained on ZTF Bright Transient Survey light curves; 9-node "
                                    "taxonomy (Persistent/Transient -> AGN, CV, SN-Ia, SN-II, "
                                    "SN-Ib/c, SLSN)")
        inputs = ("ZTF detections only: [days since first detection, magpsf, sigmapsf, "
                  "wavelength um, 1]; 30 static values (Galactic l, b; WISE W1-W4 and colours; "
                  "22 candidate fields), NaN/-999 -> -9 (SPEC §7).")
        parity_txt = "\n".join(f"- {k}: {v}" for k, v in m["bts_parity"].items())
        agree_txt = incr_txt = conv_txt = "(not measured: one BTS reference light curve only)"
    else:
        lite = model == "elasticc-lite"
        title = "ELAsTiCC-lite" if lite else "ELAsTiCC"
        desc = ("trained on ELAsTiCC (LSST) simulations; 26-node taxonomy (Transient/Variable -> "
                "SN, Fast, Long, Periodic, AGN -> 19 leaves)" + ("; no host-galaxy input" if lite
                                                                  else "; 18 host/MW inputs"))
        inputs = ("Every LSST row (detections and forced photometry; saturated rows dropped): "
                  "[days since first detection (inference) or first row (training), FLUXCAL, "
                  "FLUXCALERR, wavelength um, detected]" + ("" if lite else
                  "; 18 ELAsTiCC static values (sentinels -> -9 on the inference path)") +
                  ". Built from the core light curve by `vra_filters.oracle.inputs` (SPEC §6, §8).")
        parity_txt = _md_table(
            [[k, *(f"{v.get(c, float('nan')):.2e}" if "error" not in v else v["error"]
                   for c in ("max_abs_dlogit_44", "max_abs_dlogit_prefixes"))]
             for k, v in m["parity"].items()], ["runtime/convention", "44 curves", "prefixes"])
        agree_txt = _md_table(
            [[k, str(v.get("n", "")), *(f"{100 * v[f'agree_{lvl}']:.1f} %" for lvl in LEVELS),
              f"{v['max_abs_dprob']:.3f}"] for k, v in m["agreement"].items() if "error" not in v],
            ["variant/convention", "n", "level 1", "level 2", "leaf", "max |Δp|"])
        incr_txt = _md_table([[k, f"{v['max_abs_dlogit']:.1e}", f"{v['max_abs_dprob']:.1e}"]
                              for k, v in m["incremental"].items() if "error" not in v],
                             ["variant", "max |Δlogit|", "max |Δp|"])
        c = m["convention_disagreement"]
        conv_txt = (f"level 1 {100 * c['differ_level1']:.1f} %, level 2 "
                    f"{100 * c['differ_level2']:.1f} %, leaf {100 * c['differ_leaf']:.1f} % "
                    f"(n = {c['n']}).")
    bench_txt = "(not measured)"
    if "bench" in m:
        from vra_dev.oracle.bench import format_table

        b = m["bench"]
        bench_txt = ("```\n" + format_table(b) + "\n```\nfull b1 = whole light curve, one "
                     "per call; full batch = all in one call; incr b1 = one new point per alert, "
                     "state kept (`Oracle.update`); incr batch = same via `update_many`. "
                     f"{b['cpu_count']}-core x86_64 VM, shared with other jobs: repeat-to-repeat "
                     "noise is ~20 %.")
    text = CARD.format(bench=bench_txt,
        title=title, desc=desc, repo=meta["source"]["repo"], commit=meta["source"]["commit"],
        run=meta["source"]["file"].rsplit("/", 1)[0], src_f1=meta["source"]["sha256"],
        src_best=meta_b["source"]["sha256"], licence=wt.LICENCE_NOTICE,
        files="\n".join(frows), inputs=inputs, date=date, parity=parity_txt, agree=agree_txt,
        incr=incr_txt, conv=conv_txt, default=DEFAULT_VARIANT)
    (folder / "MODEL_CARD.md").write_text(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--models", nargs="*", default=list(wt.MODELS))
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--cards-only", action="store_true",
                    help="rewrite the model cards from the existing REPORT.json")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    import datetime

    if args.cards_only:
        rep = json.loads((models_dir() / "oracle" / "REPORT.json").read_text())
        for model in rep["models"]:
            write_card(model, rep, rep["date"])
        return 0

    date = datetime.date.today().isoformat()
    d = R.load_arrays()
    ref_lcs = R.reference_lightcurves(d)
    sample_lcs = R.sample_alert_lightcurves()
    series = growing(d)
    rep = {"date": date, "n_reference": len(ref_lcs), "n_sample_alerts": len(sample_lcs),
           "default_variant": DEFAULT_VARIANT, "models": {}}
    for model in args.models:
        print(f"== {model}", flush=True)
        m = {"sizes": sizes(model)}
        if model == "bts":
            m["bts_parity"] = bts_parity(d)
        else:
            names = list(load_oracle(model, "numpy-float32").taxonomy.names)
            m["parity"] = parity(model, d, ref_lcs, series)
            m["agreement"] = agreement(model, ref_lcs + sample_lcs, names)
            m["incremental"] = incremental(model, series, names)
            m["convention_disagreement"] = convention_disagreement(model, ref_lcs + sample_lcs)
            if args.bench:
                from vra_dev.oracle.bench import bench

                m["bench"] = bench(ref_lcs, model=model)
        rep["models"][model] = m
    out = models_dir() / "oracle" / "REPORT.json"
    old = json.loads(out.read_text()) if out.is_file() else {"models": {}}
    old_models = old.get("models", {})
    old_models.update(rep["models"])
    rep["models"] = old_models
    out.write_text(json.dumps(rep, indent=1, sort_keys=True) + "\n")
    for model in rep["models"]:
        write_card(model, rep, date)
    print(json.dumps(rep, indent=1)[:4000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
