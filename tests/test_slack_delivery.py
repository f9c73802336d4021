"""The notifier posting through the real ``slack_sdk.WebClient`` to the Slack double
(test_slack_double.py): content and PNG bytes as Slack receives them, no re-post after a
restart, 429s honoured, the upload URL failing, Slack down then back, a wrong token, the
token never written anywhere, and the live ``SlackSink``.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("slack_sdk", reason="slack_sdk is not installed "
                                        "(pip install 'vra-filters[slack]')")

from test_slack_double import CHANNELS, TOKEN, SlackDouble, free_port  # noqa: E402

from vra_slack import config as cfg  # noqa: E402
from vra_slack import plots, sources  # noqa: E402
from vra_slack.cli import main  # noqa: E402
from vra_slack.deliver import drain  # noqa: E402
from vra_slack.notifier import Notifier  # noqa: E402
from vra_slack.queue import Queue  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
ATLAS_ANN = DATA / "slack" / "atlas_2020tjh_annotations.jsonl"
ATLAS_ALERTS = DATA / "slack" / "atlas_2020tjh_host_distance.json.gz"
LASAIR_ANN = DATA / "slack" / "lasair_20260205_annotations.jsonl"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Environment and config file for a run against a double; returns a setter of the URL."""
    conf = tmp_path / "slack.toml"
    conf.write_text("[slack]\nmin_interval_s = 0.0\nbackoff_base_s = 0.2\n"
                    "backoff_cap_s = 1.0\n")
    values = {"SLACK_BOT_TOKEN": TOKEN, "VRA_SLACK_CHANNEL_FAST_TRACK": CHANNELS[0],
              "VRA_SLACK_CHANNEL_DIGEST": CHANNELS[1], "VRA_SLACK_CHANNEL_WEEKLY": CHANNELS[2],
              "VRA_SLACK_QUEUE": str(tmp_path / "queue.sqlite")}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)

    def point(base_url: str) -> list:
        monkeypatch.setenv("VRA_SLACK_BASE_URL", base_url)
        return ["--config", str(conf)]
    return point


def queue_jobs(tmp_path):
    with Queue(tmp_path / "queue.sqlite") as q:
        return {j.key: j for j in q.jobs()}


def test_fast_track_and_digest_arrive_with_the_png(env, tmp_path, capsys):
    with SlackDouble() as slack:
        args = env(slack.base_url)
        assert main(["run", str(ATLAS_ANN), str(LASAIR_ANN), "--alerts", str(ATLAS_ALERTS),
                     *args]) == 0
    assert slack.methods() == ["auth.test", "files.getUploadURLExternal", "upload",
                               "files.completeUploadExternal", "chat.postMessage"]
    (share,) = slack.shares
    assert share["channel"] == "C0FASTTRACK"
    assert share["initial_comment"].startswith(":rotating_light: *Fast track: 2020tjh*")
    assert "338 Mpc" in share["initial_comment"]
    (file_id,) = slack.uploads
    data = slack.uploads[file_id]
    assert data[:8] == PNG_MAGIC and len(data) == slack.declared[file_id]["length"]
    info = plots.describe_png(data)
    assert (info["width"], info["height"]) == (800, 450) and len(data) > 10_000
    assert slack.declared[file_id]["filename"] == "atlas_1000005291314656200_lightcurve.png"
    (msg,) = slack.messages
    assert msg["channel"] == "C0DIGEST"
    assert msg["text"] == ("VRA ingest: 1 fast track, 2 extragalactic, 0 galactic candidates "
                           "(40 alerts)")
    assert any("169760231662813776" in json.dumps(b) for b in msg["blocks"])
    jobs = queue_jobs(tmp_path)
    assert {j.status for j in jobs.values()} == {"sent"} and len(jobs) == 2
    assert "posted 2" in capsys.readouterr().err


def test_a_restart_reposts_nothing(env, tmp_path):
    """Two separate processes on the same queue: the second posts nothing."""
    with SlackDouble() as slack:
        args = env(slack.base_url)
        cmd = [sys.executable, "-m", "vra_slack", "run", str(ATLAS_ANN), str(LASAIR_ANN),
               "--alerts", str(ATLAS_ALERTS), *args]
        first = subprocess.run(cmd, capture_output=True, text=True)
        assert first.returncode == 0, first.stderr
        n = len(slack.calls)
        again = subprocess.run(cmd, capture_output=True, text=True)
        assert again.returncode == 0, again.stderr
        # the same object again later in the fast track, from another file: not re-posted
        later = tmp_path / "later.jsonl"
        rows = [json.loads(line) for line in ATLAS_ANN.read_text().splitlines()][3:]
        later.write_text("".join(json.dumps(r) + "\n" for r in rows))
        third = subprocess.run(cmd[:4] + [str(later)] + cmd[6:] + ["--no-digest"],
                               capture_output=True, text=True)
        assert third.returncode == 0, third.stderr
    assert len(slack.shares) == 1 and len(slack.messages) == 1
    assert len(slack.calls) == n  # nothing at all was sent again
    assert "fast_track/atlas/1000005291314656200 was queued or posted before" in again.stderr
    assert "was queued or posted before" in third.stderr


def test_rate_limit_is_honoured(env, tmp_path):
    next_cycle = tmp_path / "next.jsonl"  # another ingest cycle: another digest
    next_cycle.write_text("".join(LASAIR_ANN.read_text().splitlines(True)[1:]))
    with SlackDouble() as slack:
        args = env(slack.base_url)
        # two 429s: slept through inside slack_sdk (RateLimitErrorRetryHandler)
        slack.rate_limit["chat.postMessage"] = 2
        assert main(["digest", str(LASAIR_ANN), *args]) == 0
        assert slack.methods().count("chat.postMessage") == 3 and len(slack.messages) == 1
        # five 429s with Retry-After 1: three slept through in the SDK (one call), the job
        # goes back to the queue for >= Retry-After, the next call sleeps through the rest
        slack.rate_limit["chat.postMessage"] = 5
        slack.retry_after = "1"
        t0 = time.time()
        assert main(["digest", str(next_cycle), *args]) == 0
        took = time.time() - t0
    assert slack.methods().count("chat.postMessage") == 3 + 6 and len(slack.messages) == 2
    assert took >= 5.0, took  # five Retry-After: 1 waits, none skipped
    assert slack.messages[1]["text"].endswith("(31 alerts)")


def test_a_429_that_escapes_the_sdk_holds_the_queue_for_retry_after(tmp_path):
    with SlackDouble() as slack, Queue(tmp_path / "q.sqlite") as q:
        conf = cfg.load_config(env={}, base_url=slack.base_url, queue=q.path,
                               rate_limit_retries=0, channels={"digest": CHANNELS[1]},
                               min_interval_s=0.0, backoff_base_s=0.01, backoff_cap_s=0.01)
        Notifier(conf, q).digest(sources.read_jsonl([str(LASAIR_ANN)]))
        slack.rate_limit["chat.postMessage"] = 1
        slack.retry_after = "7"
        t0 = time.time()
        report = drain(q, conf, TOKEN, wait_s=0)
        (job,) = q.jobs()
        assert report.sent == 0 and job.status == "pending" and "429" in job.error
        assert job.next_try >= t0 + 7.0  # not the 0.01 s backoff
        assert time.time() - t0 < 3.0  # and the run did not sit out the wait (--wait 0)
        slack.retry_after = "0"
        assert drain(q, conf, TOKEN, wait_s=0).sent == 0  # not due yet: nothing sent
        assert slack.methods().count("chat.postMessage") == 1


def test_upload_url_failure_is_retried_from_the_queue(env, tmp_path):
    with SlackDouble() as slack:
        args = env(slack.base_url)
        slack.upload_failures = 1
        assert main(["fast-track", str(ATLAS_ANN), "--alerts", str(ATLAS_ALERTS), *args]) == 0
    assert slack.methods().count("files.getUploadURLExternal") == 2
    assert slack.methods().count("upload") == 2
    assert slack.methods().count("files.completeUploadExternal") == 1
    (data,) = slack.uploads.values()
    assert data[:8] == PNG_MAGIC
    (job,) = queue_jobs(tmp_path).values()
    assert (job.status, job.attempts) == ("sent", 1)


def test_dead_slack_loses_nothing(env, tmp_path, capsys):
    port = free_port()
    args = env(f"http://127.0.0.1:{port}/api/")
    assert main(["run", str(ATLAS_ANN), str(LASAIR_ANN), "--alerts", str(ATLAS_ALERTS),
                 "--wait", "0", *args]) == 1
    err = capsys.readouterr().err
    assert "2 queued for `vra slack run`" in err and "Slack unreachable" in err
    jobs = queue_jobs(tmp_path)
    assert [j.status for j in jobs.values()] == ["pending", "pending"]
    assert all("Slack unreachable" in j.error for j in jobs.values())
    time.sleep(1.3)  # past the (test-sized) backoff
    with SlackDouble(port=port) as slack:  # Slack is back, at the same address
        assert main(["run", *args]) == 0
    assert len(slack.shares) == 1 and len(slack.messages) == 1
    assert {j.status for j in queue_jobs(tmp_path).values()} == {"sent"}


def test_wrong_token_stops_and_keeps_the_queue(env, tmp_path, monkeypatch, capsys):
    with SlackDouble() as slack:
        args = env(slack.base_url)
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-9999-8888-WRONGtoken")
        assert main(["digest", str(LASAIR_ANN), *args]) == 2
        err = capsys.readouterr().err
        assert "invalid_auth" in err and "SLACK_BOT_TOKEN" in err and "WRONG" not in err
        assert slack.methods() == ["auth.test"]
        monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
        assert main(["run", *args]) == 0
    assert len(slack.messages) == 1


def test_refused_message_is_kept_as_failed_and_can_be_requeued(env, tmp_path, capsys):
    with SlackDouble() as slack:
        args = env(slack.base_url)
        slack.refuse["chat.postMessage"] = "invalid_blocks"
        assert main(["digest", str(LASAIR_ANN), *args]) == 1
        (job,) = queue_jobs(tmp_path).values()
        assert job.status == "failed" and "invalid_blocks" in job.error
        del slack.refuse["chat.postMessage"]
        assert main(["run", "--retry-failed", *args]) == 0
        assert main(["run", "--status", *args]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["counts"] == {"pending": 0, "sent": 1, "failed": 0}
    assert len(slack.messages) == 1


def test_the_token_is_written_nowhere(env, tmp_path, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("slack_sdk").setLevel(logging.DEBUG)
    port = free_port()
    args = env(f"http://127.0.0.1:{port}/api/")
    main(["run", str(ATLAS_ANN), "--alerts", str(ATLAS_ALERTS), "--wait", "0", "--verbose",
          *args])
    with SlackDouble(port=port) as slack:
        slack.upload_failures = 1
        slack.rate_limit["files.completeUploadExternal"] = 1
        time.sleep(1.3)
        main(["run", "--verbose", "--wait", "10", *args])
    assert len(slack.shares) == 1
    out, err = capfd.readouterr()
    assert TOKEN not in out + err + caplog.text
    assert "Sending a request" in caplog.text  # slack_sdk did log its requests
    for f in tmp_path.iterdir():  # the queue file and its WAL
        if f.is_file():
            assert TOKEN.encode() not in f.read_bytes(), f.name


# --------------------------------------------------------------------------- live mode


class AnnotationObject:
    """Stands in for the core's Annotation: only ``to_dict()`` matters to the sink."""

    def __init__(self, d):
        self._d = d

    def to_dict(self):
        return dict(self._d)


def _sink_config(tmp_path, base_url):
    return cfg.load_config(env={}, base_url=base_url, queue=str(tmp_path / "live.sqlite"),
                           channels={"fast_track": CHANNELS[0], "digest": CHANNELS[1]},
                           min_interval_s=0.0, backoff_base_s=0.2, backoff_cap_s=0.5)


def test_sink_posts_fast_track_with_plot_and_the_cycle_digest(tmp_path):
    from vra_slack import SlackSink
    lcs, _ = sources.read_lightcurves([str(ATLAS_ALERTS)])
    atlas = [json.loads(line) for line in ATLAS_ANN.read_text().splitlines()]
    lasair = [json.loads(line) for line in LASAIR_ANN.read_text().splitlines()]
    with SlackDouble() as slack:
        sink = SlackSink(_sink_config(tmp_path, slack.base_url), env={"SLACK_BOT_TOKEN": TOKEN})
        for a in lasair:
            sink.write(AnnotationObject(a))
        for a in atlas:  # 8 fast-track alerts of one object: one message
            sink.write(a, lightcurve=lcs[0])
        sink.write({"not": "an annotation"})  # logged and counted, never raised
        sink.flush()
        sink.close()
        assert sink.errors == 1
        assert len(slack.shares) == 1 and len(slack.messages) == 1
        assert slack.messages[0]["text"].endswith("(40 alerts)")
        assert next(iter(slack.uploads.values()))[:8] == PNG_MAGIC
        again = SlackSink(_sink_config(tmp_path, slack.base_url),
                          env={"SLACK_BOT_TOKEN": TOKEN})  # a restart of the stream
        again.write(atlas[-1], lightcurve=lcs[0])
        again.close()
        assert len(slack.shares) == 1


def test_sink_never_blocks_on_a_dead_slack_and_keeps_everything(tmp_path):
    from vra_slack import SlackSink
    atlas = [json.loads(line) for line in ATLAS_ANN.read_text().splitlines()]
    lasair = [json.loads(line) for line in LASAIR_ANN.read_text().splitlines()]
    port = free_port()
    conf = _sink_config(tmp_path, f"http://127.0.0.1:{port}/api/")
    sink = SlackSink(conf, env={"SLACK_BOT_TOKEN": TOKEN}, close_timeout_s=0.5)
    stream = (lasair * 32)[:1000] + atlas
    t0 = time.perf_counter()
    for a in stream:
        sink.write(a)
    sink.flush()
    took = time.perf_counter() - t0
    sink.close()
    assert took < 1.0, f"{len(stream)} writes + flush took {took:.2f} s"
    with Queue(conf.queue) as q:
        assert q.counts()["pending"] == 2 and q.counts()["sent"] == 0
    time.sleep(0.7)
    with SlackDouble(port=port) as slack:
        with Queue(conf.queue) as q:
            report = drain(q, conf, TOKEN, wait_s=5)
    assert report.sent == 2 and len(slack.messages) == 2  # no plot: chat.postMessage
    fast = next(m for m in slack.messages if m["channel"] == CHANNELS[0])
    assert "the stream did not hand over the alert photometry" in json.dumps(fast["blocks"])


def test_notifier_accepts_annotation_objects(tmp_path):
    conf = _sink_config(tmp_path, "http://127.0.0.1:9/api/")
    atlas = [AnnotationObject(json.loads(line)) for line in ATLAS_ANN.read_text().splitlines()]
    assert [p.key for p in Notifier(conf).fast_track(atlas)] == \
        ["fast_track/atlas/1000005291314656200"]
