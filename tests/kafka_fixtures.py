"""A real Apache Kafka broker for the tests: single node, KRaft, on 127.0.0.1.

``kafka_broker`` (session scope) fetches the broker's jars from Maven Central the first time
(``tools/kafka/fetch.sh`` into the git-ignored ``.cache/kafka``), starts
``tools/kafka/kafka-local`` on a free port with its data in a temporary folder, waits until the
broker answers metadata requests and stops it at the end of the session, also when a test
failed. Tests that use it skip with the reason where confluent-kafka, Java or Maven is missing.

The :class:`Broker` it yields has small helpers: ``create_topic``, ``produce``,
``end_offsets`` and ``committed`` (a consumer group's committed offsets).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools" / "kafka"
START_TIMEOUT = 120.0
FETCH_TIMEOUT = 900.0


class Broker:
    """A running broker (``bootstrap``) and helpers to set up and inspect topics."""

    def __init__(self, bootstrap: str, process: subprocess.Popen, log: Path) -> None:
        self.bootstrap = bootstrap
        self.process = process
        self.log = log

    def admin(self):
        from confluent_kafka.admin import AdminClient
        return AdminClient({"bootstrap.servers": self.bootstrap})

    def create_topic(self, name: str, partitions: int = 1) -> None:
        from confluent_kafka.admin import NewTopic
        admin = self.admin()  # keep the handle alive until the futures are done
        futures = admin.create_topics([NewTopic(name, partitions, 1)], operation_timeout=30)
        futures[name].result(timeout=60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait until every partition has a leader
            meta = admin.list_topics(name, timeout=10).topics.get(name)
            if meta is not None and len(meta.partitions) == partitions and all(
                    p.leader >= 0 for p in meta.partitions.values()):
                return
            time.sleep(0.2)
        raise RuntimeError(f"topic {name} has no leaders after 30 s")

    def produce(self, topic: str, messages: Iterable[Tuple[Optional[bytes], bytes]],
                partition: Optional[int] = None) -> int:
        """Produce (key, value) pairs and wait until all are acknowledged."""
        from confluent_kafka import Producer
        producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5,
                             "message.max.bytes": 10_000_000, "acks": "all"})
        failed: List[str] = []

        def done(err, msg):
            if err is not None:
                failed.append(str(err))

        n = 0
        for key, value in messages:
            kwargs = {} if partition is None else {"partition": partition}
            while True:
                try:
                    producer.produce(topic, value=value, key=key, on_delivery=done, **kwargs)
                    break
                except BufferError:
                    producer.poll(0.1)
            n += 1
        left = producer.flush(60)
        if left or failed:
            raise RuntimeError(f"produce: {left} not delivered, errors {failed[:3]}")
        return n

    def end_offsets(self, topic: str) -> Dict[int, int]:
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "offsets-probe"})
        try:
            meta = c.list_topics(topic, timeout=10).topics[topic]
            return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                    for p in meta.partitions}
        finally:
            c.close()

    def committed(self, group: str, topic: str) -> Dict[int, int]:
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group,
                      "enable.auto.commit": False})
        try:
            meta = c.list_topics(topic, timeout=10).topics[topic]
            tps = [TopicPartition(topic, p) for p in meta.partitions]
            return {tp.partition: tp.offset for tp in c.committed(tps, timeout=10)}
        finally:
            c.close()


def _free_port_pair() -> int:
    """A port P with P and P+1 free on 127.0.0.1 (client and controller listeners)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 65535:
            continue
        try:
            with socket.socket() as s2:
                s2.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free pair of ports on 127.0.0.1")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory):
    pytest.importorskip("confluent_kafka", reason="confluent-kafka is not installed (the "
                        "'lasair' extra); the Kafka tests need it")
    if shutil.which("java") is None:
        pytest.skip("Java is not installed: the Apache Kafka broker needs Java 17")
    libs_done = ROOT / ".cache" / "kafka"
    if shutil.which("mvn") is None and not any(libs_done.glob("*/libs/.complete")):
        pytest.skip("Maven (mvn) is not installed: it fetches the Kafka broker's jars once")
    fetched = subprocess.run(["bash", str(TOOLS / "fetch.sh")], capture_output=True, text=True,
                             timeout=FETCH_TIMEOUT)
    if fetched.returncode != 0:
        pytest.fail(f"fetching the Kafka jars failed: {fetched.stderr[-2000:]}")
    base = tmp_path_factory.mktemp("kafka")
    port = _free_port_pair()
    log = base / "broker.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            ["bash", str(TOOLS / "kafka-local"), "--port", str(port), "--data",
             str(base / "data")], stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        _wait_ready(port, process, log)
        yield Broker(f"127.0.0.1:{port}", process, log)
    finally:
        _stop(process)


def _wait_ready(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Kafka broker exited ({process.returncode}):\n"
                               f"{log.read_text()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        raise RuntimeError(f"the Kafka broker did not open port {port} in {START_TIMEOUT} s")
    from confluent_kafka.admin import AdminClient
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"})
    while time.monotonic() < deadline:
        try:
            if admin.list_topics(timeout=5).brokers:
                return
        except Exception:  # noqa: BLE001 - not ready yet
            time.sleep(0.3)
    raise RuntimeError("the Kafka broker does not answer metadata requests")
