"""Pickle-free gradient-boosted tree scorers (scikit-learn ``HistGradientBoostingClassifier``).

Brokers must not unpickle model files (code execution, and the ATLAS pickles only load under
scikit-learn 1.4/1.5), so trained trees are shipped as plain arrays and evaluated with numpy.

==========================  ====================================================================
module                      what is in it
==========================  ====================================================================
:mod:`.format`              :class:`TreeEnsemble`: the on-disk arrays, validation, save / load
                            (sha256-checked), the errors
:mod:`.predict`             the two evaluators (bitmask and node walk), bit-identical to sklearn
:mod:`.explain`             per-feature path contributions (the annotations' explanations)
:mod:`.sklearn_import`      :func:`from_sklearn`, :func:`import_sklearn` (the only pickle opened)
==========================  ====================================================================

Scoring a CSV of features is a command-line matter: ``vra model predict``
(:mod:`vra_filters.cli_model`).
"""

from __future__ import annotations

from .format import (
    FORMAT,
    FORMAT_VERSION,
    META_FILE,
    TREES_FILE,
    ModelFormatError,
    ModelIntegrityError,
    TreeEnsemble,
)
from .sklearn_import import from_sklearn, import_sklearn

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "META_FILE",
    "TREES_FILE",
    "ModelFormatError",
    "ModelIntegrityError",
    "TreeEnsemble",
    "from_sklearn",
    "import_sklearn",
]
