"""Rubin/LSST science modules (fink-science's ``fink_science/rubin/<module>/`` layout)."""
