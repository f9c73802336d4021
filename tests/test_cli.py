"""The `vra` command line, run as a user would (in-process through main(), and one subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vra_filters.cli import main

DATA = Path(__file__).parent / "data"
ATLAS = sorted((DATA / "atlas").glob("*.json.gz"))


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_score_atlas_replays_visits_and_state_makes_reruns_idempotent(tmp_path, capsys):
    db = tmp_path / "state.sqlite"
    code, out, err = run(capsys, "score", *ATLAS, "--state", db, "--quiet")
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    by_object = {}
    for r in records:
        by_object.setdefault(r["object_id"], []).append(r)
    assert set(by_object) == {"1000005291314656200", "1052941460110907400",
                              "1134751930091216800"}
    for visits in by_object.values():
        assert [r["visit"] for r in visits] == list(range(1, len(visits) + 1))
        assert visits[0]["stage"] == "day1" and all(r["stage"] == "dayN" for r in visits[1:])
    assert by_object["1052941460110907400"][0]["tier"] == "garbage"
    assert f"scored {len(records)} alerts" in err
    code, out2, _ = run(capsys, "score", *ATLAS, "--state", db, "--quiet")
    again = [json.loads(line) for line in out2.splitlines()]
    assert {r["status"] for r in again} == {"duplicate"}
    assert [r["rank"] for r in again] == [r["rank"] for r in records]


def test_score_with_features_ebv_and_policy(tmp_path, capsys):
    out_file = tmp_path / "out.jsonl"
    code, _, _ = run(capsys, "score", ATLAS[2], "--ebv", "0.0484", "--with-features",
                     "--policy", "galactic", "--state", ":memory:", "--out", out_file,
                     "--quiet")
    assert code == 0
    first = json.loads(out_file.read_text().splitlines()[0])
    assert first["policy"] == "galactic" and first["ebv_source"] == "--ebv"
    assert first["features"]["ebv_sfd"] == pytest.approx(float(np.float32(0.0484)))
    assert first["vra_score"] == pytest.approx(7.2769, abs=1e-4)  # md, day 1


def test_bad_inputs_are_reported_and_the_rest_scored(tmp_path, capsys):
    truncated = tmp_path / "truncated.json"
    truncated.write_text('[{"diaObjectId": 1, "alert": {"diaSourcesList": [')
    code, out, err = run(capsys, "score", truncated, ATLAS[0], "--format", "auto",
                         "--state", ":memory:", "--quiet")
    assert code == 0
    assert "skip" in err and "truncated.json" in err
    assert len(out.splitlines()) >= 8  # the SN's visits still scored
    code, out, err = run(capsys, "score", tmp_path / "nope.json", "--state", ":memory:",
                         "--quiet")
    assert code == 1 and "file not found" in err and out == ""
    assert "no alert could be scored" in err


def test_rerun_with_other_settings_rescores_instead_of_replaying_old_records(tmp_path, capsys):
    db = tmp_path / "state.sqlite"
    code, out, _ = run(capsys, "score", ATLAS[2], "--state", db, "--quiet")
    first = [json.loads(line) for line in out.splitlines()]
    code, out, err = run(capsys, "score", ATLAS[2], "--state", db, "--quiet",
                         "--policy", "galactic")
    again = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and {r["status"] for r in again} == {"rescored"}
    assert {r["policy"] for r in again} == {"galactic"}
    assert [r["visit"] for r in again] == [r["visit"] for r in first]
    assert f"{len(first)} alerts were re-deliveries" in err and "scored again" in err
    code, out, err = run(capsys, "score", ATLAS[2], "--state", db, "--quiet",
                         "--policy", "galactic")
    assert {json.loads(line)["status"] for line in out.splitlines()} == {"duplicate"}
    assert "re-emitted as stored" in err


def test_duplicates_inside_a_lasair_file_are_counted_not_lost(capsys):
    # the live stream delivered each of 32 objects twice: once with its alert, once without
    dupes = DATA / "lasair" / "20260205_073301.json.gz"
    code, out, err = run(capsys, "score", dupes, "--state", ":memory:", "--quiet")
    assert code == 0 and len(out.splitlines()) == 32
    assert "scored 32 alerts" in err and "skipped 0" in err
    assert "32 records left out as duplicates of others in the input" in err
    assert "skip " not in err  # counted, not printed one by one as failures


def test_packet_history_gives_one_annotation_per_object(capsys):
    code, out, err = run(capsys, "score", *ATLAS, "--history", "packet", "--quiet")
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(records) == 3
    code, out2, _ = run(capsys, "score", *ATLAS, "--state", ":memory:", "--quiet")
    replayed = [json.loads(line) for line in out2.splitlines()]
    last = {r["object_id"]: r for r in replayed}
    for r in records:
        assert r["visit"] == last[r["object_id"]]["visit"]
        assert r["rank"] == pytest.approx(last[r["object_id"]]["rank"], abs=1e-12)


def test_bad_policy_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "p.toml"
    bad.write_text("[eyeball]\nthreshold = 'x'\n")
    code, _, err = run(capsys, "score", ATLAS[0], "--policy", bad, "--state", ":memory:")
    assert code == 2 and "eyeball.threshold must be a number" in err


def test_demo_writes_annotations_and_plot(tmp_path, capsys):
    code, out, _ = run(capsys, "demo", "--out-dir", tmp_path / "demo", "--oracle-model",
                       "none")
    assert code == 0
    lines = (tmp_path / "demo" / "annotations.jsonl").read_text().splitlines()
    assert len(lines) == 44
    png = (tmp_path / "demo" / "score_space.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    tiers = [json.loads(line)["tier"] for line in lines]
    summary = next(line for line in out.splitlines() if line.startswith("alerts per tier"))
    for tier in ("fast_track", "extragalactic", "galactic", "purgatory", "garbage"):
        assert f"{tier} {tiers.count(tier)}" in summary
    assert "extragalactic" in out.split("alerts per tier")[0]


def test_model_import_and_predict(tmp_path, capsys):
    sklearn = pytest.importorskip("sklearn.ensemble")
    joblib = pytest.importorskip("joblib")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    clf = sklearn.HistGradientBoostingClassifier(max_iter=20).fit(X, y)
    joblib.dump(clf, tmp_path / "m.joblib")
    code, out, _ = run(capsys, "model", "import-sklearn", tmp_path / "m.joblib",
                       tmp_path / "m", "--name", "mine", "--version", "1")
    assert code == 0 and "sha256" in out
    csv = tmp_path / "f.csv"
    csv.write_text("id,x0,x1,x2\n" + "\n".join(f"r{i},{a},{b},{c}"
                                                for i, (a, b, c) in enumerate(X[:5])))
    # sklearn names unnamed features x0, x1, ...
    code, out, _ = run(capsys, "model", "predict", tmp_path / "m", csv)
    assert code == 0
    rows = out.strip().splitlines()
    assert len(rows) == 6
    p1 = [float(r.split(",")[-1]) for r in rows[1:]]
    np.testing.assert_allclose(p1, clf.predict_proba(X[:5])[:, 1], atol=1e-12)


def test_bench_json_has_the_pipeline_rate(capsys):
    code, out, _ = run(capsys, "bench", "--alerts", "300", "--json", "--no-oracle")
    assert code == 0
    report = json.loads(out)
    assert report["alerts"] == 300 and report["pipeline"]["scored"] == 300
    for stage in ("readers", "features", "scorers", "policies", "pipeline"):
        assert report[stage]["alerts_per_s"] > 0
    # end to end says where its time goes, and the parts add up to its rate
    e2e = report["end_to_end"]
    us = e2e["us_per_alert"]
    assert {"read", "features", "scorers", "policies", "state", "write"} <= set(us)
    assert all(v > 0 for k, v in us.items() if k != "other")
    assert sum(us.values()) == pytest.approx(1e6 / e2e["alerts_per_s"], rel=1e-6)


def test_help_and_console_script():
    done = subprocess.run([sys.executable, "-m", "vra_filters.cli", "--help"],
                          capture_output=True, text=True, check=True)
    for command in ("score", "demo", "bench", "model"):
        assert command in done.stdout
    done = subprocess.run([sys.executable, "-m", "vra_filters.cli", "score", "--help"],
                          capture_output=True, text=True, check=True)
    assert "--with-features" in done.stdout and "--oracle-variant" in done.stdout


def test_demo_and_score_carry_oracle_blocks(tmp_path, capsys):
    code, out, _ = run(capsys, "demo", "--out-dir", tmp_path / "demo")
    assert code == 0 and "ORACLE" in out.splitlines()[2]
    records = [json.loads(line) for line in
               (tmp_path / "demo" / "annotations.jsonl").read_text().splitlines()]
    # Lasair LSST alerts: E(B-V) always, a host separation for some, host magnitudes never --
    # so ORACLE's light-curve-only model classifies them all (registry routing)
    models = [r["oracle"]["model"] for r in records]
    assert models == ["elasticc-lite"] * 44
    for r in records:
        block = r["oracle"]
        assert block["status"] == "ok"
        assert block["routed"] == "no host galaxy magnitudes: elasticc-lite"
        probs = block["probabilities"]
        assert len(probs) == 26 and probs["Alert"] == pytest.approx(1.0)
        assert probs["Transient"] + probs["Variable"] == pytest.approx(1.0, abs=1e-5)
        assert len(block["sha256"]) == 64 and block["variant"] in ("dynamic-int8", "numpy-int8")
    # ATLAS alerts get no ORACLE block under --oracle-model auto
    code, out, _ = run(capsys, "score", ATLAS[1], "--state", ":memory:", "--quiet")
    assert all("oracle" not in json.loads(line) for line in out.splitlines())
