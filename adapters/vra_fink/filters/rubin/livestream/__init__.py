"""Live-stream filters: each ``filter_<name>/filter.py`` defines ``<name>``, ``DESCRIPTION``
and ``HBASE_SUPPORT`` (fink-filters' Rubin convention; Fink turns each into the Kafka topic
``fink_<name>_lsst``)."""
