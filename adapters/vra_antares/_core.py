"""Where the ``vra_filters`` core comes from.

Inside the module ``vra antares package`` writes for the ANTARES devkit, the core is vendored
next to this file (``_vendor/vra_filters``), because ANTARES workers will not install
``vra_filters``. In a checkout (tests, ``vra antares run-locus``) the installed package is used.
Both are the same numpy-only code.
"""

from __future__ import annotations

from importlib.util import find_spec

if __package__ and find_spec(f"{__package__}._vendor") is not None:
    from ._vendor import vra_filters
    from ._vendor.vra_filters import dust, oracle, pipeline, policies, state, trees
    from ._vendor.vra_filters.lightcurve import Context, InputError, LightCurve
    from ._vendor.vra_filters.readers import Skip, rubin, ztf
else:
    import vra_filters
    from vra_filters import dust, oracle, pipeline, policies, state, trees
    from vra_filters.lightcurve import Context, InputError, LightCurve
    from vra_filters.readers import Skip, rubin, ztf

VENDORED = vra_filters.__name__ != "vra_filters"

__all__ = ["VENDORED", "Context", "InputError", "LightCurve", "Skip", "dust", "oracle",
           "pipeline", "policies", "rubin", "state", "trees", "vra_filters", "ztf"]
