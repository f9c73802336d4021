"""Rubin filters (fink-filters' ``fink_filters/rubin/`` layout)."""
