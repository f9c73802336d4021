"""The calls to Lasair: batches from the outbox to ``annotate_list``, and what each answer means.

One call carries every due annotation up to ``batch_max`` and spends one call of the rate
budget, so at 100 calls/hour the batches grow with the stream (a call every 36 s at most).
The answers (lasair 0.1.4 raises ``LasairError`` for 400/401/429/500, returns ``{'error':..}``
for an unreadable reply and lets a refused connection through as a ``requests`` error):

* accepted (``status: success``): the outbox records the batch as sent;
* 429, 500, another status, a timeout, a refused connection, an unreadable reply, 401 (the
  token is refused) or a 400 that names the annotator itself (topic unknown, not yours, not
  active): nothing is lost -- the batch goes back to the queue and every sender sharing the
  outbox pauses, doubling the pause from ``backoff_initial`` up to ``backoff_max``;
* any other 400 is about the items: the batch is sent again in halves until the refused item
  is alone, and a single item refused ``max_rejections`` times is set aside (``rejected``).

The sender runs in a thread of its own, so a slow or hanging Lasair never holds the Kafka
consumer: the consumer keeps polling and queueing while a call waits for its timeout.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from typing import IO, Any, Callable, Dict, List, Optional, Tuple

from . import failpoints
from .config import Settings, redact
from .outbox import Claimed, Outbox, owner_id

log = logging.getLogger("vra_lasair")

#: 400 replies that are about the annotator (topic), not about the items.
_TOPIC_TROUBLE = ("does not exist", "not allowed to submit", "is not active")


def classify(result: Any = None, error: Optional[BaseException] = None) -> Tuple[str, str]:
    """(kind, message) for one call's result or exception. Kinds: ``ok``, ``items`` (a 400
    about the items), ``pause`` (anything to wait out: 429, 5xx, timeouts, 401, topic)."""
    if error is not None:
        text = getattr(error, "message", None) or str(error) or type(error).__name__
        text = f"{type(error).__name__}: {text}"
        if "Bad Request" in text:
            if any(t in text for t in _TOPIC_TROUBLE):
                return "pause", text
            return "items", text
        return "pause", text
    if isinstance(result, dict) and result.get("status") == "success":
        return "ok", ""
    return "pause", f"unexpected reply: {str(result)[:300]}"


class DryRunClient:
    """Stands in for ``lasair_client``: each ``annotate_list`` call's argument, exactly as it
    would be sent, becomes one JSON line on ``out``."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.calls = 0

    def annotate_list(self, annotations: List[Dict[str, Any]]) -> Dict[str, Any]:
        self.out.write(json.dumps(annotations, allow_nan=False) + "\n")
        self.out.flush()
        self.calls += 1
        return {"status": "success", "n": len(annotations)}


def lasair_client(token: str, endpoint: str, timeout: float) -> Any:
    """The real client (lasair 0.1.4), always with an explicit endpoint."""
    try:
        import lasair
    except ImportError as exc:
        raise RuntimeError("the lasair client is not installed: pip install "
                           "'vra-filters[lasair]'") from exc
    if not hasattr(lasair.lasair_client, "annotate_list"):
        raise RuntimeError("lasair >= 0.1.4 is needed (annotate_list)")
    return lasair.lasair_client(token, endpoint=endpoint, timeout=timeout)


class Sender:
    """Sends the outbox to Lasair (see the module docstring). ``step`` is one attempt."""

    def __init__(self, outbox: Outbox, client: Any, settings: Settings,
                 token: Optional[str] = None, owner: Optional[str] = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.outbox = outbox
        self.client = client
        self.s = settings
        self.token = token
        self.owner = owner or owner_id()
        self.sleep = sleep
        self.lease = 2 * settings.http_timeout + 30.0
        self.batch = settings.batch_max
        self.pause = settings.backoff_initial
        self.counts: Counter = Counter()
        self.last_error = ""
        self.last_ok: Optional[float] = None  # time.monotonic() of the last accepted call

    def step(self) -> float:
        """Send one batch if one is due and the budget allows; seconds until the next try."""
        claimed, wait = self.outbox.claim(self.owner, self.batch, self.lease)
        if not claimed:
            return wait
        items = [c.item for c in claimed]
        result, error = None, None
        try:
            result = self.client.annotate_list(items)
        except Exception as exc:  # noqa: BLE001 - every failure of the call is handled below
            error = exc
        kind, why = classify(result, error)
        self.counts["calls"] += 1
        if kind == "ok":
            failpoints.hit("sent")
            self.counts["annotated"] += self.outbox.done(self.owner, claimed)
            self.last_ok = time.monotonic()
            self.pause = self.s.backoff_initial
            self.batch = min(self.s.batch_max, self.batch * 2)
            return 0.0
        why = redact(why, self.token)
        self.last_error = why
        if kind == "items":
            return self._refused(claimed, why)
        self.counts["failed_calls"] += 1
        log.warning("Lasair call of %d annotations failed (%s); all kept, next try in %.1f s",
                    len(claimed), why[:200], self.pause)
        self.outbox.release(self.owner, claimed)
        self.outbox.pause(self.pause)
        wait = self.pause
        self.pause = min(self.s.backoff_max, self.pause * 2)
        return wait

    def _refused(self, claimed: List[Claimed], why: str) -> float:
        self.counts["refused_calls"] += 1
        if len(claimed) > 1:
            self.outbox.release(self.owner, claimed)
            self.batch = max(1, len(claimed) // 2)
            log.warning("Lasair refused a batch of %d (%s); sending it in halves",
                        len(claimed), why[:200])
            return 0.0
        c = claimed[0]
        aside = self.outbox.refuse(self.owner, c, why, self.s.backoff_initial,
                                   self.s.max_rejections)
        if aside:
            self.counts["rejected"] += 1
            log.error("Lasair refused the annotation of object %d %d times (%s); set aside in "
                      "the outbox's rejected table", c.object_id, self.s.max_rejections,
                      why[:200])
        self.batch = self.s.batch_max
        return 0.0

    def run(self, stop: threading.Event) -> None:
        """Send until ``stop`` is set (the thread's body); never raises."""
        while not stop.is_set():
            try:
                wait = self.step()
            except Exception as exc:  # noqa: BLE001 - e.g. the outbox file is locked too long
                log.error("sender: %s", redact(f"{type(exc).__name__}: {exc}", self.token))
                wait = 1.0
            if wait > 0:
                stop.wait(min(wait, 1.0))

    def drain(self, timeout: float) -> bool:
        """Send until nothing is queued or ``timeout`` seconds passed; True when empty."""
        deadline = time.monotonic() + timeout
        while True:
            if self.outbox.stats()["queued"] == 0:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            wait = self.step()
            if wait > 0:
                self.sleep(min(wait, left, 1.0))
