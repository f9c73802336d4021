"""Where the ``vra_filters`` core comes from, and the public names of it the filter uses.

Inside the module ``vra antares package`` writes for the ANTARES devkit, the core is vendored
next to this file (``_vendor/vra_filters``), because ANTARES workers will not install
``vra_filters``. Installed (tests, ``vra antares run-locus``), the installed package is used.
Both are the same numpy-only code. Only public names are taken: the package's API, the Rubin
and ZTF readers' mapping functions, the readers' number conversion, and the ORACLE's
variant names.
"""

from __future__ import annotations

from importlib.util import find_spec

if __package__ and find_spec(f"{__package__}._vendor") is not None:
    from ._vendor import vra_filters
    from ._vendor.vra_filters import oracle
    from ._vendor.vra_filters.readers import as_float, rubin, ztf
else:
    import vra_filters
    from vra_filters import oracle
    from vra_filters.readers import as_float, rubin, ztf

VENDORED = vra_filters.__name__ != "vra_filters"
Annotation = vra_filters.Annotation
Context = vra_filters.Context
InputError = vra_filters.InputError
LightCurve = vra_filters.LightCurve
ObjectState = vra_filters.ObjectState
Scorer = vra_filters.Scorer
Skip = vra_filters.Skip
StateError = vra_filters.StateError

__all__ = ["VENDORED", "Annotation", "Context", "InputError", "LightCurve", "ObjectState",
           "Scorer", "Skip", "StateError", "as_float", "oracle", "rubin", "vra_filters", "ztf"]
