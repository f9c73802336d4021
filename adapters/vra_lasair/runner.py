"""The annotator's loop: messages -> light curves -> scores -> outbox -> commit, and the
health line.

Per batch of messages (``poll_batch``): each message's bytes go through the core's reader
(``vra.read(bytes, format="lasair")``: bare NaN, trailing commas, records without ``alert``),
the light curves through :class:`vra_filters.Stream` with ``history="packet"`` (an alert's own
earlier detections are its past, so the score does not depend on which process saw the
object before: a rebalance changes no result), each annotation becomes a Lasair item
(:mod:`.payload`) and the batch's items go into the outbox in one transaction; only then are
the offsets committed. A record that cannot be scored is a counted skip with its reason.

The sender (:mod:`.sender`) drains the outbox in a thread of its own. On a clean stop
(SIGTERM, SIGINT, ``--max-messages``, ``--idle-exit``) the consumer leaves its group first,
so its partitions move at once, then the outbox is drained for up to ``drain_timeout``;
anything left waits in the outbox for the next start, which sends it before anything new.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import threading
import time
from collections import Counter
from typing import Any, Dict, Iterable, List, Optional

import vra_filters as vra

from . import failpoints
from .config import Settings, redact
from .outbox import Entry, Outbox
from .payload import PayloadError, to_item
from .sender import Sender
from .source import KafkaSource, Message

log = logging.getLogger("vra_lasair")


def reason_kind(reason: str) -> str:
    """A skip reason without its ids, so the health line counts kinds, not objects."""
    text = re.sub(r"\d{4,}", "#", str(reason))
    return text[:100]


class Runner:
    """One annotator process (see the module docstring)."""

    def __init__(self, settings: Settings, scorer: Any, client: Any, *,
                 outbox_path: Optional[str] = None, token: Optional[str] = None,
                 store: Any = None, unlimited: bool = False) -> None:
        self.s = settings
        self.token = token
        path = outbox_path if outbox_path is not None else settings.outbox
        rate = 1e9 if unlimited else settings.calls_per_hour
        self.outbox = Outbox(path, calls_per_hour=rate, burst=settings.burst)
        # the sender's own connection (a second one to the same file; ":memory:" is shared)
        send_box = self.outbox if path == ":memory:" else Outbox(
            path, calls_per_hour=rate, burst=settings.burst)
        self.sender = Sender(send_box, client, settings, token=token)
        self.stream = vra.Stream(scorer, store, history="packet")
        self.store = store
        self.counts: Counter = Counter()
        self.skips: Counter = Counter()
        self.started = time.monotonic()
        #: When the first message came and the last batch was done (queued or sent): the
        #: throughput figure (msg_per_s) counts the busy span only, not idle waiting.
        self.first_message: Optional[float] = None
        self.last_done: Optional[float] = None
        self._lock = threading.Lock()  # ":memory:" outbox: one connection, two threads

    # ------------------------------------------------------------------ one batch
    def handle(self, messages: List[Message]) -> None:
        """Score a batch of Kafka messages and queue its annotations (not committed)."""
        items: List[Any] = []
        for m in messages:
            self.counts["consumed"] += 1
            got = vra.read(m.value, format="lasair").items
            if not got:
                self._skip("empty message")
            items.extend(got)
        failpoints.hit("consumed")
        self.handle_items(items)

    def handle_items(self, items: List[Any]) -> None:
        if self.first_message is None:
            self.first_message = time.monotonic()
        results = self.stream.process(items) if items else []
        entries: List[Entry] = []
        for r in results:
            if isinstance(r, vra.Skip):
                self._skip(r.reason)
                continue
            try:
                item = to_item(r, self.s.annotation_topic, self.s.url)
            except PayloadError as exc:
                self._skip(f"cannot annotate: {exc}")
                continue
            mjd = r.mjd if r.mjd is not None else -1.0
            entries.append(Entry(self.s.annotation_topic, item["objectId"], mjd,
                                 str(r.alert_id), item))
            self.counts["scored"] += 1
        failpoints.hit("scored")
        with self._lock:
            self.counts.update(self.outbox.put(entries))
        failpoints.hit("queued")
        self.last_done = time.monotonic()

    def _skip(self, reason: str) -> None:
        self.counts["skipped"] += 1
        self.skips[reason_kind(reason)] += 1

    # ------------------------------------------------------------------ loops
    def run_kafka(self, source: KafkaSource, stop: threading.Event,
                  max_messages: int = 0, idle_exit: float = 0.0,
                  drain_timeout: float = 60.0) -> Dict[str, Any]:
        """Consume until ``stop`` (or the limits); returns the final health figures."""
        sending = threading.Event()
        thread = threading.Thread(target=self._send_loop, args=(sending,), daemon=True,
                                  name="vra-lasair-sender")
        thread.start()
        next_health = time.monotonic() + self.s.health_every
        last_activity: Optional[float] = None
        try:
            while not stop.is_set():
                messages = source.poll(self.s.poll_batch, self.s.poll_timeout)
                now = time.monotonic()
                if messages:
                    self.handle(messages)
                    if source.commit(messages):
                        self.counts["commits"] += 1
                    else:
                        self.counts["commit_failed"] += 1
                    failpoints.hit("committed")
                    last_activity = now
                elif last_activity is None and source.assigned():
                    last_activity = now  # the idle clock starts with the first assignment
                if now >= next_health:
                    self.report("health", source.lag(), partitions=source.assigned())
                    next_health = now + self.s.health_every
                if max_messages and self.counts["consumed"] >= max_messages:
                    break
                if idle_exit and last_activity is not None and now - last_activity > idle_exit:
                    break
        finally:
            sending.set()
            thread.join(timeout=self.s.http_timeout + 5)
            lag = source.lag()
            source.close()  # leave the group first: the partitions move at once
        if thread.is_alive():  # a call still hangs: leave the rest queued for the next start
            log.warning("a Lasair call is still running; the outbox is left as it is")
            return self.report("done", lag, drained=False)
        drained = self.drain(drain_timeout)
        return self.report("done", lag, drained=drained)

    def run_items(self, items: Iterable[Any], drain_timeout: float) -> Dict[str, Any]:
        """Score light curves / skips from files (``--input``), then drain the outbox."""
        it = iter(items)
        next_health = time.monotonic() + self.s.health_every
        while True:
            chunk = list(itertools.islice(it, self.s.poll_batch))
            if not chunk:
                break
            self.counts["consumed"] += len(chunk)
            self.handle_items(chunk)
            self.drain(0.0)  # send what the budget allows now
            if time.monotonic() >= next_health:
                self.report("health", None)
                next_health = time.monotonic() + self.s.health_every
        drained = self.drain(drain_timeout)
        return self.report("done", 0, drained=drained)

    def _send_loop(self, stop: threading.Event) -> None:
        if self.sender.outbox is self.outbox:  # one shared in-memory connection
            while not stop.is_set():
                with self._lock:
                    try:
                        wait = self.sender.step()
                    except Exception as exc:  # noqa: BLE001
                        log.error("sender: %s", redact(str(exc), self.token))
                        wait = 1.0
                stop.wait(min(max(wait, 0.0), 1.0) if wait > 0 else 0.0)
        else:
            self.sender.run(stop)

    def drain(self, timeout: float) -> bool:
        """Send what is queued, for up to ``timeout`` seconds; True when the outbox is
        empty. ``timeout`` 0 sends only what the budget allows at once."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if self.sender.outbox.stats()["queued"] == 0:
                    return True
                wait = self.sender.step()
            if wait <= 0:
                continue  # a batch went (or was split): go on
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(wait, left, 1.0))

    # ------------------------------------------------------------------ health
    def figures(self, lag: Optional[int]) -> Dict[str, Any]:
        with self._lock:
            box = self.outbox.stats()
        sc = self.sender.counts
        now = time.monotonic()
        ends = [t for t in (self.last_done, self.sender.last_ok) if t is not None]
        busy = max(ends) - self.first_message if self.first_message is not None and ends \
            else 0.0
        c = self.counts
        return {
            "consumed": c["consumed"], "scored": c["scored"], "skipped": c["skipped"],
            "skip_reasons": dict(self.skips.most_common(8)),
            "annotated": sc["annotated"], "queued": box["queued"],
            "retrying": box["retrying"], "rejected": box["rejected"],
            "sent_objects": box["sent_objects"], "stale": c["stale"],
            "unchanged": c["unchanged"], "calls": sc["calls"],
            "failed_calls": sc["failed_calls"], "refused_calls": sc["refused_calls"],
            "commits": c["commits"], "commit_failed": c["commit_failed"],
            "lag": lag, "uptime_s": round(now - self.started, 1), "busy_s": round(busy, 3),
            "msg_per_s": round(c["consumed"] / busy, 1) if busy > 0 else None,
            "last_error": redact(self.sender.last_error, self.token)[:200],
        }

    def report(self, what: str, lag: Optional[int], **extra: Any) -> Dict[str, Any]:
        figures = self.figures(lag)
        figures.update(extra)
        log.info("%s %s", what, json.dumps(figures, sort_keys=True))
        return figures

    def close(self) -> None:
        if self.sender.outbox is not self.outbox:
            self.sender.outbox.close()
        self.outbox.close()
        if self.store is not None:
            self.store.close()
