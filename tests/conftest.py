"""Shared test set-up: the repository root on sys.path (the broker adapters live in
``adapters/``, outside the installed package) and the ORACLE reference data, loaded once."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def ref():
    """ORACLE reference inputs and upstream outputs (tests/data/oracle)."""
    from vra_filters.oracle import reference

    return reference.load_arrays()


@pytest.fixture(scope="session")
def lcs(ref):
    """The 44 reference light curves as core LightCurve objects."""
    from vra_filters.oracle import reference

    return reference.reference_lightcurves(ref)
