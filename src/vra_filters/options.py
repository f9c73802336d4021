"""Command-line options shared by ``vra score``, ``vra demo`` and ``vra bench``, and the
:class:`~vra_filters.Scorer` they describe. (Kept apart from ``cli`` so the commands import
this, not each other.)"""

from __future__ import annotations

import argparse
import sys
from typing import Iterable, Optional

ORACLE_MODELS = ("auto", "none", "elasticc", "elasticc-lite", "bts")
ORACLE_VARIANTS = ("float32", "dynamic-int8", "int8", "numpy-float32", "numpy-int8")


def add_scoring_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ebv", type=float, default=None,
                   help="E(B-V) for alerts that carry none (default: look it up in the SFD "
                        "dust map shipped with the package, or in $VRA_EBV_MAP)")
    p.add_argument("--policy", default=None,
                   help="policy TOML file or preset name (default, galactic); see "
                        "vra_filters/data/policy/default.toml")
    p.add_argument("--models", default="auto", metavar="NAME",
                   help="VRA scorers: a model family of the registry (`vra model list`, e.g. "
                        "duck) or a directory with day1/ and dayN/ models (`vra train`); "
                        "default auto: the registry's family per survey")
    p.add_argument("--oracle-model", default="auto", choices=ORACLE_MODELS,
                   help="ORACLE class probabilities in the annotations (default auto: the "
                        "registry's routing -- elasticc for LSST alerts, elasticc-lite for "
                        "those without any host-galaxy value (Rubin/Fink and Lasair "
                        "packets today; measured better on them), bts for ZTF, none for "
                        "ATLAS; `vra model list` shows it). A model name means that model for "
                        "every alert, no fallback")
    p.add_argument("--oracle-variant", default=None, choices=ORACLE_VARIANTS,
                   help="ORACLE runtime and weights (default: dynamic-int8 on LiteRT, or "
                        "numpy-int8 where LiteRT is not installed; int8 = full-integer, "
                        "exported for study but not accurate enough to deploy)")
    from .oracle.inputs import CONVENTIONS, DEFAULT_CONVENTION
    p.add_argument("--oracle-convention", default=DEFAULT_CONVENTION, choices=CONVENTIONS,
                   help="how an alert becomes ORACLE's input: TIME_ORIGIN/STATIC, time from "
                        "the first-detection or first-observation, host/MW values from the "
                        "packet, derived (dust map, host z) or none (-9); 'upstream' "
                        "reproduces upstream ORACLE for the same packet (the full model even "
                        "without host values: no elasticc-lite fallback); 'upstream-training' "
                        "its training Dataset (raw sentinels, parity only). Default "
                        f"{DEFAULT_CONVENTION}: the most accurate on the labelled sets "
                        "(models/oracle/README.md)")
    p.add_argument("--oracle-threads", type=int, default=1, help="LiteRT threads")


def scorer_from_args(args: argparse.Namespace, with_features: bool = False):
    """The :class:`~vra_filters.Scorer` the scoring options ask for."""
    from .scorer import Scorer
    return Scorer.load(policy=args.policy, oracle=args.oracle_model, models=args.models,
                       oracle_variant=args.oracle_variant, ebv=args.ebv,
                       oracle_convention=args.oracle_convention,
                       oracle_threads=args.oracle_threads, with_features=with_features)


def progress(iterable: Iterable, desc: str, total: Optional[int] = None, quiet: bool = False):
    """A tqdm progress bar on stderr (alerts/s), off when quiet or not a terminal."""
    if quiet:
        return iterable
    from tqdm import tqdm
    return tqdm(iterable, desc=desc, total=total, unit=" alerts", file=sys.stderr,
                disable=None, leave=False)
