"""Settings of ``vra lasair run``: a TOML file, then the environment, then the command line.

Every setting ``name`` can be given as ``name = ...`` in the ``[lasair]`` table of the TOML file
(or at its top level) and as the environment variable ``VRA_LASAIR_<NAME>`` (upper case); the
environment wins over the file and an explicit command-line option over both. The Lasair API
token is read from ``LASAIR_TOKEN`` only: a token in the file is refused, so it cannot end up in
a repository, and it is never part of a log line, an error or the outbox (:func:`redact`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

TOKEN_ENV = "LASAIR_TOKEN"
ENV_PREFIX = "VRA_LASAIR_"
#: Lasair's annotator names are used raw as SQL aliases in users' filters.
TOPIC_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ConfigError(ValueError):
    """A setting that is missing or wrong; the message names it and says what to do."""


@dataclass(frozen=True)
class Settings:
    """What the annotator needs. Times in seconds."""

    #: Kafka: Lasair's public broker, your consumer group, your filter's topic.
    bootstrap_servers: str = "lasair-lsst-kafka_pub.lsst.ac.uk:9092"
    group_id: str = ""
    topic: str = ""
    #: A stable id per process (Kafka static membership): a restart within
    #: ``session_timeout`` gets its partitions back without a rebalance.
    group_instance_id: str = ""
    session_timeout: float = 45.0
    #: Messages taken from Kafka per loop (scored together, then committed together).
    poll_batch: int = 200
    poll_timeout: float = 1.0
    #: Lasair: the API, the annotator name agreed with the Lasair team, a URL for users.
    endpoint: str = "https://api.lasair.lsst.ac.uk/api"
    annotation_topic: str = ""
    url: str = ""
    http_timeout: float = 30.0
    #: The API's budget: calls per hour for the token, and how many may go back to back.
    calls_per_hour: float = 100.0
    burst: int = 2
    #: Annotations per annotate_list call at most.
    batch_max: int = 500
    #: Retries: first and longest pause after a failed call (doubling in between).
    backoff_initial: float = 30.0
    backoff_max: float = 900.0
    #: A single annotation Lasair refuses (HTTP 400) this many times is set aside (rejected).
    max_rejections: int = 3
    #: Files: the durable outbox (share it between processes on one host), an optional
    #: object-state store (SQLite; history still comes from the packet).
    outbox: str = "vra_lasair_outbox.sqlite"
    state: str = ""
    #: The health line's period.
    health_every: float = 60.0
    #: Scoring: policy preset or TOML, ORACLE model (auto/none/...), E(B-V) for alerts
    #: without one (default: the dust map).
    policy: str = "default"
    oracle: str = "auto"
    ebv: Optional[float] = None

    def check(self, *, kafka: bool, send: bool) -> Settings:
        """The settings, or ConfigError naming the first one that cannot work."""
        if kafka:
            for name in ("bootstrap_servers", "group_id", "topic"):
                if not getattr(self, name):
                    raise ConfigError(f"{name} is not set (config file `{name} = ...` or "
                                      f"${ENV_PREFIX}{name.upper()})")
        if not self.annotation_topic:
            raise ConfigError("annotation_topic is not set: the annotator name the Lasair team "
                              f"bound to your token (${ENV_PREFIX}ANNOTATION_TOPIC)")
        if not TOPIC_NAME.match(self.annotation_topic):
            raise ConfigError(f"annotation_topic {self.annotation_topic!r}: use lower-case "
                              "letters, digits and '_' and start with a letter (Lasair filters "
                              "use it as an SQL name)")
        if send and not self.endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"endpoint {self.endpoint!r} is not an http(s) URL")
        for name in ("poll_batch", "batch_max", "burst", "max_rejections"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1")
        for name in ("calls_per_hour", "http_timeout", "health_every", "session_timeout",
                     "poll_timeout"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0")
        if len(self.url) > 1024:
            raise ConfigError("url is longer than Lasair's 1024 characters")
        return self

    def describe(self) -> Dict[str, Any]:
        """The settings for a log line (there is no token among them)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


_FIELDS = {f.name: f for f in fields(Settings)}


def _convert(name: str, value: Any, where: str) -> Any:
    default = getattr(Settings(), name)
    kind = _FIELDS[name].type
    try:
        if name == "ebv":
            return None if value in (None, "") else float(value)
        if isinstance(default, bool):
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true")
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {name} = {value!r} is not a {kind}") from None


def load(path: Optional[str] = None, env: Optional[Mapping[str, str]] = None,
         **overrides: Any) -> Settings:
    """Settings from a TOML file (optional), the environment and explicit overrides (None
    values are ignored)."""
    env = os.environ if env is None else env
    values: Dict[str, Any] = {}
    if path:
        values.update(_from_toml(Path(path)))
    for name in _FIELDS:
        key = ENV_PREFIX + name.upper()
        if env.get(key, "") != "":
            values[name] = _convert(name, env[key], key)
    for name, value in overrides.items():
        if value is not None:
            if name not in _FIELDS:
                raise ConfigError(f"unknown setting {name!r}")
            values[name] = _convert(name, value, "command line")
    return replace(Settings(), **values)


def _from_toml(path: Path) -> Dict[str, Any]:
    from vra_filters.tomlfile import read_toml
    try:
        data = read_toml(path)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    table = data.get("lasair", data)
    if not isinstance(table, dict):
        raise ConfigError(f"config file {path}: [lasair] must be a table")
    out: Dict[str, Any] = {}
    for name, value in table.items():
        if "token" in name.lower():
            raise ConfigError(f"config file {path}: `{name}` looks like the Lasair token; "
                              f"keep it out of files and set the {TOKEN_ENV} environment "
                              "variable instead")
        if name not in _FIELDS:
            if isinstance(value, dict):
                continue  # other tools' tables
            raise ConfigError(f"config file {path}: unknown setting {name!r} (known: "
                              f"{', '.join(sorted(_FIELDS))})")
        out[name] = _convert(name, value, str(path))
    return out


def token(env: Optional[Mapping[str, str]] = None) -> str:
    """The Lasair API token from the environment, or ConfigError."""
    env = os.environ if env is None else env
    value = env.get(TOKEN_ENV, "").strip()
    if not value:
        raise ConfigError(f"the Lasair API token is not set: export {TOKEN_ENV}=... (from your "
                          "Lasair profile page); it is read from the environment only")
    return value


def redact(text: str, secret: Optional[str]) -> str:
    """``text`` with the token (if any) replaced, for logs and stored errors."""
    text = str(text)
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    return text
