"""Client-side rate limit: a token bucket sized to the Lasair token's calls per hour.

Lasair throttles per token (100 calls/hour for a normal user token, 10,000 for "power" users)
and every ``annotate_list`` call counts as one. The bucket holds at most ``burst`` calls and
refills at ``calls_per_hour / 3600`` per second, so no window of an hour ever holds more than
``calls_per_hour + burst`` calls, and a steady stream gets one call every ``3600 /
calls_per_hour`` seconds. The state is two numbers, kept by the caller: the outbox stores them
in its SQLite file, so every process sharing one outbox (one token) shares one budget, and a
restart does not start with a fresh bucket.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bucket:
    """Tokens available at time ``at`` (seconds, any monotonic-enough clock)."""

    tokens: float
    at: float


class TokenBucket:
    """The maths; the state (:class:`Bucket`) goes in and out."""

    def __init__(self, calls_per_hour: float, burst: int = 1) -> None:
        if calls_per_hour <= 0:
            raise ValueError("calls_per_hour must be > 0")
        self.rate = float(calls_per_hour) / 3600.0
        self.capacity = float(max(1, int(burst)))

    def full(self, now: float) -> Bucket:
        return Bucket(self.capacity, now)

    def refill(self, state: Bucket, now: float) -> Bucket:
        elapsed = max(0.0, now - state.at)  # a clock that went back refills nothing
        return Bucket(min(self.capacity, state.tokens + elapsed * self.rate), max(now,
                                                                                 state.at))

    def take(self, state: Bucket, now: float):
        """(allowed, new state, seconds to wait if not allowed)."""
        s = self.refill(state, now)
        if s.tokens >= 1.0:
            return True, Bucket(s.tokens - 1.0, s.at), 0.0
        return False, s, (1.0 - s.tokens) / self.rate

    def empty(self, now: float) -> Bucket:
        """After a 429: nothing left until the bucket refills."""
        return Bucket(0.0, now)
