"""Posting queued jobs with the real ``slack_sdk.WebClient``, and what to do when it fails.

Failures are sorted into four actions:

* ``retry``: Slack unreachable (connection errors, timeouts), a 5xx, the upload URL answering
  non-2xx (``urllib.error.HTTPError``, which slack_sdk neither wraps nor retries), or a 429
  that outlasted slack_sdk's ``RateLimitErrorRetryHandler`` (then the job waits at least
  ``Retry-After`` seconds, and so does everything else); otherwise exponential backoff;
* ``halt``: the token or a channel is wrong (``invalid_auth``, ``not_in_channel``...): every
  job stays pending and the run stops with what to fix;
* ``failed``: Slack refused this message (e.g. ``invalid_blocks``): kept, with the reason;
* ``sent``.

Every message that leaves this module goes through :func:`config.redact`.
"""

from __future__ import annotations

import http.client
import logging
import random
import socket
import time
import urllib.error
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Tuple

from .config import SlackConfig, redact
from .notifier import render
from .queue import Job, Queue

log = logging.getLogger("vra_slack")

#: Slack errors that no retry can fix: the set-up is wrong.
HALT_ERRORS = {
    "invalid_auth": "Slack refused the token: check SLACK_BOT_TOKEN (the app's bot token, xoxb-...)",
    "not_authed": "no token reached Slack: set SLACK_BOT_TOKEN",
    "account_inactive": "the token's app or user was deactivated",
    "token_revoked": "the token was revoked: reinstall the app and update SLACK_BOT_TOKEN",
    "token_expired": "the token expired: update SLACK_BOT_TOKEN",
    "missing_scope": "the app lacks a scope: add chat:write and files:write, then reinstall",
    "no_permission": "the app lacks permission to post here",
    "channel_not_found": "channel not found: use the channel id (C...), not its name",
    "not_in_channel": "the app is not in the channel: /invite @<app> in that channel",
    "is_archived": "the channel is archived",
}
RETRY_ERRORS = {"internal_error", "fatal_error", "service_unavailable", "request_timeout",
                "ratelimited"}


@dataclass
class Outcome:
    action: str  # sent | retry | halt | failed
    message: str = ""
    delay_s: Optional[float] = None  # retry: at least this long (a 429's Retry-After)
    reply: str = ""


@dataclass
class DrainReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    halted: Optional[str] = None
    pending: int = 0
    next_try: Optional[float] = None
    errors: list = field(default_factory=list)


def make_client(config: SlackConfig, token: str) -> Any:
    """A ``WebClient`` on ``config.base_url`` that sleeps through up to
    ``config.rate_limit_retries`` 429s (``Retry-After`` honoured) inside each call."""
    from slack_sdk import WebClient
    from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

    client = WebClient(token=token, base_url=config.base_url, timeout=config.timeout_s)
    client.retry_handlers.append(
        RateLimitErrorRetryHandler(max_retry_count=config.rate_limit_retries))
    return client


def _retry_after(response: Any) -> Optional[float]:
    headers = getattr(response, "headers", None) or {}
    for k, v in dict(headers).items():
        if k.lower() == "retry-after":
            value = v[0] if isinstance(v, (list, tuple)) else v
            try:
                return float(int(str(value).strip()))
            except ValueError:
                return None
    return None


def classify(exc: BaseException, token: str = "") -> Outcome:
    """What to do after ``exc`` (the message redacted)."""
    from slack_sdk.errors import SlackApiError, SlackRequestError

    if isinstance(exc, SlackApiError):
        response = exc.response
        status = getattr(response, "status_code", None)
        data = getattr(response, "data", None)
        error = data.get("error", "") if isinstance(data, dict) else ""
        if status == 429 or error == "ratelimited":
            wait = _retry_after(response)
            return Outcome("retry", f"rate-limited by Slack (429, Retry-After {wait})",
                           delay_s=wait if wait is not None else 60.0)
        if error in HALT_ERRORS:
            return Outcome("halt", f"{error}: {HALT_ERRORS[error]}")
        if (status or 0) >= 500 or error in RETRY_ERRORS:
            return Outcome("retry", redact(f"Slack error {status} {error}".strip(), token))
        return Outcome("failed", redact(f"Slack refused the message: {error or status}", token))
    if isinstance(exc, urllib.error.HTTPError):  # the upload URL (not wrapped by slack_sdk)
        return Outcome("retry", f"file upload answered HTTP {exc.code}")
    if isinstance(exc, (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError,
                        http.client.HTTPException, SlackRequestError, OSError)):
        return Outcome("retry", redact(f"Slack unreachable ({type(exc).__name__}: {exc})",
                                       token))
    return Outcome("failed", redact(f"{type(exc).__name__}: {exc}", token))


def backoff(attempts: int, config: SlackConfig) -> float:
    """Seconds before try ``attempts + 1``: doubling from ``backoff_base_s``, capped, with
    up to 25% jitter so restarted workers do not retry in step."""
    base = min(config.backoff_cap_s, config.backoff_base_s * (2 ** min(attempts, 30)))
    return base * (1.0 + 0.25 * random.random())


def send(client: Any, job: Job, config: SlackConfig) -> str:
    """Post one job; returns Slack's reply id (message ts or file id)."""
    rendered = render(job.kind, job.channel, job.payload, config)
    if rendered.method == "files_upload_v2":
        resp = client.files_upload_v2(file=rendered.png, **rendered.args)
        files = resp.get("files") or []
        return str(files[0].get("id", "")) if files else ""
    resp = getattr(client, rendered.method)(**rendered.args)
    return str(resp.get("ts", ""))


def attempt(client: Any, job: Job, config: SlackConfig, token: str) -> Outcome:
    try:
        return Outcome("sent", reply=send(client, job, config))
    except Exception as exc:  # every failure becomes an action; none escapes the queue
        return classify(exc, token)


def drain(queue: Queue, config: SlackConfig, token: str, wait_s: float = 0.0,
          clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
          client: Any = None, stop: Optional[Callable[[], bool]] = None) -> DrainReport:
    """Deliver every due job; keep going (sleeping out backoffs) for up to ``wait_s``
    seconds while jobs are pending. Returns what happened; the queue holds the rest."""
    report = DrainReport()
    deadline = clock() + max(0.0, wait_s)
    pause_until = 0.0
    checked = False
    while not (stop and stop()):
        now = clock()
        if pause_until > now:
            if pause_until > deadline:
                break
            sleep(pause_until - now)
            continue
        jobs = queue.due(now)
        if not jobs:
            nxt = queue.next_try()
            if nxt is None or nxt > deadline:
                break
            sleep(max(0.0, min(nxt, deadline) - now))
            continue
        if client is None:
            client = make_client(config, token)
        if not checked:  # one auth.test: a wrong token is reported as such, once
            try:
                who = client.auth_test()
                log.info("posting as %s in %s", who.get("user"), who.get("team"))
                checked = True
            except Exception as exc:
                out = classify(exc, token)
                if out.action == "halt":
                    report.halted = out.message
                    break
                for job in jobs:
                    queue.reschedule(job.key, max(out.delay_s or 0.0,
                                                  backoff(job.attempts, config)), out.message)
                report.retried += len(jobs)
                report.errors.append(out.message)
                log.warning("%s; %d notification(s) stay queued", out.message, len(jobs))
                if out.delay_s:
                    pause_until = clock() + out.delay_s
                continue
        for job in jobs:
            if stop and stop():
                break
            out = attempt(client, job, config, token)
            if out.action == "sent":
                queue.mark_sent(job.key, out.reply)
                report.sent += 1
                log.info("posted %s", job.key)
            elif out.action == "retry":
                delay = max(out.delay_s or 0.0, backoff(job.attempts, config))
                queue.reschedule(job.key, delay, out.message)
                report.retried += 1
                report.errors.append(out.message)
                log.warning("%s: %s; retry in %.0f s", job.key, out.message, delay)
                if out.delay_s:  # a 429: nothing else goes out before Retry-After
                    pause_until = clock() + out.delay_s
                    break
            elif out.action == "halt":
                report.halted = out.message
                break
            else:
                queue.mark_failed(job.key, out.message)
                report.failed += 1
                report.errors.append(out.message)
                log.error("%s: %s (kept in the queue as failed)", job.key, out.message)
            if config.min_interval_s > 0:
                sleep(config.min_interval_s)
        if report.halted:
            break
    counts = queue.counts()
    report.pending = counts["pending"]
    report.next_try = queue.next_try()
    return report


def summary(report: DrainReport, clock: Callable[[], float] = time.time) -> Tuple[str, int]:
    """A one-line account and the exit status (0 all posted, 1 some queued or failed,
    2 halted by the set-up)."""
    parts = [f"posted {report.sent}"]
    if report.pending:
        when = ("" if report.next_try is None
                else f", next try in {max(0.0, report.next_try - clock()):.0f} s")
        parts.append(f"{report.pending} queued for `vra slack run`{when}")
    if report.failed:
        parts.append(f"{report.failed} refused by Slack (vra slack run --status)")
    if report.errors and report.pending:
        parts.append(f"last error: {report.errors[-1]}")
    if report.halted:
        return f"stopped: {report.halted}; " + "; ".join(parts), 2
    return "; ".join(parts), 0 if not (report.pending or report.failed) else 1


def describe_jobs(queue: Queue) -> Dict[str, Any]:
    """Counts and the not-yet-sent jobs (for ``--status``)."""
    return {"counts": queue.counts(),
            "open": [{"key": j.key, "status": j.status, "attempts": j.attempts,
                      "error": j.error} for j in queue.jobs() if j.status != "sent"]}
