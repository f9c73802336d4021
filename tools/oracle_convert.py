#!/usr/bin/env python3
"""Maintainer step: upstream ORACLE-1 PyTorch state dicts -> portable weights in models/oracle/.

Needs torch once (``pip install torch==2.13.0``, the CPU wheel on this machine) to read the
state dicts; everything it writes is plain numpy + JSON, so nothing downstream needs torch.

For each model (elasticc, elasticc-lite, bts) and checkpoint (f1 = ``best_model_f1.pth``, the
upstream inference default; best = ``best_model.pth``) it writes
``models/oracle/<model>/weights_<ckpt>.float32.npz`` and ``.int8.npz`` (+ JSON sidecars), copies the
licence as ``LICENSE-ORACLE``, then refreshes every registered file's sha256 in
``models/registry.json`` (``vra_dev.manifest.refresh``).

The tensor roles follow SPEC §2-§3 (rewritten in our own names; see
``vra_filters.oracle.weights``). The PyTorch GRU stores gate blocks r, z, n row-wise with shape
(3H, in); we store the transpose (in, 3H) keeping the r, z, n column order.

Usage: python tools/oracle_convert.py --source ../shared/data/oracle_pretrained_weights
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

from vra_dev.manifest import refresh
from vra_filters.oracle import taxonomy as tx
from vra_filters.oracle import weights as wt
from vra_filters.registry import models_dir

SOURCE_REPO = "https://github.com/dev-ved30/Oracle"
SOURCE_COMMIT = "7ddbfc45f7cc75ebe60cb6535e8fcf382c0fb009"

RUN_DIRS = {
    "elasticc": "models/ELAsTiCC/vocal-bird-160",
    "elasticc-lite": "models/ELAsTiCC-lite/revived-star-159",
    "bts": "models/BTS/lemon-spaceship-252",
}
CKPT_FILES = {"f1": "best_model_f1.pth", "best": "best_model.pth"}

# upstream layer name -> (our role name) per architecture, and the head wiring (SPEC §3).
FULL_NAMES = {"dense1": "gru_dense", "dense2": "static_dense", "dense3": "merge",
              "dense4": "hidden64", "dense5": "hidden32", "dense6": "embed", "fc_out": "out"}
FULL_HEAD = {"gru_branch": [["gru_dense", "tanh"]], "static_branch": [["static_dense", "tanh"]],
             "trunk": [["merge", "relu"], ["hidden64", "tanh"], ["hidden32", "tanh"],
                       ["embed", "relu"], ["out", "linear"]],
             "embedding_layer": "embed"}
LITE_NAMES = {"dense1": "hidden64", "dense2": "hidden32", "dense3": "embed", "fc_out": "out"}
LITE_HEAD = {"gru_branch": [], "static_branch": [],
             "trunk": [["hidden64", "tanh"], ["hidden32", "tanh"], ["embed", "relu"],
                       ["out", "linear"]],
             "embedding_layer": "embed"}

ELASTICC_STATIC = ["MWEBV", "MWEBV_ERR", "REDSHIFT_HELIO", "REDSHIFT_HELIO_ERR", "HOSTGAL_PHOTOZ",
                   "HOSTGAL_PHOTOZ_ERR", "HOSTGAL_SPECZ", "HOSTGAL_SPECZ_ERR", "HOSTGAL_RA",
                   "HOSTGAL_DEC", "HOSTGAL_SNSEP", "HOSTGAL_ELLIPTICITY", "HOSTGAL_MAG_u",
                   "HOSTGAL_MAG_g", "HOSTGAL_MAG_r", "HOSTGAL_MAG_i", "HOSTGAL_MAG_z",
                   "HOSTGAL_MAG_Y"]


def gru_roles(sd: dict, layer: int, out_index: int) -> dict:
    """PyTorch (3H, in) r/z/n row blocks -> our (in, 3H) r/z/n column blocks."""
    sfx = f"_l{layer}"
    return {
        f"gru{out_index}.wx": sd["gru.weight_ih" + sfx].T.copy(),
        f"gru{out_index}.wh": sd["gru.weight_hh" + sfx].T.copy(),
        f"gru{out_index}.bx": sd["gru.bias_ih" + sfx].copy(),
        f"gru{out_index}.bh": sd["gru.bias_hh" + sfx].copy(),
    }


def convert_state_dict(model: str, sd: dict) -> tuple:
    sd = {k: np.asarray(v.detach().cpu().numpy(), dtype=np.float32) for k, v in sd.items()}
    arrays = {}
    arrays.update(gru_roles(sd, 0, 1))
    arrays.update(gru_roles(sd, 1, 2))
    names, head = (LITE_NAMES, LITE_HEAD) if model == "elasticc-lite" else (FULL_NAMES, FULL_HEAD)
    for up, ours in names.items():
        arrays[f"{ours}.kernel"] = sd[f"{up}.weight"].T.copy()
        arrays[f"{ours}.bias"] = sd[f"{up}.bias"].copy()
    used = {f"{up}.{p}" for up in names for p in ("weight", "bias")}
    used |= {k for k in sd if k.startswith("gru.")}
    if set(sd) != used:
        raise SystemExit(f"{model}: unexpected state-dict keys {sorted(set(sd) ^ used)}")
    return arrays, head


def taxonomy_for(model: str) -> tx.Taxonomy:
    return tx.BTS if model == "bts" else tx.ELASTICC


def static_names(model: str) -> list:
    if model == "elasticc":
        return ELASTICC_STATIC
    if model == "bts":
        from vra_filters.oracle.inputs import BTS_STATIC_NAMES
        return list(BTS_STATIC_NAMES)
    return []


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--source", type=Path, required=True,
                    help="folder with models/<run>/best_model*.pth and LICENSE")
    ap.add_argument("--out", type=Path, default=models_dir() / "oracle")
    ap.add_argument("--models", nargs="*", default=list(RUN_DIRS))
    args = ap.parse_args(argv)

    import torch  # maintainer-only dependency

    licence = args.source / "LICENSE"
    for model in args.models:
        folder = args.out / model
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(licence, folder / "LICENSE-ORACLE")
        for ckpt, fname in CKPT_FILES.items():
            src = args.source / RUN_DIRS[model] / fname
            sd = torch.load(src, map_location="cpu", weights_only=True)
            arrays, head = convert_state_dict(model, sd)
            tax = taxonomy_for(model)
            meta = {
                "format_version": wt.FORMAT_VERSION,
                "model": model,
                "checkpoint": ckpt,
                "source": {"repo": SOURCE_REPO, "commit": SOURCE_COMMIT,
                           "file": f"{RUN_DIRS[model]}/{fname}", "sha256": wt.sha256_file(src)},
                "licence_notice": wt.LICENCE_NOTICE,
                "taxonomy": {"names": list(tax.names), "parents": list(tax.parents)},
                "ts_features": ["time_days", "flux", "flux_err", "wavelength_um", "detected"],
                "static_size": len(static_names(model)),
                "static_features": static_names(model),
                "head": head,
                "hidden": wt.HIDDEN,
                "gate_order": list(wt.GATES),
            }
            for precision, content in (("float32", arrays), ("int8", wt.quantize_arrays(arrays))):
                meta_p = dict(meta, precision=precision,
                              quantization=(None if precision == "float32" else
                                            {"scheme": "symmetric per output column, int8, "
                                                       "zero point 0",
                                             "min_elements": wt.QUANT_MIN_ELEMENTS,
                                             "kept_float": list(wt.KEEP_FLOAT)}))
                out = folder / wt.weights_filename(ckpt, precision)
                sha = wt.OracleWeights(content, meta_p).save(out)
                print(f"{out}  {out.stat().st_size} B  sha256 {sha[:12]}")
    print(f"{refresh(args.out.parent)} sha256 updated in the registry manifest")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
