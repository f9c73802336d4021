"""The VRA + ORACLE science module for ZTF alerts (``processor.py``)."""
