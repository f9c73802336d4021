"""``vra evaluate WHAT``: how good the models are on labelled data (reports with plots + JSON).

Each evaluation lives in its own module of :mod:`vra_filters.evaluation` and provides
``add_arguments(parser)`` and ``run(args) -> int``; this file only wires them up, so
``vra --help`` imports none of them (they need scikit-learn / matplotlib).
"""

from __future__ import annotations

import importlib
import sys

#: action -> (module in vra_filters.evaluation, one-line help)
EVALUATIONS = {
    "oracle": ("oracle", "ORACLE recall/precision/F1 per taxonomy level against days since "
                         "first detection, float vs deployed variant, confusion matrices"),
    "vra": ("vra", "VRA scorers: R@K and AuRaK against a real/bogus-only baseline, score "
                   "space by label, permutation importance, policy outcomes"),
}


def add_subparser(sub) -> None:
    p = sub.add_parser("evaluate", help="measure the models on labelled data",
                       description="Measure the models on labelled data: an HTML or PNG "
                                   "report plus JSON.")
    esub = p.add_subparsers(dest="evaluate_command", metavar="WHAT")
    for action, (module, text) in EVALUATIONS.items():
        q = esub.add_parser(action, help=text, description=text)
        try:
            mod = importlib.import_module(f"{__package__}.evaluation.{module}")
        except ImportError as exc:  # not built yet, or an optional dependency is missing
            why = f"{type(exc).__name__}: {exc}"
            q.set_defaults(func=lambda args, why=why, action=action: _unavailable(action, why))
            continue
        mod.add_arguments(q)
        q.set_defaults(func=mod.run)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _unavailable(action: str, why: str) -> int:
    print(f"vra evaluate {action}: unavailable ({why})", file=sys.stderr)
    return 2
