"""Fault injection for the at-least-once tests: ``VRA_LASAIR_FAILPOINT=name:n[,name:n]``
makes the process kill itself (SIGKILL, no clean-up at all) the n-th time it reaches the named
point. The points: ``consumed`` (messages taken from Kafka, nothing scored), ``scored``
(annotations made, nothing queued), ``queued`` (in the outbox, offsets not committed),
``committed`` (offsets committed), ``sent`` (Lasair accepted a call, the outbox not yet told).
Unset, :func:`hit` is one dict look-up."""

from __future__ import annotations

import os
import signal
import sys
from collections import Counter
from typing import Dict

ENV = "VRA_LASAIR_FAILPOINT"
POINTS = ("consumed", "scored", "queued", "committed", "sent")


def _plan(text: str) -> Dict[str, int]:
    plan: Dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, n = part.partition(":")
        if name not in POINTS or not n.isdigit() or int(n) < 1:
            raise ValueError(f"{ENV}: {part!r} is not POINT:N with POINT one of "
                             f"{', '.join(POINTS)}")
        plan[name] = int(n)
    return plan


_PLAN = _plan(os.environ.get(ENV, ""))
_SEEN: Counter = Counter()


def hit(name: str) -> None:
    """Reached point ``name``: die here if the plan says so."""
    if name not in _PLAN:
        return
    _SEEN[name] += 1
    if _SEEN[name] == _PLAN[name]:
        sys.stderr.write(f"vra lasair: failpoint {name}:{_PLAN[name]} reached, SIGKILL\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
