"""The VRA + ORACLE science module for Rubin alerts (``processor.py``)."""
