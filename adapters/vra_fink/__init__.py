"""vra_fink: the VRA and ORACLE as a Fink science module and Fink filters (Apache Spark).

* :mod:`vra_fink.rubin.vra.processor` / :mod:`vra_fink.ztf.vra.processor`: the science
  modules, scalar pandas UDFs in fink-science's layout returning one struct column (see
  :mod:`vra_fink.schema`);
* :mod:`vra_fink.filters`: ``vra_fast_track`` and ``vra_extragalactic`` in fink-filters'
  Rubin layout;
* ``vra fink run``: a Spark job applying both to Fink parquet or Avro files (:mod:`.job`).

The scoring itself is the core's stateless path, ``vra.Scorer.score(..., history="packet")``;
this package only maps Spark columns to alert packets and annotations back to columns. Spark is
imported only by the modules that need it, so ``vra --help`` works without pyspark.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
