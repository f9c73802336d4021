"""ORACLE-1 hierarchical GRU classifier (Shah et al.; weights under a Modified MIT licence with
a non-military-use clause: see models/oracle/*/LICENSE-ORACLE).

Numpy-only at import time; TensorFlow / LiteRT load only for the variants that need them.

>>> from vra_filters.oracle import Oracle, annotation_fields
>>> oracle = Oracle.load(model="elasticc")   # deployed variant         # doctest: +SKIP
>>> results = oracle.classify(lightcurves)                             # doctest: +SKIP
>>> result, state = oracle.update(state, lightcurve)                   # doctest: +SKIP
"""

from __future__ import annotations

from .core import (
    DEFAULT_THRESHOLD,
    DEFAULT_VARIANT,
    FALLBACK_VARIANT,
    VARIANTS,
    Oracle,
    annotation_fields,
    default_variant,
    warnings_text,
)
from .incremental import OracleState, state_from_bytes, state_to_bytes
from .inputs import CONVENTIONS, DEFAULT_CONVENTION, WARNINGS, Convention, convention
from .weights import CHECKPOINTS, LICENCE_NOTICE, MODELS

__all__ = [
    "CHECKPOINTS", "CONVENTIONS", "DEFAULT_CONVENTION", "DEFAULT_THRESHOLD", "DEFAULT_VARIANT",
    "FALLBACK_VARIANT", "LICENCE_NOTICE", "MODELS", "VARIANTS", "WARNINGS", "Convention",
    "Oracle", "OracleState", "annotation_fields", "convention", "default_variant",
    "state_from_bytes", "state_to_bytes", "warnings_text",
]
