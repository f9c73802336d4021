#!/usr/bin/env python3
"""Maintainer step: export the ORACLE-1 TFLite variants into models/oracle/<model>/.

Needs TensorFlow (``pip install tensorflow-cpu``); reads only the portable weights written by
``tools/oracle_convert.py`` and, for the full-integer int8 variant, the reference light curves in
``tests/data/oracle/reference_vectors.npz`` as representative data (real GRU inputs and states).
Then refreshes the files' sha256 in models/registry.json.

Usage: python tools/oracle_export_tflite.py [--models elasticc elasticc-lite bts]
       [--checkpoints f1] [--variants float32 dynamic-int8 int8]
"""

from __future__ import annotations

import argparse

import numpy as np

from vra_dev.manifest import refresh
from vra_dev.oracle import reference as R
from vra_dev.oracle import tflite_export as TL
from vra_filters.oracle import weights as wt


def representative_for(model: str, checkpoint: str):
    w = wt.OracleWeights.load(model, checkpoint, "float32")
    d = R.load_arrays()
    if model == "bts":
        # one real ZTF light curve exists in the reference set; its prefixes supply the ranges
        ts = [d["bts_fakeSN_ts"]]
        static = d["bts_fakeSN_static"][None].astype(np.float32)
    else:
        ts, static = R.model_inputs(d)
        if not w.static_size:
            static = None
    return TL.representative_samples(w, ts, static)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--models", nargs="*", default=list(wt.MODELS))
    ap.add_argument("--checkpoints", nargs="*", default=["f1"])
    ap.add_argument("--variants", nargs="*", default=list(TL.TFLITE_VARIANTS))
    args = ap.parse_args(argv)
    for model in args.models:
        folder = wt.model_dir(model)
        for ckpt in args.checkpoints:
            rep = representative_for(model, ckpt) if "int8" in args.variants else None
            for variant in args.variants:
                path = TL.write_tflite(model, ckpt, variant, folder, rep)
                print(f"{path}  {path.stat().st_size} B")
    print(f"{refresh()} sha256 updated in the registry manifest")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
