"""The Slack notifier offline: what it would post (messages, blocks, PNGs), the queue, the
weekly report, the settings, and ``--dry-run`` (no token, no Slack, no queue written).

Data: real annotations of real alerts (tests/data/slack, made by make_slack_samples.py):
the ATLAS SN 2020tjh with its host distance derived from its Sherlock photo-z, scored with a
400 Mpc fast-track cut (8 fast-track alerts), and 32 Lasair LSST alerts with ORACLE classes.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from vra_slack import config as cfg
from vra_slack import messages, notifier, plots, queue, sources, weekly

DATA = Path(__file__).resolve().parent / "data"
SLACK = DATA / "slack"
ATLAS_ANN = SLACK / "atlas_2020tjh_annotations.jsonl"
ATLAS_ALERTS = SLACK / "atlas_2020tjh_host_distance.json.gz"
LASAIR_ANN = SLACK / "lasair_20260205_annotations.jsonl"
LASAIR_ALERTS = DATA / "lasair" / "20260205_073301.json.gz"
CHANNELS = {"fast_track": "C0FASTTRACK", "digest": "C0DIGEST", "weekly": "C0WEEKLY"}


def anns(path):
    return list(sources.read_jsonl([str(path)]))


@pytest.fixture
def conf(tmp_path):
    return cfg.load_config(env={}, channels=CHANNELS, queue=str(tmp_path / "q.sqlite"))


@pytest.fixture(scope="module")
def atlas_index():
    lcs, skips = sources.read_lightcurves([str(ATLAS_ALERTS)])
    assert not skips
    return sources.AlertIndex(lcs)


# --------------------------------------------------------------------------- fast track


def test_one_fast_track_message_per_object_from_its_first_fast_track_alert(conf, atlas_index):
    rows = anns(ATLAS_ANN)
    assert [a["tier"] for a in rows] == ["fast_track"] * 8
    random.Random(1).shuffle(rows)
    planned = notifier.Notifier(conf, None, atlas_index).fast_track(rows)
    assert [p.key for p in planned] == ["fast_track/atlas/1000005291314656200"]
    ann = planned[0].payload["annotation"]
    assert ann["mjd"] == min(a["mjd"] for a in rows) and ann["visit"] == 1


def test_fast_track_photometry_is_the_light_curve_up_to_the_alert(conf, atlas_index):
    ann = min(anns(ATLAS_ANN), key=lambda a: a["mjd"])
    phot = notifier.Notifier(conf, None, atlas_index).fast_track_payload(ann)["photometry"]
    lc = atlas_index.find(ann)
    mjd = np.asarray(lc.mjd)
    upto = mjd <= ann["mjd"] + 1e-6
    assert max(phot["mjd"]) <= ann["mjd"] + 1e-6 and phot["alert_mjd"] == ann["mjd"]
    assert phot["n_det"] == int(np.asarray(lc.is_det)[upto].sum())
    first_det = min(t for t, d in zip(phot["mjd"], phot["is_det"]) if d)
    assert min(phot["mjd"]) >= first_det - sources.PLOT_DAYS_BEFORE_FIRST - 1e-6
    # every point of the object in that window is there, detections and limits alike
    window = upto & (mjd >= min(phot["mjd"]) - 1e-5)  # the payload keeps 5 decimals
    assert len(phot["mjd"]) == int(window.sum())
    assert sum(phot["is_det"]) == int(np.asarray(lc.is_det)[window].sum())
    assert phot["host"]["distance_mpc"] == 338.5 and phot["host"]["class"] == "SN"


def test_fast_track_message_content(conf, atlas_index):
    ann = min(anns(ATLAS_ANN), key=lambda a: a["mjd"])
    payload = notifier.Notifier(conf, None, atlas_index).fast_track_payload(ann)
    r = notifier.render("fast_track", "C0FASTTRACK", payload, conf)
    assert r.method == "files_upload_v2" and r.args["channel"] == "C0FASTTRACK"
    text = r.args["initial_comment"]
    assert text.startswith(":rotating_light: *Fast track: 2020tjh* (ATLAS 1000005291314656200)")
    assert "<https://www.wis-tns.org/object/2020tjh|TNS 2020tjh>" in text
    assert "<https://star.pst.qub.ac.uk/sne/atlas4/candidate/1000005291314656200/|ATLAS>" in text
    assert f"(model score {ann['vra_score']:.2f}; TNS match)" in text
    assert f"*p_real* {ann['p_real']:.3f} · *p_gal* {ann['p_gal']:.3f}" in text
    assert "*Host* 338 Mpc, 24.5″ from the transient, photo-z 0.079, Sherlock SN" in text
    assert "*ORACLE* not run" in text  # ATLAS: no ORACLE model for its bands
    info = plots.describe_png(r.png)
    assert (info["width"], info["height"]) == (800, 450) and info["bytes"] > 10_000


def test_oracle_classes_and_the_too_few_points_caveat(conf):
    rows = {a["object_id"]: a for a in anns(LASAIR_ANN)}
    two, three = rows["169760231662813776"], rows["169760231662813918"]
    assert (two["oracle"]["n_rows"], three["oracle"]["n_rows"]) == (2, 3)
    for ann, caveat in ((two, True), (three, False)):
        text = messages.fast_track_text({"annotation": ann}, conf, with_plot=False)
        top = ann["oracle"]["top"]
        chain = " › ".join(f"{top[k]['class']} {top[k]['p']:.2f}"
                           for k in ("level1", "level2", "leaf"))
        assert f"*ORACLE* {chain}" in text
        assert ("only 2 detections: too few points" in text) is caveat
        assert f"<https://lasair.lsst.ac.uk/objects/{ann['object_id']}/|Lasair>" in text
        assert f"<https://lsst.fink-portal.org/{ann['object_id']}|Fink>" in text
        assert "Antares" not in text  # no locus id in the annotation
    with_locus = messages.links({**two, "locus_id": "ANT2026abc"}, conf)
    assert ("Antares", "https://antares.noirlab.edu/loci/ANT2026abc") in with_locus


def test_without_alert_file_the_message_goes_without_plot_and_says_so(conf):
    ann = min(anns(ATLAS_ANN), key=lambda a: a["mjd"])
    planned = notifier.Notifier(conf, None, None).fast_track([ann])[0]
    r = notifier.render(planned.kind, planned.channel, planned.payload, conf)
    assert r.method == "chat_postMessage" and r.png is None
    text = "\n".join(b["text"]["text"] for b in r.args["blocks"])
    assert "no light-curve plot: the alert photometry was not given" in text
    assert "--alerts" in text and "host distance unknown" in text


def test_mrkdwn_is_escaped():
    assert messages.esc("a<b> & c") == "a&lt;b&gt; &amp; c"


# --------------------------------------------------------------------------- digest


def test_digest_counts_and_top_objects(conf):
    rows = anns(LASAIR_ANN)
    planned = notifier.Notifier(conf, None).digest(rows)
    p = planned.payload
    assert p["alerts"] == {t: Counter(a["tier"] for a in rows).get(t, 0) for t in weekly.TIERS}
    assert p["n_alerts"] == 32 and p["n_objects"] == len({a["object_id"] for a in rows})
    extragal = sorted((a for a in rows if a["tier"] == "extragalactic"),
                      key=lambda a: -a["rank"])
    assert [e["object_id"] for e in p["top"]["extragalactic"]] == \
        [a["object_id"] for a in extragal]
    text, blocks = messages.digest(p, conf)
    assert text == "VRA ingest: 0 fast track, 2 extragalactic, 0 galactic candidates (32 alerts)"
    assert len(blocks) <= 50
    for b in blocks:
        if b["type"] == "section" and "text" in b:
            assert len(b["text"]["text"]) <= 3000
    body = json.dumps(blocks)
    assert f"rank {extragal[0]['rank']:.2f}" in body and "2 new" in body


def test_digest_key_depends_on_the_alerts_not_their_order(conf):
    rows = anns(LASAIR_ANN)
    n = notifier.Notifier(conf, None)
    shuffled = rows[:]
    random.Random(3).shuffle(shuffled)
    assert n.digest(rows).key == n.digest(shuffled).key
    assert n.digest(rows).key != n.digest(rows[1:]).key
    assert n.digest([]) is None


def test_digest_top_n_is_respected(tmp_path):
    conf = cfg.load_config(env={}, channels=CHANNELS, top_n=1)
    p = notifier.Notifier(conf, None).digest(anns(LASAIR_ANN)).payload
    assert len(p["top"]["extragalactic"]) == 1 and p["objects"]["extragalactic"] == 2
    assert "top 1 of 2" in json.dumps(messages.digest(p, conf)[1])


# --------------------------------------------------------------------------- queue


def test_queue_keeps_each_key_once_across_reopen(tmp_path):
    path = tmp_path / "q.sqlite"
    with queue.Queue(path) as q:
        assert q.enqueue("fast_track/lsst/1", "fast_track", "C1", {"a": 1},
                         seen=[("lsst", "1", "fast_track")])
        assert not q.enqueue("fast_track/lsst/1", "fast_track", "C1", {"a": 2})
        assert [j.payload for j in q.due()] == [{"a": 1}]
    with queue.Queue(path) as q:
        assert not q.enqueue("fast_track/lsst/1", "fast_track", "C1", {"a": 3})
        assert q.seen_before("lsst", "1", "fast_track")
        assert not q.seen_before("lsst", "1", "extragalactic")
        q.reschedule("fast_track/lsst/1", 60.0, "Slack unreachable")
        assert q.due() == [] and q.next_try() > 50 + __import__("time").time()
        job = q.jobs()[0]
        assert (job.attempts, job.error) == (1, "Slack unreachable")
        q.mark_failed("fast_track/lsst/1", "invalid_blocks")
        assert q.counts() == {"pending": 0, "sent": 0, "failed": 1}
        assert q.retry_failed() == 1 and len(q.due()) == 1
        q.mark_sent("fast_track/lsst/1", "123.456")
        assert q.counts()["sent"] == 1 and q.next_try() is None


def test_queue_refuses_a_file_that_is_not_a_queue(tmp_path):
    other = tmp_path / "state.sqlite"
    import sqlite3
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE objects (x)")
    db.commit()
    db.close()
    with pytest.raises(queue.QueueError, match="not a vra_slack queue"):
        queue.Queue(other)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(queue.QueueError, match="not a usable queue file"):
        queue.Queue(junk)


# --------------------------------------------------------------------------- weekly


def test_weekly_report_numbers(conf):
    rows = anns(LASAIR_ANN)
    rep = weekly.weekly_report(rows, conf, days=0)
    assert rep["n_alerts"] == 32 and rep["garbaged_objects"] == 7
    assert rep["eyeballed"] == {"fast_track": 0, "extragalactic": 2, "galactic": 0}
    assert sum(rep["outcome"].values()) == rep["n_objects"]
    # stuck: last tier purgatory and undecided > 15 d by the end of the period (since its
    # first alert, or by phase; each object has one alert here), highest rank first
    end = max(a["mjd"] for a in rows)
    expect = sorted((a for a in rows if a["tier"] == "purgatory"
                     and max(end - a["mjd"], a["phase"]) > 15),
                    key=lambda a: (-a["rank"], a["object_id"]))
    assert 0 < len(expect) < sum(a["tier"] == "purgatory" for a in rows)
    assert [s["object_id"] for s in rep["stuck"]] == [a["object_id"] for a in expect]
    assert rep["stuck"][0]["object_id"] == "169720647261880363"  # rank 8.25 at +25 d
    assert rep["misses"] == []


def test_weekly_potential_misses_and_found_first(conf):
    rows = anns(ATLAS_ANN) + anns(LASAIR_ANN)
    low = next(a for a in rows if a["tier"] == "garbage")
    # as if the TNS had later named this garbaged object: a second alert carrying the name
    renamed = {**low, "alert_id": "later", "mjd": low["mjd"] + 3, "tns_name": "2026xyz",
               "rank": 10.0}
    rep = weekly.weekly_report(rows + [renamed], conf, days=0)
    assert [m["object_id"] for m in rep["misses"]] == [low["object_id"]]
    assert rep["misses"][0]["best_score"] == pytest.approx(low["vra_score"])
    assert rep["found_by_others"] == 2  # 2020tjh had its TNS name from its first alert
    assert rep["found_first"] == 0
    text = messages.weekly_text(rep, conf)
    assert "*Potential misses* (TNS-matched, model rank never ≥ 7, never galactic): 1" in text
    assert "2026xyz" in text


def test_weekly_window_and_render(conf):
    rows = anns(LASAIR_ANN)
    end = max(a["mjd"] for a in rows)
    rep = weekly.weekly_report(rows, conf, days=1.0)
    assert rep["mjd_end"] == end and rep["n_alerts"] == sum(a["mjd"] >= end - 1 for a in rows)
    r = notifier.render("weekly", "C0WEEKLY", rep, conf)
    assert r.method == "files_upload_v2" and plots.describe_png(r.png)["width"] == 700
    assert r.args["initial_comment"].startswith(":bar_chart: *VRA weekly report* 2026-")
    with pytest.raises(ValueError, match="nothing to report"):
        weekly.weekly_report([{"object_id": "1", "survey": "lsst", "tier": "garbage"}], conf)


# --------------------------------------------------------------------------- settings


def test_config_from_file_and_environment(tmp_path):
    f = tmp_path / "slack.toml"
    f.write_text('[slack]\ntop_n = 3\nchannels = {digest = "C0FROMFILE"}\n'
                 '[slack.links.fink]\nlsst = "https://example.org/{object_id}"\n')
    env = {"VRA_SLACK_CHANNEL": "C0ALL", "VRA_SLACK_CHANNEL_WEEKLY": "C0WEEK",
           "SLACK_BOT_TOKEN": "xoxb-1-2-abc"}
    c = cfg.load_config(str(f), env=env)
    assert (c.top_n, c.channel("digest"), c.channel("weekly"), c.channel("fast_track")) == \
        (3, "C0FROMFILE", "C0WEEK", "C0ALL")
    assert c.links["fink"]["lsst"] == "https://example.org/{object_id}"
    assert c.links["lasair"] == cfg.DEFAULT_LINKS["lasair"]
    assert c.token(env) == "xoxb-1-2-abc" and "xoxb" not in repr(c)
    with pytest.raises(cfg.ConfigError, match="VRA_SLACK_CHANNEL_DIGEST"):
        cfg.load_config(env={}).channel("digest")
    with pytest.raises(cfg.ConfigError, match="SLACK_BOT_TOKEN"):
        cfg.load_config(env={}).token({})
    f.write_text('[slack]\ntoken = "xoxb-oops"\n')
    with pytest.raises(cfg.ConfigError, match="must not be in a file"):
        cfg.load_config(str(f), env={})
    f.write_text('[slack]\nchanels = {}\n')
    with pytest.raises(cfg.ConfigError, match="unknown \\[slack\\] key 'chanels'"):
        cfg.load_config(str(f), env={})


def test_redact():
    assert cfg.redact("Bearer xoxb-12-34-abcDEF failed") == "Bearer xox?-[redacted] failed"
    assert cfg.redact("secret s3cr3t here", "s3cr3t") == "secret [redacted] here"


def test_bad_annotation_lines_name_file_and_line(tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_text('{"object_id": "1", "survey": "lsst", "tier": "garbage"}\n\n{oops\n')
    with pytest.raises(sources.SourceError, match=r"a.jsonl:3: not JSON"):
        list(sources.read_jsonl([str(f)]))
    f.write_text('{"object_id": "1"}\n')
    with pytest.raises(sources.SourceError, match=r"a.jsonl:1: annotation without 'survey'"):
        list(sources.read_jsonl([str(f)]))
    with pytest.raises(sources.SourceError, match="not found"):
        list(sources.read_jsonl([str(tmp_path / "missing.jsonl")]))


# --------------------------------------------------------------------------- command line


def _json_objects(text):
    dec, i, out = json.JSONDecoder(), 0, []
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        obj, i = dec.raw_decode(text, i)
        out.append(obj)
    return out


def test_dry_run_needs_no_token_writes_pngs_and_no_queue(tmp_path, monkeypatch, capsys):
    from vra_slack.cli import main
    for var in ("SLACK_BOT_TOKEN", "VRA_SLACK_CHANNEL", "VRA_SLACK_QUEUE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(ATLAS_ANN), str(LASAIR_ANN), "--alerts", str(ATLAS_ALERTS),
                 "--dry-run", "--png-dir", "pngs"]) == 0
    calls = _json_objects(capsys.readouterr().out)
    assert [c["key"].split("/")[0] for c in calls] == ["fast_track", "digest"]
    png = Path(calls[0]["png"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert calls[1]["args"]["channel"] == "<VRA_SLACK_CHANNEL_DIGEST not set>"
    assert not (tmp_path / "vra_slack_queue.sqlite").exists()


def test_demo_digest_dry_run(tmp_path):
    """`vra demo`, then `vra slack digest --dry-run` on what it wrote."""
    demo = subprocess.run([sys.executable, "-m", "vra_filters.cli", "demo", "--out-dir",
                           str(tmp_path / "demo")], capture_output=True, text=True)
    assert demo.returncode == 0, demo.stderr[-2000:]
    out = subprocess.run([sys.executable, "-m", "vra_slack", "digest",
                          str(tmp_path / "demo" / "annotations.jsonl"), "--dry-run"],
                         capture_output=True, text=True, cwd=tmp_path,
                         env={k: v for k, v in __import__("os").environ.items()
                              if not k.startswith(("SLACK_", "VRA_SLACK"))})
    assert out.returncode == 0, out.stderr
    (call,) = _json_objects(out.stdout)
    assert call["method"] == "chat_postMessage"
    rows = anns(tmp_path / "demo" / "annotations.jsonl")
    fields = next(b for b in call["args"]["blocks"] if "fields" in b)["fields"]
    for tier, f in zip(weekly.TIERS, fields):
        n = sum(a["tier"] == tier for a in rows)
        assert f"({n} alerts)" in f["text"]


def test_vra_slack_is_a_vra_command(tmp_path):
    """Through the `vra_filters.commands` entry point (pyproject.toml)."""
    r = subprocess.run([sys.executable, "-m", "vra_filters.cli", "slack", "digest",
                        str(LASAIR_ANN), "--dry-run"], capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert _json_objects(r.stdout)[0]["key"].startswith("digest/")


def test_commands_load_without_slack_sdk_or_matplotlib():
    code = ("import sys, argparse; sys.modules['slack_sdk'] = None\n"
            "from vra_slack.cli import add_subparser, main\n"
            "p = argparse.ArgumentParser(); add_subparser(p.add_subparsers())\n"
            "assert 'matplotlib' not in sys.modules\n"
            "sys.exit(main(['run', '--queue', 'q.sqlite']))\n")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("VRA_SLACK")}
    env.update(SLACK_BOT_TOKEN="xoxb-1-2-x", VRA_SLACK_CHANNEL="C1")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "slack_sdk is not installed" in r.stderr
