"""Maintainer-only code of vra_filters: never imported by the runtime package.

* :mod:`vra_dev.manifest`: keep ``models/registry.json`` in step with the files (sha256).
* :mod:`vra_dev.oracle`: the ORACLE Keras model, its training, the TFLite export, the ORACLE
  benchmark and the reference-set readers (need TensorFlow, or the test data of a checkout).
"""
