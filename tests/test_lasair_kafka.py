"""``vra lasair run`` end to end on a real Apache Kafka broker (KRaft, 127.0.0.1), annotating
into a Lasair double with the real ``lasair`` client.

The stream is made of real Lasair messages (tests/data/lasair, full alerts): each object's
alert is replayed as it grew, one message per detection (the packet as it was at that
detection), in time order, keyed by object as Lasair keys them, plus the stream's own
alert-less duplicates and a few broken messages. Every check compares Lasair's final
annotation per object with the newest scoreable message of that object, scored in-process:

* a clean run, one consumer;
* the crash run: SIGKILL after consuming, after scoring, after Lasair accepted a call and
  before the commit, restarting each time; nothing lost, the result equals the clean run;
* the rebalance run: two consumers on four partitions while the stream is produced, one
  killed: nothing lost, the result equals the single-consumer run;
* the throughput of the whole loop (Kafka -> core with ORACLE -> annotate double) on one core.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

pytest.importorskip("confluent_kafka", reason="confluent-kafka is not installed (the 'lasair' "
                    "extra)")
pytest.importorskip("lasair", reason="the lasair client is not installed (the 'lasair' extra)")

from lasair_double import LasairDouble  # noqa: E402

import vra_filters as vra  # noqa: E402
from vra_lasair.payload import to_item  # noqa: E402

DATA = Path(__file__).parent / "data" / "lasair"
FILES = [DATA / "20260205_073301.json.gz", DATA / "20260202_102448_subset.json"]
ANN_TOPIC = "vra_filters"
#: Detections replayed per object at most (the longest real object has 87).
CAP = 40
RUN_TIMEOUT = 90


# ------------------------------------------------------------------------------ the stream

def _records() -> List[Dict[str, Any]]:
    import gzip
    out = []
    for path in FILES:
        raw = gzip.open(path, "rt").read() if path.suffix == ".gz" else path.read_text()
        out.extend(json.loads(re.sub(r",(\s*[}\]])", r"\1", raw)))  # hand-edit trailing commas
    return out


def _mjd(src: Dict[str, Any]) -> float:
    return float(src["midpointMjdTai"])


def make_stream(copies: int = 1) -> List[Dict[str, Any]]:
    """Messages (dicts with key, value, oid, mjd) in stream order; ``copies`` > 1 repeats the
    objects under new ids (for the throughput run)."""
    msgs: List[Dict[str, Any]] = []
    for rec in _records():
        oid = int(rec["diaObjectId"])
        alert = rec.get("alert")
        if not alert:  # Lasair's duplicate without the packet: a counted skip
            msgs.append({"oid": oid, "mjd": float(rec.get("lastDiaSourceMjdTai") or 0),
                         "rec": rec})
            continue
        sources = sorted(alert["diaSourcesList"], key=_mjd)[:CAP]
        for k in range(1, len(sources) + 1):
            t = _mjd(sources[k - 1])
            grown = dict(alert, diaSourcesList=sources[:k])
            for name in ("diaForcedSourcesList", "diaNondetectionLimitsList"):
                grown[name] = [x for x in alert.get(name) or [] if _mjd(x) <= t]
            msgs.append({"oid": oid, "mjd": t, "rec": dict(
                rec, alert=grown, lastDiaSourceMjdTai=t, nDiaSources=k)})
    msgs.sort(key=lambda m: (m["mjd"], m["oid"]))
    out = []
    for c in range(copies):
        for m in msgs:
            text = json.dumps(m["rec"])  # bare NaN, as Lasair writes them
            oid = m["oid"] + c * 10**12
            if c:
                text = text.replace(str(m["oid"]), str(oid))
            out.append({"oid": oid, "mjd": m["mjd"], "value": text.encode()})
    # a message with a trailing comma, and two that cannot be scored
    out.insert(len(out) // 3, dict(out[len(out) // 3], value=out[len(out) // 3]["value"][:-1]
                                   + b",}"))
    out.insert(len(out) // 2, {"oid": None, "mjd": 0.0, "value": b"this is not JSON"})
    out.insert(2 * len(out) // 3, {"oid": 12345, "mjd": 0.0,
                                   "value": b'{"diaObjectId": 12345, "alert": {}}'})
    return out


def expected_final(stream: List[Dict[str, Any]], scorer) -> Dict[str, Any]:
    """What Lasair should hold at the end: per object, the newest scoreable message's item;
    and each scoreable message's (object, mjd) to count losses."""
    scored = []
    for m in stream:
        got = scorer.score(vra.read(m["value"], format="lasair").lightcurves,
                           history="packet").annotations
        scored.extend(got)
    best: Dict[int, Any] = {}
    for a in scored:
        item = to_item(a, ANN_TOPIC)
        key = (a.mjd, int(a.alert_id))
        if item["objectId"] not in best or key >= best[item["objectId"]][0]:
            best[item["objectId"]] = (key, item)
    return {"items": {oid: item for oid, (_, item) in best.items()},
            "messages": [(int(a.object_id), a.mjd) for a in scored]}


def _key(m: Dict[str, Any]) -> Optional[bytes]:
    return str(m["oid"]).encode() if m["oid"] is not None else None


@pytest.fixture(scope="module")
def scorer():
    return vra.Scorer.load()


@pytest.fixture(scope="module")
def stream():
    return make_stream()


@pytest.fixture(scope="module")
def expected(stream, scorer):
    return expected_final(stream, scorer)


@pytest.fixture(scope="module")
def topic(kafka_broker, stream):
    kafka_broker.create_topic("lasair_1vra_test", partitions=4)
    kafka_broker.produce("lasair_1vra_test", [(_key(m), m["value"]) for m in stream])
    return "lasair_1vra_test"


# ------------------------------------------------------------------------------ running it

def write_config(path: Path, broker, topic: str, double: LasairDouble, outbox: Path,
                 group: str, **extra: Any) -> Path:
    values = dict(bootstrap_servers=broker.bootstrap, group_id=group, topic=topic,
                  annotation_topic=ANN_TOPIC, endpoint=double.endpoint, outbox=str(outbox),
                  poll_batch=10, calls_per_hour=1e6, burst=10, batch_max=100,
                  http_timeout=3.0, backoff_initial=0.2, backoff_max=1.0, session_timeout=6.0,
                  health_every=2.0, poll_timeout=0.5)
    values.update(extra)
    lines = ["[lasair]"] + [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def start(cfg: Path, double: LasairDouble, *args: str, failpoint: str = "",
          cpu: Optional[int] = None) -> subprocess.Popen:
    env = dict(os.environ, LASAIR_TOKEN=double.token, PYTHONUNBUFFERED="1")
    env.pop("VRA_LASAIR_FAILPOINT", None)
    if failpoint:
        env["VRA_LASAIR_FAILPOINT"] = failpoint
    cmd = [sys.executable, "-m", "vra_filters.cli", "lasair", "run", "--config", str(cfg),
           *args]
    if cpu is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(cpu)] + cmd
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(p: subprocess.Popen, timeout: float = RUN_TIMEOUT):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError(f"annotator did not stop in {timeout} s:\n{err[-3000:]}") from None
    return p.returncode, err


def figures(err: str, what: str = "done") -> List[Dict[str, Any]]:
    return [json.loads(m.group(1)) for m in re.finditer(rf" {what} (\{{.*\}})$", err, re.M)]


def losses(double: LasairDouble, expected: Dict[str, Any]) -> int:
    """Scoreable messages whose object does not hold their annotation or a newer one."""
    final = double.final()
    lost = 0
    for oid, mjd in expected["messages"]:
        got = final.get(oid)
        if got is None or got["classdict"]["mjd"] < round(mjd, 6):
            lost += 1
    return lost


def compare(double: LasairDouble, expected: Dict[str, Any]) -> None:
    final = double.final()
    assert set(final) == set(expected["items"])
    for oid, item in expected["items"].items():
        got = final[oid]
        assert (got["classification"], got["version"], got["explanation"],
                got["classdict"]) == (item["classification"], item["version"],
                                      item["explanation"], item["classdict"]), oid
    assert double.hazards == []


def all_committed(broker, group: str, topic: str) -> None:
    assert broker.committed(group, topic) == broker.end_offsets(topic)


# ------------------------------------------------------------------------------ the tests

def test_clean_run_annotates_every_object_with_its_newest_alert(kafka_broker, topic, stream,
                                                                expected, tmp_path):
    with LasairDouble() as double:
        cfg = write_config(tmp_path / "c.toml", kafka_broker, topic, double,
                           tmp_path / "outbox.sqlite", "clean")
        code, err = finish(start(cfg, double, "--idle-exit", "3"))
        assert code == 0, err[-3000:]
        done = figures(err)[-1]
        assert done["consumed"] == len(stream)
        assert done["scored"] == len(expected["messages"])
        assert done["skipped"] == len(stream) - len(expected["messages"])
        reasons = " | ".join(done["skip_reasons"])
        assert "no alert packet" in reasons and "corrupt JSON" in reasons
        assert done["queued"] == 0 and done["rejected"] == 0 and done["drained"]
        assert done["lag"] == 0 and done["commit_failed"] == 0
        assert figures(err, "health"), "no health line"
        compare(double, expected)
        assert losses(double, expected) == 0
        all_committed(kafka_broker, "clean", topic)
        assert double.token not in err


def test_sigkill_at_every_stage_loses_nothing(kafka_broker, topic, stream, expected, tmp_path):
    with LasairDouble() as double:
        cfg = write_config(tmp_path / "c.toml", kafka_broker, topic, double,
                           tmp_path / "outbox.sqlite", "crash", group_instance_id="crash-1")
        kills = ["consumed:3", "scored:5", "sent:3", "queued:7", "queued:3,sent:2"]
        for point in kills:
            code, err = finish(start(cfg, double, failpoint=point))
            assert code == -9, f"{point}: exit {code}\n{err[-2000:]}"
            hit = re.search(r"failpoint (\w+:\d+) reached", err)
            assert hit and hit.group(1) in point.split(","), err[-2000:]
        code, err = finish(start(cfg, double, "--idle-exit", "3"))
        assert code == 0, err[-3000:]
        compare(double, expected)
        lost = losses(double, expected)
        assert lost == 0
        all_committed(kafka_broker, "crash", topic)
        print(f"\ncrash test: {len(kills)} SIGKILLs, messages lost: {lost}")


def test_a_failing_lasair_neither_loses_nor_stalls(kafka_broker, topic, stream, expected,
                                                   tmp_path):
    with LasairDouble() as double:
        # Lasair down for a while: three hung calls (3 s client timeout each), then errors
        double.script.extend([("hang", 4.0)] * 3 + [500, 429, 400, 503])
        cfg = write_config(tmp_path / "c.toml", kafka_broker, topic, double,
                           tmp_path / "outbox.sqlite", "failing", health_every=0.5)
        code, err = finish(start(cfg, double, "--idle-exit", "3"))
        assert code == 0, err[-3000:]
        health = figures(err, "health")
        # the stream was consumed and committed while the annotations waited in the outbox
        caught_up = [h for h in health if h["consumed"] == len(stream) and h["lag"] == 0]
        assert caught_up and caught_up[0]["queued"] > 0, health[-3:]
        done = figures(err)[-1]
        assert done["failed_calls"] >= 6 and done["refused_calls"] >= 1
        assert done["queued"] == 0 and done["rejected"] == 0
        compare(double, expected)
        assert losses(double, expected) == 0
        all_committed(kafka_broker, "failing", topic)


def _produce_slowly(broker, topic, stream, seconds):
    pause = seconds / len(stream)
    for i in range(0, len(stream), 10):
        part = stream[i:i + 10]
        broker.produce(topic, [(_key(m), m["value"]) for m in part])
        time.sleep(10 * pause)


def test_rebalance_with_a_consumer_killed_loses_nothing(kafka_broker, stream, expected,
                                                        tmp_path):
    name = "lasair_1vra_rebalance"
    kafka_broker.create_topic(name, partitions=4)
    with LasairDouble() as double:
        box = tmp_path / "shared-outbox.sqlite"  # one outbox for the processes of one host
        cfg = write_config(tmp_path / "c.toml", kafka_broker, name, double, box, "rebalance")
        producer = threading.Thread(target=_produce_slowly,
                                    args=(kafka_broker, name, stream, 12.0), daemon=True)
        b = start(cfg, double, "--idle-exit", "12")
        producer.start()
        time.sleep(2.0)
        a = start(cfg, double, failpoint="queued:6")
        code_a, err_a = finish(a)
        producer.join(60)
        code_b, err_b = finish(b)
        assert code_a == -9 and "failpoint queued:6 reached" in err_a, err_a[-2000:]
        assert code_b == 0, err_b[-3000:]
        done = figures(err_b)[-1]  # a scored six batches of its share, then died uncommitted
        assert done["consumed"] > 0
        compare(double, expected)
        lost = losses(double, expected)
        assert lost == 0
        all_committed(kafka_broker, "rebalance", name)
        print(f"\nrebalance test: consumer a killed, b consumed {done['consumed']} of "
              f"{len(stream)}; messages lost: {lost}")


def test_throughput_of_the_whole_loop_on_one_core(kafka_broker, scorer, tmp_path):
    # VRA_THROUGHPUT_COPIES (default 6) makes the stream longer for a steadier figure
    big = make_stream(copies=int(os.environ.get("VRA_THROUGHPUT_COPIES", "6")))
    name = "lasair_1vra_throughput"
    kafka_broker.create_topic(name, partitions=1)
    kafka_broker.produce(name, [(_key(m), m["value"]) for m in big])
    with LasairDouble() as double:
        cfg = write_config(tmp_path / "c.toml", kafka_broker, name, double,
                           tmp_path / "outbox.sqlite", "throughput", poll_batch=200,
                           batch_max=500)
        code, err = finish(start(cfg, double, "--idle-exit", "3", cpu=0), timeout=150)
        assert code == 0, err[-3000:]
        done = figures(err)[-1]
        assert done["consumed"] == len(big) and done["queued"] == 0
        rate = done["msg_per_s"]
        print(f"\nthroughput: {done['consumed']} messages in {done['busy_s']} s = {rate} msg/s "
              f"(Kafka -> VRA + ORACLE, packet history -> annotate_list double, one core)")
        assert rate > 20
