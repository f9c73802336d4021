"""Live mode: a ``Sink`` (``write`` / ``flush`` / ``close``) for any adapter's stream.

``write`` never blocks on Slack and never raises into the scoring loop: a fast-track
annotation becomes one row in the SQLite queue (its photometry too, when the stream hands the
light curve over), every other annotation a few fields in memory for the cycle's digest.
``flush`` ends an ingest cycle (queues its digest) and wakes the delivery thread, which posts
with its own queue connection, backs off while Slack is down and honours 429s. ``close``
gives the thread ``close_timeout_s`` to finish; whatever is left stays queued for the next
start or ``vra slack run``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Dict, List, Mapping, Optional

from .config import SlackConfig, load_config, redact
from .deliver import drain
from .notifier import Notifier
from .queue import Queue
from .sources import as_dict

log = logging.getLogger("vra_slack")

#: Annotation fields the digest needs (the rest stays with the stream).
_DIGEST_FIELDS = ("object_id", "alert_id", "survey", "mjd", "tier", "rank", "p_real", "p_gal",
                  "tns_name", "policy")


class SlackSink:
    """Slack notifications from a stream of annotations (see the module docstring).

    ``deliver=False`` only queues (another process runs ``vra slack run``). The token is
    read from the environment when the delivery thread starts.
    """

    def __init__(self, config: Optional[SlackConfig] = None, *, deliver: bool = True,
                 digest: bool = True, close_timeout_s: float = 30.0,
                 poll_s: float = 30.0, env: Optional[Mapping[str, str]] = None) -> None:
        self.config = config or load_config(env=env)
        self.config.channel("fast_track")  # fail now, not in the middle of a stream
        if digest:
            self.config.channel("digest")
        self._token = self.config.token(env) if deliver else ""
        self._queue = Queue(self.config.queue)
        self._notifier = Notifier(self.config, self._queue)
        self._cycle: List[Dict[str, Any]] = []
        self._announced: set = set()
        self._digest = digest
        self._deliver = deliver
        self._close_timeout_s = close_timeout_s
        self._poll_s = poll_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._closing = threading.Event()
        self._close_by = 0.0
        self._thread: Optional[threading.Thread] = None
        self.errors = 0
        self.last_report = None

    # ------------------------------------------------------------------ the Sink protocol
    def write(self, annotation: Any, lightcurve: Any = None) -> None:
        """Take one annotation (an ``Annotation`` or its dict); ``lightcurve`` (optional)
        is the alert's photometry for the fast-track plot."""
        try:
            ann = as_dict(annotation)
            if self._digest:
                self._cycle.append({k: ann.get(k) for k in _DIGEST_FIELDS}
                                   | {"oracle": _oracle_brief(ann.get("oracle"))})
            if ann["tier"] == "fast_track":
                key = (ann["survey"], str(ann["object_id"]))
                if key not in self._announced:
                    self._announced.add(key)
                    self._queue_fast_track(ann, lightcurve)
        except Exception as exc:  # a notifier problem must not stop the scoring
            self.errors += 1
            log.error("slack sink: annotation not queued: %s", redact(exc, self._token))

    def flush(self) -> None:
        """End of an ingest cycle: queue its digest and wake the delivery thread."""
        try:
            if self._digest and self._cycle:
                self._notifier.digest(self._cycle)
            self._cycle = []
        except Exception as exc:
            self.errors += 1
            log.error("slack sink: digest not queued: %s", redact(exc, self._token))
        self._kick()

    def close(self) -> None:
        """Flush, let the delivery thread finish (up to ``close_timeout_s``), close."""
        self.flush()
        if self._thread is not None:
            self._close_by = _now() + self._close_timeout_s
            self._closing.set()
            self._wake.set()
            self._thread.join(self._close_timeout_s + 1.0)
            self._stop.set()  # still posting: stop after the current call
            self._wake.set()
            self._thread.join(5.0)
        self._queue.close()

    def __enter__(self) -> SlackSink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ internals
    def _queue_fast_track(self, ann: Dict[str, Any], lightcurve: Any) -> None:
        survey, object_id = ann["survey"], str(ann["object_id"])
        key = f"fast_track/{survey}/{object_id}"
        if self._queue.status(key) is not None:
            return  # announced in an earlier run
        payload = self._notifier.fast_track_payload(ann, lightcurve)
        if lightcurve is None:
            payload["no_plot_reason"] = "the stream did not hand over the alert photometry"
        self._queue.enqueue(key, "fast_track", self.config.channel("fast_track"), payload,
                            seen=[(survey, object_id, "fast_track")])
        self._kick()

    def _kick(self) -> None:
        if not self._deliver:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="vra-slack-deliver",
                                            daemon=True)
            self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        queue = Queue(self.config.queue)  # SQLite connections stay in their thread
        try:
            while not self._stop.is_set():
                self._wake.clear()
                try:
                    self.last_report = drain(queue, self.config, self._token,
                                             stop=self._stop.is_set)
                except Exception as exc:
                    log.error("slack delivery: %s", redact(exc, self._token))
                if self.last_report is not None and self.last_report.halted:
                    log.error("slack delivery stopped: %s", self.last_report.halted)
                    return
                nxt = queue.next_try()
                if self._closing.is_set() and (nxt is None or nxt > self._close_by):
                    return  # the rest stays queued for the next start
                timeout = self._poll_s if nxt is None else nxt - _now()
                self._wake.wait(min(max(timeout, 0.05), self._poll_s))
        finally:
            queue.close()


def _now() -> float:
    import time

    return time.time()


def _oracle_brief(oracle: Any) -> Optional[Dict[str, Any]]:
    if not isinstance(oracle, Mapping):
        return None
    return {k: oracle.get(k) for k in ("status", "reason", "most_specific")}
