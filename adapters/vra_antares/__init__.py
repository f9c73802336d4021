"""ANTARES adapter: the VRA + ORACLE filter for the ANTARES devkit (``filter.py``), the locus ->
light-curve mapping (``locus.py``), ``vra antares`` commands (``cli.py``) and the packaging of
the self-contained devkit module (``package.py``). See README.md ("Running on ANTARES").

Nothing is imported here: ``vra --help`` must not need antares-devkit.
"""
