"""The Lasair adapter's annotation side: payload limits, the outbox's rules, the rate limit,
and the sender against a Lasair double on 127.0.0.1 with the real ``lasair`` client (400, 401,
429, 500, slow and hanging replies), the dry run, the settings and the token."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("lasair", reason="the lasair client is not installed (the 'lasair' extra)")

from lasair_double import LasairDouble  # noqa: E402

import vra_filters as vra  # noqa: E402
from vra_lasair import config as C  # noqa: E402
from vra_lasair.outbox import Entry, Outbox  # noqa: E402
from vra_lasair.payload import PayloadError, check, to_item  # noqa: E402
from vra_lasair.ratelimit import TokenBucket  # noqa: E402
from vra_lasair.runner import Runner  # noqa: E402
from vra_lasair.sender import Sender, lasair_client  # noqa: E402

DATA = Path(__file__).parent / "data" / "lasair"
FILES = [DATA / "20260205_073301.json.gz", DATA / "20260202_102448_subset.json"]
TOPIC = "vra_filters"


@pytest.fixture(scope="module")
def scorer():
    return vra.Scorer.load()


@pytest.fixture(scope="module")
def annotations(scorer):
    lcs = vra.read(FILES, format="lasair").lightcurves
    out = scorer.score(lcs, history="packet")
    assert not out.skips
    return out.annotations


def settings(**kw):
    base = dict(annotation_topic=TOPIC, endpoint="http://127.0.0.1:1/api", http_timeout=2.0,
                backoff_initial=0.05, backoff_max=0.2, calls_per_hour=1e6, burst=5,
                batch_max=500, max_rejections=2)
    base.update(kw)
    return C.load(env={}, **base).check(kafka=False, send=True)


def entries(anns):
    out = []
    for a in anns:
        item = to_item(a, TOPIC)
        out.append(Entry(TOPIC, item["objectId"], a.mjd, a.alert_id, item))
    return out


# ------------------------------------------------------------------------------ payloads

def test_items_from_real_alerts_keep_every_lasair_limit(annotations):
    assert len(annotations) == 36
    for a in annotations:
        item = to_item(a, TOPIC, url="https://example.org/vra")
        assert item["classification"] == a.tier and item["classification"] in vra.TIERS
        assert len(item["classification"]) <= 16 and len(item["version"]) <= 16
        assert item["version"].endswith(a.settings[:len(item["version"]) - 6])
        assert len(item["explanation"]) <= 1024
        text = json.dumps(item["classdict"])  # as the lasair client serialises it
        assert len(text) <= 4096 and "\\" not in text and "NaN" not in text
        assert all(type(v) in (bool, int, float, str, type(None))
                   for v in item["classdict"].values())
        assert item["objectId"] == int(a.object_id)
        cd = item["classdict"]
        assert cd["tier"] == a.tier and cd["visit"] == a.visit
        assert cd["vra_score"] == pytest.approx(a.vra_score, abs=1e-6)
        assert cd["diaSourceId"] == int(a.alert_id)
        assert cd["oracle_class"] == a.oracle["most_specific"]["class"]
        # the model that ran and why, and the caveats, as the annotation has them
        assert cd["oracle_model"] == a.oracle["model"] == "elasticc-lite"
        assert cd["oracle_routed"] == a.oracle["routed"]
        assert cd["oracle_warnings"].split(",") == (a.oracle["warnings"] or [""])
        assert cd["vra_real_model"] == f"{a.models['real']['name']}@{a.models['real']['version']}"
        for k in range(1, 4):
            assert 0 <= cd[f"oracle_top{k}_p"] <= 1
        assert cd["oracle_top1_p"] >= cd["oracle_top2_p"] >= cd["oracle_top3_p"]
    few = [a for a in annotations if "too_few_points" in a.oracle["warnings"]]
    assert few and all("too_few_points" in to_item(a, TOPIC)["classdict"]["oracle_warnings"]
                       for a in few)


def test_hostile_text_and_nan_are_made_safe(annotations):
    a = annotations[0].replace(
        explanation="it's a \\ \"quoted\" caf\u00e9\n" * 200, vra_score=math.nan,
        rank=math.inf, policy="o'brien\\", settings="abc'def\u00e9" * 9)
    item = to_item(a, TOPIC)
    check(item)
    assert len(item["explanation"]) == 1024
    assert item["classdict"]["vra_score"] is None and item["classdict"]["rank"] is None
    blob = json.dumps(item)
    assert "'" not in blob.replace('"', "") and "\\" not in json.dumps(item["classdict"])
    with LasairDouble() as double:  # the real client's serialisation is accepted, no hazard
        client = lasair_client(double.token, double.endpoint, 5)
        assert client.annotate_list([item])["status"] == "success"
        assert double.hazards == []


def test_a_non_integer_object_id_is_a_payload_error(annotations):
    with pytest.raises(PayloadError, match="not a Lasair diaObjectId"):
        to_item(annotations[0].replace(object_id="ZTF23aabplmy"), TOPIC)


# ------------------------------------------------------------------------------ rate limit

def test_token_bucket_keeps_to_calls_per_hour():
    bucket = TokenBucket(100, burst=2)
    state, calls = bucket.full(0.0), []
    for t in range(0, 3 * 3600, 2):  # a sender that tries every 2 s for 3 hours
        ok, state, wait = bucket.take(state, float(t))
        if ok:
            calls.append(t)
        else:
            assert 0 < wait <= 36.0
    assert 300 <= len(calls) <= 302
    for start in range(0, 2 * 3600, 60):
        assert sum(start <= c < start + 3600 for c in calls) <= 102


def test_rate_budget_is_shared_by_every_process_on_one_outbox(tmp_path):
    now = [1000.0]
    a = Outbox(tmp_path / "o.sqlite", calls_per_hour=3600, burst=1, clock=lambda: now[0])
    b = Outbox(tmp_path / "o.sqlite", calls_per_hour=3600, burst=1, clock=lambda: now[0])
    item = {"objectId": 1, "topic": TOPIC, "classification": "garbage"}
    a.put([Entry(TOPIC, i, 1.0, str(i), dict(item, objectId=i)) for i in range(1, 5)])
    got, _ = a.claim("A", 1, 60)
    assert len(got) == 1
    got_b, wait = b.claim("B", 1, 60)  # same second: the one-call bucket is empty for both
    assert got_b == [] and 0 < wait <= 1.0
    now[0] += 1.0
    got_b, _ = b.claim("B", 1, 60)
    assert len(got_b) == 1 and got_b[0].object_id != got[0].object_id


# ------------------------------------------------------------------------------ outbox

def _item(oid, mjd):
    return {"objectId": oid, "topic": TOPIC, "classification": "garbage",
            "classdict": {"mjd": mjd}}


def test_outbox_never_puts_a_stale_score_over_a_newer_one(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    e = lambda mjd, alert: Entry(TOPIC, 7, mjd, alert, _item(7, mjd))  # noqa: E731
    assert box.put([e(10.0, "100")])["queued"] == 1
    assert box.put([e(9.0, "90")])["stale"] == 1
    assert box.put([e(10.0, "100")])["unchanged"] == 1
    claimed, _ = box.claim("A", 10, 60)
    assert [c.mjd for c in claimed] == [10.0]
    assert box.put([e(11.0, "110")])["replaced"] == 1  # newer arrives while 10 is in flight
    assert box.claim("B", 10, 60)[0] == []  # ...and waits for that call to end
    box.done("A", claimed)
    assert box.stats()["queued"] == 1  # 11 is still due
    claimed, _ = box.claim("B", 10, 60)
    assert [c.mjd for c in claimed] == [11.0]
    box.done("B", claimed)
    assert box.put([e(10.0, "100")])["stale"] == 1  # a re-delivery of an older message
    assert box.put([e(11.0, "110")])["unchanged"] == 1
    assert box.stats() == {"queued": 0, "retrying": 0, "rejected": 0, "sent_objects": 1,
                           "calls": 2}
    box.close()
    again = Outbox(tmp_path / "o.sqlite")  # durable: reopened, it still knows what was sent
    assert again.put([e(10.5, "105")])["stale"] == 1


def test_a_dead_senders_lease_expires(tmp_path):
    now = [0.0]
    box = Outbox(tmp_path / "o.sqlite", clock=lambda: now[0])
    box.put([Entry(TOPIC, 1, 1.0, "1", _item(1, 1.0))])
    assert len(box.claim("dead", 10, lease=60)[0]) == 1
    now[0] = 30.0
    assert box.claim("alive", 10, lease=60)[0] == []
    now[0] = 61.0
    assert len(box.claim("alive", 10, lease=60)[0]) == 1


# ------------------------------------------------------------------------------ sender + double

def _deliver(sender, timeout=30.0):
    assert sender.drain(timeout), f"outbox not drained: {sender.outbox.stats()}"


def _expected(anns):
    return {e.object_id: e.item for e in entries(anns)}


def _assert_final(double, anns):
    final = double.final()
    expected = _expected(anns)
    assert set(final) == set(expected)
    for oid, item in expected.items():
        got = final[oid]
        assert got["classification"] == item["classification"]
        assert got["version"] == item["version"] and got["explanation"] == item["explanation"]
        assert got["classdict"] == item["classdict"]


def test_errors_and_hangs_lose_nothing(tmp_path, annotations):
    with LasairDouble() as double:
        s = settings(endpoint=double.endpoint, http_timeout=1.0, batch_max=10)
        box = Outbox(tmp_path / "o.sqlite", calls_per_hour=1e6, burst=5)
        box.put(entries(annotations))
        double.script.extend([429, 500, ("hang", 2.0), 400, 502, ("slow", 0.3)])
        sender = Sender(box, lasair_client(double.token, s.endpoint, s.http_timeout), s,
                        token=double.token)
        _deliver(sender)
        _assert_final(double, annotations)
        statuses = [c["status"] for c in double.calls]
        assert statuses[:3] == [429, 500, "dropped"] and 400 in statuses and 502 in statuses
        assert sender.counts["failed_calls"] == 4  # 429, 500, the hang, 502
        assert sender.counts["refused_calls"] == 1  # the 400: sent again in halves
        assert box.stats()["rejected"] == 0 and double.hazards == []
        assert sender.counts["annotated"] == 36


def test_an_item_lasair_refuses_is_set_aside_and_the_rest_go(tmp_path, annotations):
    with LasairDouble() as double:
        s = settings(endpoint=double.endpoint, max_rejections=2)
        box = Outbox(tmp_path / "o.sqlite", calls_per_hour=1e6, burst=5)
        good = entries(annotations[:9])
        bad = Entry(TOPIC, 42, 1.0, "1", dict(good[0].item, objectId=42,
                                              classification="x" * 81))
        box.put(good[:4] + [bad] + good[4:])
        sender = Sender(box, lasair_client(double.token, s.endpoint, 5), s)
        _deliver(sender)
        assert set(double.final()) == {e.object_id for e in good}
        rejected = box.rejected()
        assert [r["object_id"] for r in rejected] == [42]
        assert "no more than 80 characters" in rejected[0]["reason"]
        assert len(double.calls) <= 12  # halving finds it in a few calls, not one per item
        assert box.requeue_rejected() == 1 and box.stats()["queued"] == 1


def test_wrong_token_or_inactive_topic_pause_and_keep_everything(tmp_path, annotations,
                                                                 caplog):
    topics = {TOPIC: {"user": "test-token-0123456789", "active": False}}
    with LasairDouble(topics=topics) as double:
        s = settings(endpoint=double.endpoint)
        box = Outbox(tmp_path / "o.sqlite", calls_per_hour=1e6, burst=5)
        box.put(entries(annotations))
        wrong = "wrong-token-abcdef"
        with caplog.at_level(logging.WARNING, logger="vra_lasair"):
            sender = Sender(box, lasair_client(wrong, s.endpoint, 5), s, token=wrong)
            assert not sender.drain(0.6)
            assert "Unauthorized" in sender.last_error
            sender = Sender(box, lasair_client(double.token, s.endpoint, 5), s)
            assert not sender.drain(0.6)
            assert "not active" in sender.last_error
        assert box.stats()["queued"] == 36 and box.stats()["rejected"] == 0
        assert wrong not in caplog.text
        double.topics[TOPIC]["active"] = True
        _deliver(sender)
        _assert_final(double, annotations)
    assert wrong.encode() not in (tmp_path / "o.sqlite").read_bytes()


def test_a_hanging_lasair_does_not_hold_the_consumer(tmp_path, scorer):
    lcs = vra.read(FILES, format="lasair").lightcurves
    with LasairDouble() as double:
        s = settings(endpoint=double.endpoint, http_timeout=1.5, outbox=str(tmp_path / "o"),
                     batch_max=8)
        runner = Runner(s, scorer, lasair_client(double.token, s.endpoint, s.http_timeout))
        double.script.extend([("hang", 3.0), ("hang", 3.0)])
        stop = threading.Event()
        thread = threading.Thread(target=runner._send_loop, args=(stop,), daemon=True)
        thread.start()
        try:
            times = []
            for chunk in (lcs[:12], lcs[12:24], lcs[24:]):
                t0 = time.monotonic()
                runner.handle_items(chunk)
                times.append(time.monotonic() - t0)
                time.sleep(0.3)
            assert max(times) < 1.0, times  # scoring and queueing went on during the hang
            deadline = time.monotonic() + 30
            while runner.outbox.stats()["queued"] and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stop.set()
            thread.join(10)
        assert [c["status"] for c in double.calls[:2]] == ["dropped", "dropped"]
        assert len(double.final()) == 36 and runner.outbox.stats()["queued"] == 0
        runner.close()


def test_client_side_limit_spaces_the_calls(tmp_path, annotations):
    with LasairDouble() as double:
        s = settings(endpoint=double.endpoint, calls_per_hour=7200, burst=1, batch_max=4)
        box = Outbox(tmp_path / "o.sqlite", calls_per_hour=7200, burst=1)
        box.put(entries(annotations[:20]))
        sender = Sender(box, lasair_client(double.token, s.endpoint, 5), s)
        _deliver(sender)
        at = [c["at"] for c in double.calls]
        assert len(at) == 5  # 20 annotations, 4 per call
        gaps = [b - a for a, b in zip(at, at[1:])]
        assert min(gaps) >= 0.45, gaps  # 7200/h = one call every 0.5 s


# ------------------------------------------------------------------------------ dry run, cli

def test_dry_run_writes_the_exact_annotate_list_payloads(tmp_path, annotations):
    from vra_filters.cli import main

    out = tmp_path / "payloads.jsonl"
    assert main(["lasair", "run", "--input", *map(str, FILES), "--dry-run",
                 "--out", str(out)]) == 0
    calls = [json.loads(line) for line in out.read_text().splitlines()]
    items = [i for call in calls for i in call]
    assert len(calls) == 1 and len(items) == 36
    expected = _expected(annotations)
    assert {i["objectId"]: i for i in items} == expected
    with LasairDouble() as double:  # what the dry run wrote is what Lasair takes
        client = lasair_client(double.token, double.endpoint, 5)
        assert client.annotate_list(calls[0]) == {"status": "success", "n": 36}
        assert double.hazards == []


def test_input_files_annotate_through_the_real_client(tmp_path, annotations, monkeypatch,
                                                     capsys):
    from vra_filters.cli import main

    with LasairDouble() as double:
        monkeypatch.setenv("LASAIR_TOKEN", double.token)
        args = ["lasair", "run", "--input", *map(str, FILES), "--endpoint", double.endpoint,
                "--annotation-topic", TOPIC, "--outbox", str(tmp_path / "o.sqlite")]
        assert main(args) == 0
        _assert_final(double, annotations)
        assert main(args) == 0  # the same files again: nothing new to send
        assert len(double.accepted_calls()) == 1
    err = capsys.readouterr().err
    assert double.token not in err
    done = [json.loads(line.split(" done ", 1)[1]) for line in err.splitlines()
            if " done " in line]
    assert [d["annotated"] for d in done] == [36, 0]
    assert done[1]["unchanged"] == 36 and done[1]["sent_objects"] == 36


def test_a_state_store_dedupes_redeliveries(tmp_path, scorer):
    lcs = vra.read(FILES, format="lasair").lightcurves
    s = settings(outbox=str(tmp_path / "o.sqlite"))
    store = vra.SQLiteStore(tmp_path / "state.sqlite")
    runner = Runner(s, scorer, None, store=store)
    runner.handle_items(lcs)
    runner.handle_items(lcs)  # Kafka delivers the batch again after a crash
    assert runner.stream.counts["new"] == 36 and runner.stream.counts["duplicate"] == 36
    assert runner.counts["queued"] == 36 and runner.counts["unchanged"] == 36
    runner.close()


def test_settings_from_toml_and_environment(tmp_path):
    cfg = tmp_path / "lasair.toml"
    cfg.write_text('[lasair]\ngroup_id = "g1"\ntopic = "lasair_2Hasabsmag"\n'
                   'annotation_topic = "vra_filters"\npoll_batch = 50\n')
    s = C.load(str(cfg), env={"VRA_LASAIR_POLL_BATCH": "20"})
    assert (s.group_id, s.topic, s.poll_batch) == ("g1", "lasair_2Hasabsmag", 20)
    assert s.check(kafka=True, send=True) is s
    assert C.load(str(cfg), env={}, poll_batch=7).poll_batch == 7
    (tmp_path / "bad.toml").write_text('[lasair]\nlasair_token = "abc"\n')
    with pytest.raises(C.ConfigError, match="LASAIR_TOKEN"):
        C.load(str(tmp_path / "bad.toml"), env={})
    with pytest.raises(C.ConfigError, match="lower-case"):
        C.load(env={}, annotation_topic="VRA-filters").check(kafka=False, send=False)
    with pytest.raises(C.ConfigError, match="group_id is not set"):
        C.load(env={}, annotation_topic="vra").check(kafka=True, send=True)
    with pytest.raises(C.ConfigError, match="not set"):
        C.token(env={})
    assert C.token(env={"LASAIR_TOKEN": " t0k3n "}) == "t0k3n"
    assert C.redact("Token abcd1234 refused", "abcd1234") == "Token *** refused"


def test_outbox_command_drains_a_retired_hosts_outbox(tmp_path, annotations, monkeypatch,
                                                      capsys):
    from vra_filters.cli import main

    path = tmp_path / "old-host.sqlite"
    box = Outbox(path)
    box.put(entries(annotations))
    box.close()
    with LasairDouble() as double:
        monkeypatch.setenv("LASAIR_TOKEN", double.token)
        monkeypatch.setenv("VRA_LASAIR_ENDPOINT", double.endpoint)
        assert main(["lasair", "outbox", "--outbox", str(path), "--drain"]) == 0
        _assert_final(double, annotations)
    report = json.loads(capsys.readouterr().out)
    assert report["queued"] == 0 and report["sent_objects"] == 36
