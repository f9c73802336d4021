"""vra_filters: Virtual Research Assistant scores and the ORACLE classifier for alert brokers.

The core (this package) is survey-agnostic and imports no broker library; the broker adapters
live in the repository's ``adapters/`` folder.
"""

__version__ = "0.1.0"
