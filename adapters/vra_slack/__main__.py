"""``python -m vra_slack ...``: the ``vra slack`` commands without the ``vra`` entry point."""

import sys

from .cli import main

sys.exit(main())
