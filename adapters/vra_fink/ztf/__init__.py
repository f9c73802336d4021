"""ZTF science modules (fink-science's ``fink_science/ztf/<module>/`` layout)."""
