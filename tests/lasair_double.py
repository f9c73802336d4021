"""A stand-in for Lasair's annotation API on 127.0.0.1, for the real ``lasair`` client.

It serves the documented contract (lasair-lsst ``webserver/lasairapi``, see the Lasair adapter's
README): ``POST {endpoint}/annotate/`` (form) and ``POST {endpoint}/annotatelist/`` (JSON
``{"annotations": [...]}``), ``Authorization: Token <token>``, Django REST framework field
limits (objectId an integer; classification 1..80 characters, version 80, explanation 1,024,
classdict 4,096, url 1,024; topic 255), the annotator checks (topic exists, belongs to the
token's user, is active) and one stored annotation per (objectId, topic), replaced on every
push. A batch with one invalid item is refused whole (400), which is the careful reading: the
real batch view is not public.

Hazards that pass the API but would break Lasair's later SQL insert (an apostrophe or a
backslash in any field, a NaN in classdict) are accepted, as Lasair does, and listed in
``hazards``, so tests can assert there are none.

``script`` queues behaviours for the next calls: ``400``, ``401``, ``429``, ``500`` (answer
with that status, store nothing), ``("slow", s)`` (answer normally after s seconds) and
``("hang", s)`` (hold the connection s seconds, then drop it unanswered, store nothing); any
other status (e.g. ``502``) answers with an HTML page, as a proxy in front of Lasair would.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs

LIMITS = {"topic": 255, "classification": 80, "version": 80, "explanation": 1024,
          "classdict": 4096, "url": 1024}
REQUIRED = ("objectId", "topic", "classification", "version")


class LasairDouble:
    def __init__(self, token: str = "test-token-0123456789",
                 topics: Optional[Dict[str, Dict[str, Any]]] = None) -> None:
        self.token = token
        self.topics = topics if topics is not None else {
            "vra_filters": {"user": token, "active": True}}
        self.annotations: Dict[Tuple[int, str], Dict[str, Any]] = {}
        self.history: List[Tuple[int, str, Dict[str, Any]]] = []
        self.calls: List[Dict[str, Any]] = []
        self.hazards: List[str] = []
        self.script: deque = deque()
        self.lock = threading.Lock()
        self.server: Optional[ThreadingHTTPServer] = None

    # -- lifecycle
    def start(self) -> LasairDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                double._handle(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api"

    def __enter__(self) -> LasairDouble:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what the tests read
    def final(self, topic: str = "vra_filters") -> Dict[int, Dict[str, Any]]:
        """objectId -> the stored annotation (classdict parsed)."""
        with self.lock:
            return {oid: dict(a, classdict=json.loads(a["classdict"]))
                    for (oid, t), a in self.annotations.items() if t == topic}

    def accepted_calls(self) -> List[Dict[str, Any]]:
        with self.lock:
            return [c for c in self.calls if c["status"] == 200]

    # -- serving
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        size = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(size) if size else b""
        with self.lock:
            behaviour = self.script.popleft() if self.script else None
        call = {"path": h.path, "at": time.monotonic(), "status": None, "n": 0}
        with self.lock:
            self.calls.append(call)
        if isinstance(behaviour, tuple) and behaviour[0] == "hang":
            call["status"] = "dropped"
            time.sleep(behaviour[1])
            h.close_connection = True
            return
        if isinstance(behaviour, tuple) and behaviour[0] == "slow":
            time.sleep(behaviour[1])
            behaviour = None
        if h.headers.get("Authorization") != f"Token {self.token}":
            return self._reply(h, call, 401, {"detail": "Invalid token."})
        if isinstance(behaviour, int):
            text = {400: {"error": "Bad request (scripted)"},
                    401: {"detail": "Invalid token."},
                    429: {"detail": "Request was throttled."},
                    500: "<h1>Server Error (500)</h1>"}.get(behaviour, "<h1>Bad Gateway</h1>")
            return self._reply(h, call, behaviour, text)
        try:
            if h.path.rstrip("/").endswith("/annotatelist"):
                items = json.loads(body.decode("utf-8"))["annotations"]
                if not isinstance(items, list):
                    raise ValueError("annotations is not a list")
            elif h.path.rstrip("/").endswith("/annotate"):
                form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
                items = [{k: v[0] for k, v in form.items()}]
            else:
                return self._reply(h, call, 404, {"detail": "Not found."})
        except (ValueError, KeyError, TypeError) as exc:
            return self._reply(h, call, 400, {"error": f"cannot parse the request: {exc}"})
        errors, clean = [], []
        for i, item in enumerate(items):
            problem = self._validate(item)
            if problem:
                errors.append({"index": i, "error": problem})
            else:
                clean.append(item)
        if errors:
            return self._reply(h, call, 400, {"errors": errors})
        with self.lock:
            for item in clean:
                self._hazards(item)
                key = (int(item["objectId"]), item["topic"])
                stored = {k: item.get(k, "") for k in ("classification", "version",
                                                       "explanation", "classdict", "url")}
                self.annotations[key] = stored
                self.history.append((key[0], key[1], stored))
        call["n"] = len(clean)
        if h.path.rstrip("/").endswith("/annotatelist"):
            return self._reply(h, call, 200, {"status": "success", "n": len(clean)})
        return self._reply(h, call, 200, {"status": "success",
                                          "annotation_topic": "fast_annotations",
                                          "message": json.dumps(clean[0])})

    def _validate(self, item: Any) -> Optional[str]:
        if not isinstance(item, dict):
            return "not an object"
        for name in REQUIRED:
            if name not in item:
                return f"{name}: This field is required."
        try:
            int(str(item["objectId"]))
        except ValueError:
            return "objectId: A valid integer is required."
        for name, limit in LIMITS.items():
            value = item.get(name, "")
            if not isinstance(value, str):
                return f"{name}: Not a valid string."
            if len(value) > limit:
                return f"{name}: Ensure this field has no more than {limit} characters."
        if not item["classification"].strip():
            return "classification: This field may not be blank."
        topic = self.topics.get(item["topic"])
        if topic is None:
            return f"Annotator error: topic {item['topic']} does not exist"
        if topic["user"] != self.token:
            return f"Annotator error: user is not allowed to submit to topic {item['topic']}"
        if not topic["active"]:
            return f"Annotator error: topic {item['topic']} is not active -- ask Lasair team"
        return None

    def _hazards(self, item: Dict[str, Any]) -> None:
        for name in ("classification", "version", "explanation", "classdict", "url"):
            value = str(item.get(name, ""))
            if "'" in value or "\\" in value:
                self.hazards.append(f"{item['objectId']}: quote or backslash in {name}")
        try:
            json.loads(item.get("classdict", "{}"), parse_constant=_no_constants)
        except ValueError as exc:
            self.hazards.append(f"{item['objectId']}: classdict {exc}")

    def _reply(self, h: BaseHTTPRequestHandler, call: Dict[str, Any], status: int,
               body: Any) -> None:
        call["status"] = status
        data = (body if isinstance(body, str) else json.dumps(body)).encode("utf-8")
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json" if not isinstance(body, str)
                          else "text/html")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            call["status"] = "client gone"


def _no_constants(name: str) -> float:
    raise ValueError(f"holds {name}, which MySQL's JSON type refuses")

