"""A Slack Web API double on 127.0.0.1, serving the documented contract the notifier uses, and
tests that the real ``slack_sdk.WebClient`` (pointed at it with ``base_url``) works with it.

Contract served (docs.slack.dev, methods reference): every method is a POST to
``/api/<method>`` with ``Authorization: Bearer <token>``; a reply is HTTP 200 with JSON
``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}`` (a wrong token: ``invalid_auth``, no
token: ``not_authed``); a rate-limited call is HTTP 429 with an integer ``Retry-After`` header
(seconds) and ``{"ok": false, "error": "ratelimited"}``.

* ``auth.test`` -> ``url, team, user, team_id, user_id, bot_id``;
* ``chat.postMessage`` (JSON body: ``channel``, ``text`` and/or ``blocks``) -> ``channel, ts,
  message``; an unknown channel -> ``channel_not_found``; neither text nor blocks ->
  ``no_text``;
* ``files.getUploadURLExternal`` (form: ``filename``, ``length``) -> ``upload_url, file_id``;
* the upload: raw bytes POSTed to ``upload_url`` without Authorization; 200 ``OK - <n>``;
* ``files.completeUploadExternal`` (form: ``files`` = JSON list of ``{id, title}``,
  ``channel_id``, ``initial_comment``) -> ``files``: a list with one entry per file (slack_sdk
  calls ``len()`` on it); a file id never uploaded -> ``file_not_found``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional
from urllib.parse import parse_qs

import pytest

TOKEN = "xoxb-4242-1717-TESTdoubleSECRET"
CHANNELS = ("C0FASTTRACK", "C0DIGEST", "C0WEEKLY")


class SlackDouble:
    """The double (see the module docstring). Knobs: ``rate_limit[method] = n`` answers the
    next n calls with 429 (``retry_after`` seconds); ``upload_failures = n`` makes the next n
    upload POSTs answer HTTP 500; ``refuse[method] = error`` answers ``{"ok": false, "error":
    error}`` (what Slack says to a message it will not take, e.g. ``invalid_blocks``)."""

    def __init__(self, token: str = TOKEN, port: int = 0, channels=CHANNELS) -> None:
        self.token = token
        self.channels = set(channels)
        self.calls: List[Dict[str, Any]] = []
        self.messages: List[Dict[str, Any]] = []
        self.shares: List[Dict[str, Any]] = []
        self.uploads: Dict[str, bytes] = {}
        self.declared: Dict[str, Dict[str, Any]] = {}
        self.rate_limit: Dict[str, int] = {}
        self.retry_after = "0"
        self.upload_failures = 0
        self.refuse: Dict[str, str] = {}
        self._lock = threading.Lock()
        self._n = 0
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                double._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def __enter__(self) -> SlackDouble:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def methods(self) -> List[str]:
        return [c["method"] for c in self.calls]

    # ------------------------------------------------------------------ handling
    def _reply(self, h, status: int, body: Any, headers: Optional[Dict[str, str]] = None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "text/plain" if isinstance(body, bytes)
                      else "application/json; charset=utf-8")
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _handle(self, h) -> None:
        raw = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        path = h.path.split("?", 1)[0]
        with self._lock:
            self._n += 1
            n = self._n
        if path.startswith("/upload/"):
            return self._upload(h, path.rsplit("/", 1)[1], raw)
        if not path.startswith("/api/"):
            return self._reply(h, 404, b"not found")
        method = path[len("/api/"):]
        ctype = h.headers.get("Content-Type", "")
        if "json" in ctype:
            params = json.loads(raw or b"{}")
        else:
            params = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        auth = h.headers.get("Authorization", "")
        self.calls.append({"method": method, "params": params, "auth": auth})
        if self.rate_limit.get(method, 0) > 0:
            self.rate_limit[method] -= 1
            return self._reply(h, 429, {"ok": False, "error": "ratelimited"},
                               {"Retry-After": self.retry_after})
        if not auth:
            return self._reply(h, 200, {"ok": False, "error": "not_authed"})
        if auth != f"Bearer {self.token}":
            return self._reply(h, 200, {"ok": False, "error": "invalid_auth"})
        if method in self.refuse:
            return self._reply(h, 200, {"ok": False, "error": self.refuse[method]})
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return self._reply(h, 200, {"ok": False, "error": "unknown_method"})
        return self._reply(h, 200, handler(params, n))

    def _m_auth_test(self, p, n):
        return {"ok": True, "url": "https://vra-test.slack.com/", "team": "VRA test",
                "user": "vra-bot", "team_id": "T0VRA", "user_id": "U0VRA", "bot_id": "B0VRA"}

    def _m_chat_postMessage(self, p, n):
        if p.get("channel") not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        if not p.get("text") and not p.get("blocks"):
            return {"ok": False, "error": "no_text"}
        ts = f"{1700000000 + n}.{n:06d}"
        self.messages.append({**p, "ts": ts})
        return {"ok": True, "channel": p["channel"], "ts": ts,
                "message": {"text": p.get("text", ""), "ts": ts}}

    def _m_files_getUploadURLExternal(self, p, n):
        if not p.get("filename") or not str(p.get("length", "")).isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{n:08d}"
        self.declared[file_id] = {"filename": p["filename"], "length": int(p["length"])}
        return {"ok": True, "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}",
                "file_id": file_id}

    def _upload(self, h, file_id: str, raw: bytes) -> None:
        self.calls.append({"method": "upload", "params": {"file_id": file_id},
                           "auth": h.headers.get("Authorization", "")})
        if self.upload_failures > 0:
            self.upload_failures -= 1
            return self._reply(h, 500, b"upload failed")
        if file_id not in self.declared:
            return self._reply(h, 404, b"unknown upload")
        self.uploads[file_id] = raw
        return self._reply(h, 200, f"OK - {len(raw)}".encode())

    def _m_files_completeUploadExternal(self, p, n):
        files = json.loads(p.get("files") or "[]")
        if not files or any(f.get("id") not in self.uploads for f in files):
            return {"ok": False, "error": "file_not_found"}
        channel = p.get("channel_id")
        if channel and channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        self.shares.append({"channel": channel, "initial_comment": p.get("initial_comment"),
                            "files": files})
        return {"ok": True, "files": [
            {"id": f["id"], "title": f.get("title"), "name": self.declared[f["id"]]["filename"],
             "size": len(self.uploads[f["id"]])} for f in files]}


def free_port() -> int:
    """A port nothing listens on (a "dead Slack")."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------- the double itself

slack_sdk = pytest.importorskip("slack_sdk", reason="slack_sdk is not installed "
                                                    "(pip install 'vra-filters[slack]')")


def client(base_url: str, token: str = TOKEN):
    from slack_sdk import WebClient
    return WebClient(token=token, base_url=base_url)


def test_real_client_posts_and_uploads_through_the_double():
    with SlackDouble() as slack:
        c = client(slack.base_url)
        assert c.auth_test()["user"] == "vra-bot"
        r = c.chat_postMessage(channel="C0DIGEST", text="hello", blocks=[
            {"type": "section", "text": {"type": "mrkdwn", "text": "*hello*"}}])
        assert r["ts"] == slack.messages[0]["ts"]
        assert slack.messages[0]["blocks"][0]["text"]["text"] == "*hello*"
        data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
        up = c.files_upload_v2(channel="C0FASTTRACK", file=data, filename="x.png",
                               title="x", initial_comment="look")
        assert up["file"]["size"] == len(data)
        assert slack.methods()[-3:] == ["files.getUploadURLExternal", "upload",
                                        "files.completeUploadExternal"]
        assert slack.calls[-2]["auth"] == ""  # the upload URL gets no token
        assert list(slack.uploads.values()) == [data]
        assert slack.shares[0]["initial_comment"] == "look"


def test_double_refuses_what_slack_refuses():
    from slack_sdk.errors import SlackApiError
    with SlackDouble() as slack:
        with pytest.raises(SlackApiError) as bad:
            client(slack.base_url, "xoxb-wrong").auth_test()
        assert bad.value.response["error"] == "invalid_auth"
        with pytest.raises(SlackApiError) as unknown:
            client(slack.base_url).chat_postMessage(channel="C0NOPE", text="x")
        assert unknown.value.response["error"] == "channel_not_found"
        slack.rate_limit["chat.postMessage"] = 1
        with pytest.raises(SlackApiError) as limited:  # the default client does not retry 429
            client(slack.base_url).chat_postMessage(channel="C0DIGEST", text="x")
        assert limited.value.response.status_code == 429
        assert limited.value.response.headers["Retry-After"] == "0"


def test_upload_url_failure_is_a_urllib_httperror_not_retried_by_the_sdk():
    import urllib.error
    with SlackDouble() as slack:
        slack.upload_failures = 1
        t = time.time()
        with pytest.raises(urllib.error.HTTPError) as err:
            client(slack.base_url).files_upload_v2(channel="C0FASTTRACK", file=b"abc",
                                                   filename="a.png")
        assert err.value.code == 500
        assert slack.methods().count("upload") == 1 and time.time() - t < 5
        assert "files.completeUploadExternal" not in slack.methods()
