"""Shared test set-up: the ORACLE reference data, loaded once. (The broker adapters are
installed packages, ``vra_antares`` ..., like the core: nothing here touches ``sys.path``.)"""

from __future__ import annotations

import pytest

pytest_plugins = ["kafka_fixtures", "spark_fixtures"]  # real Kafka broker, one SparkSession


@pytest.fixture(scope="session")
def ref():
    """ORACLE reference inputs and upstream outputs (tests/data/oracle)."""
    from vra_dev.oracle import reference

    return reference.load_arrays()


@pytest.fixture(scope="session")
def lcs(ref):
    """The 44 reference light curves as core LightCurve objects."""
    from vra_dev.oracle import reference

    return reference.reference_lightcurves(ref)
