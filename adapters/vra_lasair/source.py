"""Messages in: a Lasair filter's Kafka topic, with confluent-kafka.

The consumer never commits on its own (``enable.auto.commit`` off): the runner commits the
offsets of a batch after its annotations are in the outbox. Lasair keys its messages by
object, so the processes of one consumer group split the objects between them; the
``cooperative-sticky`` assignor moves only the partitions that must move when one joins or
leaves, and an optional ``group_instance_id`` (static membership) lets a restarted process
take its partitions back without a rebalance.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from .config import Settings

log = logging.getLogger("vra_lasair")


@dataclass
class Message:
    """One message: its bytes and where it came from (topic, partition, offset)."""

    value: bytes
    topic: str = ""
    partition: int = -1
    offset: int = -1

    @property
    def origin(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


class KafkaSource:
    """A consumer of one topic with explicit, synchronous offset commits."""

    def __init__(self, settings: Settings, commit: bool = True) -> None:
        try:
            from confluent_kafka import Consumer
        except ImportError as exc:
            raise RuntimeError("confluent-kafka is not installed: pip install "
                               "'vra-filters[lasair]'") from exc
        conf: Dict[str, Any] = {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": settings.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": int(settings.session_timeout * 1000),
            "heartbeat.interval.ms": max(100, int(settings.session_timeout * 1000 / 5)),
            "partition.assignment.strategy": "cooperative-sticky",
            "client.id": "vra-lasair",
        }
        if settings.group_instance_id:
            conf["group.instance.id"] = settings.group_instance_id
        self.topic = settings.topic
        self.commit_enabled = commit
        self.consumer = Consumer(conf, logger=logging.getLogger("vra_lasair.kafka"))
        self.consumer.subscribe([settings.topic])
        self.errors = 0
        self._warned = set()

    def poll(self, n: int, timeout: float) -> List[Message]:
        """Up to ``n`` messages (fewer after ``timeout`` seconds)."""
        out: List[Message] = []
        for m in self.consumer.consume(num_messages=n, timeout=timeout):
            err = m.error()
            if err is not None:
                self._error(err)
                continue
            value = m.value()
            out.append(Message(value if value is not None else b"", m.topic(), m.partition(),
                               m.offset()))
        return out

    def _error(self, err: Any) -> None:
        from confluent_kafka import KafkaError
        code = err.code()
        if code == KafkaError._PARTITION_EOF:
            return
        self.errors += 1
        if code == KafkaError.UNKNOWN_TOPIC_OR_PART:
            if code not in self._warned:  # Lasair's topic is empty after a filter edit
                log.info("topic %s has no data yet (%s)", self.topic, err.str())
                self._warned.add(code)
            return
        log.warning("Kafka: %s", err.str())

    def commit(self, messages: List[Message]) -> bool:
        """Commit past the last of ``messages`` per partition; False if Kafka refused (e.g.
        the partition moved to another process: it then delivers those messages again)."""
        if not self.commit_enabled or not messages:
            return True
        from confluent_kafka import KafkaException, TopicPartition
        last: Dict[Tuple[str, int], int] = {}
        for m in messages:
            key = (m.topic, m.partition)
            last[key] = max(last.get(key, -1), m.offset)
        offsets = [TopicPartition(t, p, o + 1) for (t, p), o in sorted(last.items())]
        try:
            result = self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            log.warning("Kafka refused the commit (%s); those messages will come again",
                        exc.args[0].str() if exc.args else exc)
            return False
        bad = [tp for tp in (result or []) if tp.error is not None]
        if bad:
            log.warning("Kafka refused the commit of %d partitions; those messages will come "
                        "again", len(bad))
            return False
        return True

    def assigned(self) -> int:
        try:
            return len(self.consumer.assignment())
        except Exception:  # noqa: BLE001 - closed consumer
            return 0

    def lag(self) -> Optional[int]:
        """Messages not yet consumed on this process's partitions (None if unknown)."""
        try:
            parts = self.consumer.assignment()
            if not parts:
                return 0
            total = 0
            unknown = []
            for tp in self.consumer.position(parts):
                # the high watermark that came with the last fetch: asking the broker would
                # queue behind the consumer's long-poll fetch (up to fetch.wait.max.ms)
                low, high = self.consumer.get_watermark_offsets(tp, cached=True)
                if high < 0:
                    return None  # nothing fetched from that partition yet
                if tp.offset >= 0:
                    total += max(0, high - tp.offset)
                else:  # nothing consumed here in this session: count from the commit
                    unknown.append((tp, low, high))
            if unknown:
                done = self.consumer.committed([tp for tp, _, _ in unknown], timeout=2.0)
                for (_, low, high), c in zip(unknown, done):
                    start = c.offset if c.offset >= 0 else max(low, 0)
                    total += max(0, high - start)
            return total
        except Exception:  # noqa: BLE001 - a health figure must not break the loop
            return None

    def close(self) -> None:
        try:
            self.consumer.close()
        except Exception:  # noqa: BLE001
            pass

