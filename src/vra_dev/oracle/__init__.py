"""ORACLE maintainer code (not part of the runtime package vra_filters):

* :mod:`.keras_model`: ORACLE-1 in Keras, from the portable weights (parity checks, the
  ``keras`` variant through :func:`load_oracle`, the graph the TFLite files come from);
* :mod:`.training`: the WHXE loss, truncation augmentation and a small training loop;
* :mod:`.tflite_export`: the TFLite exports (float32, dynamic-int8, int8);
* :mod:`.bench`: throughput per variant;
* :mod:`.reference`: the reference set of a checkout (tests/data/oracle) as light curves.

TensorFlow is imported only inside the functions that need it.
"""

from vra_filters.oracle import VARIANTS

from .keras_model import load_oracle

#: Every variant the maintainer tools measure: the runtimes plus ``keras``.
ALL_VARIANTS = VARIANTS + ("keras",)

__all__ = ["ALL_VARIANTS", "load_oracle"]
