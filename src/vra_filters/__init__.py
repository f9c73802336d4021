"""vra_filters: Virtual Research Assistant scores and the ORACLE classifier for alert brokers.

The core (this package) is survey-agnostic and imports no broker library; the broker adapters
live in the repository's ``adapters/`` folder. The public API::

    import vra_filters as vra
    alerts = vra.read("alerts.jsonl")                 # .lightcurves, .skips
    scorer = vra.Scorer.load()                        # every model once, from the registry
    out = scorer.score(alerts.lightcurves)            # pure: .annotations, .states, .skips

See the README's "Python API" section.
"""

__version__ = "0.1.0"

from .annotations import Annotation, JsonLinesSink, Sink  # noqa: E402
from .history import visits  # noqa: E402
from .lightcurve import Context, InputError, LightCurve  # noqa: E402
from .policies import TIERS, Policy, load_policy  # noqa: E402
from .readers import Duplicate, Skip, read  # noqa: E402
from .scorer import Scorer, ScoreResult  # noqa: E402
from .state import MemoryStore, ObjectState, SQLiteStore, StateError, StateStore  # noqa: E402
from .stream import Stream  # noqa: E402

__all__ = [
    "TIERS", "Annotation", "Context", "InputError", "JsonLinesSink", "LightCurve",
    "Duplicate", "MemoryStore", "ObjectState", "Policy", "SQLiteStore", "ScoreResult", "Scorer",
    "Sink", "Skip", "StateError", "StateStore", "Stream", "__version__", "load_policy", "read",
    "visits",
]
