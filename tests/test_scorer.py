"""The public scorer: purity, the state codec, history from the packet, the failure boundary."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
from earlier_alerts import lasair_earlier, rubin_earlier, ztf_earlier  # noqa: E402

import vra_filters as vra
from vra_filters.readers import atlas, iter_read, lasair, rubin, ztf
from vra_filters.state import MemoryStore, ObjectState, SQLiteStore, StateError

DATA = Path(__file__).parent / "data"
ATLAS = sorted((DATA / "atlas").glob("*.json.gz"))


@pytest.fixture(scope="module")
def scorer():
    return vra.Scorer.load(oracle="none")


def _lcs(path, fmt="auto"):
    return [x for x in iter_read([path], fmt) if isinstance(x, vra.LightCurve)]


def _snapshot(lc):
    return ({k: np.array(v, copy=True) for k, v in vars(lc).items() if isinstance(v, np.ndarray)},
            copy.deepcopy(vars(lc.context)), lc.alert_id)


# ------------------------------------------------------------------------------ purity


def test_score_is_pure_same_output_twice_and_inputs_unchanged(scorer):
    lcs = _lcs(DATA / "lasair" / "20260205_073301.json.gz", "lasair")[:40]
    lcs += _lcs(DATA / "ztf" / "ZTF19acihgng.avro")
    for lc in lcs:
        lc.context.ebv = math.nan  # forces the dust-map lookup, which must not write back
    before = [_snapshot(lc) for lc in lcs]
    one = scorer.score(lcs)
    two = scorer.score(lcs)
    assert [a.to_json() for a in one.annotations] == [a.to_json() for a in two.annotations]
    assert len(one.annotations) == len(lcs)
    assert {k: s.to_bytes() for k, s in one.states.items()} == \
        {k: s.to_bytes() for k, s in two.states.items()}
    for lc, (arrays, ctx, alert_id) in zip(lcs, before):
        for name, arr in arrays.items():
            np.testing.assert_array_equal(getattr(lc, name), arr)
        assert math.isnan(lc.context.ebv) and vars(lc.context).keys() == ctx.keys()
        assert lc.alert_id == alert_id
    assert all(a.ebv_source != "alert" and a.ebv is not None for a in one.annotations)


def test_prior_state_continues_an_object(scorer):
    visits = vra.visits(atlas.from_record(next(atlas.iter_records(ATLAS[2])).data))
    first = scorer.score(visits[:2])
    key = ("atlas", visits[0].object_id)
    assert first.states[key].n_visits == 2
    later = scorer.score(visits[2:4], prior=first.states)
    assert [a.visit for a in later.annotations] == [3, 4]
    assert later.states[key].n_visits == 4
    whole = scorer.score(visits[:4])
    assert [a.rank for a in whole.annotations[2:]] == [a.rank for a in later.annotations]
    assert whole.states[key].to_bytes() == later.states[key].to_bytes()


def test_alerts_out_of_time_order_in_one_input_are_scored_in_time_order(scorer):
    visits = vra.visits(atlas.from_record(next(atlas.iter_records(ATLAS[2])).data))[:3]
    shuffled = scorer.score([visits[2], visits[0], visits[1]]).annotations
    assert [a.visit for a in shuffled] == [3, 1, 2]
    assert [a.status for a in shuffled] == ["new", "new", "new"]
    in_order = scorer.score(visits).annotations
    assert [a.rank for a in in_order] == [shuffled[1].rank, shuffled[2].rank, shuffled[0].rank]


# ------------------------------------------------------------------------------ the codec


def test_object_state_codec_round_trip_and_bad_bytes():
    st = ObjectState("lsst", "1234567890123", n_visits=3, first_mjd=61000.123456789,
                     last_mjd=61002.5, max_rank=7.25, sum_rank=12.0, garbage=True,
                     oracle={"oracle:elasticc": b"\x00\x01binary\xff", "other": b""})
    blob = st.to_bytes()
    assert ObjectState.from_bytes(blob) == st
    fresh = ObjectState("ztf", "ZTF19acihgng")
    again = ObjectState.from_bytes(fresh.to_bytes())
    assert again.to_bytes() == fresh.to_bytes() and again.object_id == "ZTF19acihgng"
    assert math.isnan(again.first_mjd) and again.last_mjd == -math.inf
    with pytest.raises(StateError, match="magic"):
        ObjectState.from_bytes(b"garbage" + blob)
    with pytest.raises(StateError, match="version"):
        ObjectState.from_bytes(blob[:6] + b"\x09" + blob[7:])
    for cut in range(len(blob)):  # every truncation is a clean error
        with pytest.raises(StateError):
            ObjectState.from_bytes(blob[:cut])
    with pytest.raises(StateError, match="trailing"):
        ObjectState.from_bytes(blob + b"x")
    with pytest.raises(StateError, match="Unicode"):
        ObjectState("lsst", "bad\udcff").to_bytes()


def test_sqlite_store_keeps_states_and_refuses_an_old_schema(tmp_path, scorer):
    path = tmp_path / "state.sqlite"
    lcs = _lcs(DATA / "lasair" / "20260205_073301.json.gz", "lasair")[:10]
    with SQLiteStore(path) as store:
        stream = vra.Stream(scorer, store)
        list(stream.run(lcs))
        states = store.load([(lc.survey, lc.object_id) for lc in lcs])
    assert len(states) == len({lc.object_id for lc in lcs})
    import sqlite3
    old = tmp_path / "old.sqlite"
    db = sqlite3.connect(old)
    db.execute("CREATE TABLE objects (survey TEXT, object_id TEXT, n_visits INTEGER)")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="another vra_filters version"):
        SQLiteStore(old)


# ------------------------------------------------------------------------------ packet mode


PACKET_CASES = [
    ("rubin", DATA / "rubin" / "rubin_sample_data_10_0_subset.parquet", rubin, rubin_earlier),
    ("rubin", DATA / "rubin" / "fink_lsst_part-2-918301_subset.avro", rubin, rubin_earlier),
    ("rubin", DATA / "rubin" / "elasticc_sample_seed0_subset.parquet", rubin, rubin_earlier),
    ("ztf", DATA / "ztf" / "ZTF19acihgng.avro", ztf, ztf_earlier),
    ("ztf", DATA / "ztf" / "fink_ztf_part-3-305711_subset.avro", ztf, ztf_earlier),
    ("lasair", DATA / "lasair" / "20260202_102448_subset.json", lasair, lasair_earlier),
]


def _same(a: vra.Annotation, b: vra.Annotation) -> None:
    assert (a.object_id, a.alert_id, a.visit, a.tier, a.stage, a.status) == \
        (b.object_id, b.alert_id, b.visit, b.tier, b.stage, b.status)
    for name in ("rank", "p_real", "p_gal", "vra_score"):
        assert getattr(a, name) == pytest.approx(getattr(b, name), abs=1e-9), name
    assert a.galactic == b.galactic


def _packets(module, path, min_detections: int):
    """(record, light curve) of each readable packet of ``path`` with enough detections."""
    for record in module.iter_records(path):
        try:
            lc = module.from_record(record.data)
        except vra.InputError:
            continue
        if lc.n_det >= min_detections:
            yield record, lc


@pytest.mark.parametrize("fmt,path,module,earlier", PACKET_CASES,
                         ids=lambda v: getattr(v, "name", None))
def test_packet_mode_equals_the_stateful_path_fed_the_earlier_alerts(scorer, fmt, path,
                                                                     module, earlier):
    checked = 0
    for record, packet_lc in _packets(module, path, min_detections=2):
        (from_packet,) = scorer.score([packet_lc], history="packet").results
        stream = vra.Stream(scorer, MemoryStore())
        alerts = [module.from_record(p) for p in earlier(record.data)]
        stateful = [r for lc in alerts for r in stream.process([lc])][-1]
        if isinstance(from_packet, vra.Skip):
            assert isinstance(stateful, vra.Skip)
            continue
        _same(from_packet, stateful)
        assert from_packet.visit == packet_lc.n_det or from_packet.visit < packet_lc.n_det
        checked += 1
    assert checked >= 1


@pytest.mark.parametrize("fmt,path,module,earlier", PACKET_CASES[:2] + PACKET_CASES[3:4],
                         ids=lambda v: getattr(v, "name", None))
def test_packet_mode_leaves_the_state_the_stateful_path_leaves(scorer, fmt, path, module,
                                                               earlier):
    """Every replayed visit counts with its own rank (its own real/bogus score included):
    the kept history (visits, rank sum and maximum, garbage) is the stateful path's."""
    checked = 0
    for record, packet_lc in _packets(module, path, min_detections=3):
        key = (packet_lc.survey, packet_lc.object_id)
        packet = scorer.score([packet_lc], history="packet").states.get(key)
        prior: dict = {}
        for p in earlier(record.data):
            prior.update(scorer.score([module.from_record(p)], prior).states)
        if packet is None:
            assert key not in prior
            continue
        stateful = prior[key]
        assert (packet.n_visits, packet.garbage) == (stateful.n_visits, stateful.garbage)
        assert packet.sum_rank == pytest.approx(stateful.sum_rank, abs=1e-9)
        assert packet.max_rank == pytest.approx(stateful.max_rank, abs=1e-9)
        checked += 1
    assert checked >= 1


def test_packet_mode_replays_visits_so_the_garbage_rules_can_fire(scorer):
    """A stateless caller used to see every alert as visit 1."""
    lcs = _lcs(DATA / "rubin" / "fink_lsst_part-2-918301_subset.avro")
    lcs += _lcs(DATA / "rubin" / "rubin_sample_data_10_0_subset.parquet")
    visits_given = [a.visit for a in scorer.score(lcs).annotations]
    packet = scorer.score(lcs, history="packet").annotations
    assert visits_given == [1] * len(lcs)
    assert [a.visit for a in packet] == [len(np.unique(lc.mjd[lc.is_det])) for lc in lcs]
    assert max(a.visit for a in packet) == 346
    assert any(a.tier == "garbage" for a in packet)


@pytest.mark.parametrize("path", ATLAS, ids=lambda p: p.name.split(".")[0])
def test_atlas_packet_mode_equals_the_visit_replay(scorer, path):
    lc = atlas.from_record(next(atlas.iter_records(path)).data)
    (last,) = scorer.score([lc], history="packet").annotations
    replay = scorer.score(vra.visits(lc)).annotations
    _same(last, replay[-1])
    assert last.visit == len(replay)


def test_packet_mode_with_a_prior_counts_only_newer_detections(scorer):
    (lc,) = _lcs(DATA / "ztf" / "ZTF19acihgng.avro")
    earlier = vra.visits(lc)
    half = len(earlier) // 2
    first = scorer.score([earlier[half - 1]], history="packet")
    rest = scorer.score([lc], prior=first.states, history="packet").annotations[0]
    whole = scorer.score([lc], history="packet").annotations[0]
    _same(rest, whole)


# ------------------------------------------------------------------------------ ids, boundary


def test_alerts_without_ids_get_distinct_stable_content_ids(scorer):
    lc = _lcs(DATA / "ztf" / "ZTF19acihgng.avro")[0]
    a = lc.until(float(lc.mjd[lc.is_det][-3]))
    b = lc.until(float(lc.mjd[lc.is_det][-2]))
    assert a.alert_id.startswith("content:") and a.alert_id != b.alert_id
    assert lc.until(float(lc.mjd[lc.is_det][-3])).alert_id == a.alert_id
    out = vra.Stream(scorer, MemoryStore()).process([a, b])
    assert [r.status for r in out] == ["new", "new"] and [r.visit for r in out] == [1, 2]


@pytest.mark.parametrize("path", [DATA / "fink" / "fink_lsst_part-2-918301.avro",
                                  DATA / "fink" / "fink_ztf_part-3-305711.avro",
                                  DATA / "lasair" / "20260205_073301.json.gz"],
                         ids=lambda p: p.name)
def test_replayed_alerts_are_the_light_curve_until_each_earlier_detection(path):
    """``visits`` (ids and rb for all replays at once) equals ``until`` one detection time at
    a time, with ``content_alert_id`` of each prefix and that detection's own rb."""
    from vra_filters.lightcurve import content_alert_id

    n = 0
    for lc in vra.read(path).lightcurves:
        det = np.flatnonzero(lc.is_det & (lc.mjd < lc.alert_mjd))
        times = np.unique(lc.mjd[det])
        got = vra.visits(lc)
        assert len(got) == len(times) + 1 and got[-1] is lc
        for v, t in zip(got, times):
            k = int(np.searchsorted(lc.mjd, t, side="right"))
            one = lc.until(float(t))
            assert v.alert_id == one.alert_id == content_alert_id(lc, float(t), k)
            assert v.alert_mjd == one.alert_mjd and len(v) == len(one) == k
            rb = lc.rb[det[lc.mjd[det] == t][-1]]
            assert v.context.rb == (float(rb) if np.isfinite(rb) else lc.context.rb) or (
                math.isnan(v.context.rb) and math.isnan(lc.context.rb))
            n += 1
    assert n > 50  # real multi-detection histories were replayed


def test_one_failing_alert_becomes_a_skip_and_keeps_no_state(scorer, monkeypatch):
    from vra_filters import features

    lcs = _lcs(DATA / "lasair" / "20260205_073301.json.gz", "lasair")[:6]
    boom = lcs[3]
    real = features.compute

    def compute(batch):
        if any(lc.object_id == boom.object_id for lc in batch.lightcurves):
            raise FloatingPointError("synthetic failure")
        return real(batch)

    monkeypatch.setattr(features, "compute", compute)
    out = scorer.score(lcs)
    assert isinstance(out.results[3], vra.Skip)
    assert out.results[3].reason == "features failed: FloatingPointError: synthetic failure"
    assert sum(isinstance(r, vra.Annotation) for r in out.results) == 5
    assert ("lsst", boom.object_id) not in out.states


def test_stream_skips_an_id_that_cannot_be_stored_and_commits_the_rest(tmp_path, scorer):
    lcs = _lcs(DATA / "lasair" / "20260205_073301.json.gz", "lasair")[:3]
    bad = lcs[1].until(lcs[1].alert_mjd, alert_id="bad\udcff")
    with SQLiteStore(tmp_path / "s.sqlite") as store:
        out = vra.Stream(scorer, store).process([lcs[0], bad, lcs[2]])
        assert isinstance(out[1], vra.Skip) and "Unicode" in out[1].reason
        assert store.counts()["alerts"] == 2


# ------------------------------------------------------------------------------ re-delivery


def test_redelivery_reemits_only_what_the_same_settings_made(tmp_path):
    lcs = _lcs(DATA / "lasair" / "20260205_073301.json.gz", "lasair")[:20]
    default = vra.Scorer.load(oracle="none")
    galactic = vra.Scorer.load(policy="galactic", oracle="none")
    assert default.fingerprint != galactic.fingerprint
    with SQLiteStore(tmp_path / "s.sqlite") as store:
        first = vra.Stream(default, store).process(lcs)
        visits = {k: s.n_visits for k, s in store.load([(x.survey, x.object_id)
                                                         for x in lcs]).items()}
        again = vra.Stream(default, store).process(lcs)
        assert [a.to_dict() for a in again] == [a.replace(status="duplicate").to_dict()
                                                for a in first]
        other = vra.Stream(galactic, store).process(lcs)
        assert {a.status for a in other} == {"rescored"}
        assert {a.policy for a in other} == {"galactic"}
        assert {a.settings for a in other} == {galactic.fingerprint}
        after = {k: s.n_visits for k, s in store.load(list(visits)).items()}
        assert after == visits  # no new visit counted
        back = vra.Stream(galactic, store).process(lcs)
        assert {a.status for a in back} == {"duplicate"}


def test_ebv_map_from_the_environment_is_used_by_the_scorer(tmp_path, monkeypatch):
    path = tmp_path / "flat.npy"
    np.save(path, np.full(12 * 4 ** 2, 0.123, dtype=np.float32))
    monkeypatch.setenv("VRA_EBV_MAP", str(path))
    scorer = vra.Scorer.load(oracle="none")
    lc = _lcs(DATA / "ztf" / "ZTF19acihgng.avro")[0]
    (ann,) = scorer.score([lc]).annotations
    assert ann.ebv == pytest.approx(0.123, abs=1e-7)
    assert ann.ebv_source == "flat.npy"
    assert scorer.settings["ebv_map"]["name"] == "flat.npy"
    monkeypatch.delenv("VRA_EBV_MAP")
    assert vra.Scorer.load(oracle="none").fingerprint != scorer.fingerprint


def test_sqlite_store_read_only_lists_the_stored_annotations(tmp_path, scorer):
    path = tmp_path / "s.sqlite"
    lcs = _lcs(DATA / "lasair" / "20260205_073301.json.gz", "lasair")[:5]
    with SQLiteStore(path) as store:
        written = vra.Stream(scorer, store).process(lcs)
    with SQLiteStore(path, read_only=True) as store:
        stored = list(store.iter_annotations())
    assert [a["alert_id"] for a in stored] == [a.alert_id for a in written]
    with pytest.raises(StateError, match="no such state file"):
        SQLiteStore(tmp_path / "absent.sqlite", read_only=True)
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(StateError, match="not a vra_filters state file"):
        SQLiteStore(tmp_path / "junk.sqlite", read_only=True)
