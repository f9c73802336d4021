"""ORACLE's batched hot path (oracle/batched.py, taxonomy.summarize_many, the sorted GRU chunks
of Oracle.update_many) gives exactly what the per-alert reference functions give.

Real light curves: the package's sample alerts (vra_dev.oracle.reference.sample_alert_lightcurves)
and ZTF19acihgng (tests/data/ztf), plus edited copies that reach every branch: no detection,
saturated, an unknown band, non-finite fluxes, string / sentinel / infinite HEAD values, no rows,
a long span, tiny errors, a wrong survey.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from vra_dev.oracle import reference as R
from vra_filters.oracle import Oracle, annotation_fields
from vra_filters.oracle import batched as B
from vra_filters.oracle import inputs as I
from vra_filters.oracle import taxonomy as T

ZTF = Path(__file__).parent / "data" / "ztf" / "ZTF19acihgng.avro"
POINTS = ("mag", "magerr", "band", "is_det", "flux", "fluxerr", "ra", "dec", "rb", "saturated")


def _edit(lc, object_id, **points):
    return replace(lc, object_id=object_id, context=replace(lc.context), **points)


def _take(lc, idx):
    return {f: getattr(lc, f)[idx] for f in POINTS} | {"mjd": lc.mjd[idx]}


@pytest.fixture(scope="module")
def lsst():
    base = R.sample_alert_lightcurves()
    assert len(base) >= 40
    lc = max(base, key=len)
    n = len(lc)
    band = lc.band.copy()
    band[::3] = "w"
    flux = lc.flux.copy()
    flux[1::4] = np.nan
    late = lc.mjd.copy()
    late[n // 2:] += 3000.0
    quiet = lc.fluxerr * 1e-3
    # two rows whose errors straddle the 0.05 FLUXCAL floor: only their mean is under it
    pair_idx = np.flatnonzero(np.isin(lc.band, list("ugrizy")) & lc.is_det)[:2]
    pair = _take(lc, pair_idx)
    pair["fluxerr"] = np.array([0.01, 0.08]) / I.FLUXCAL_PER_NJY
    # an unknown-band row at the time of the last usable row (dropped <= last: flagged)
    same = _take(lc, np.r_[np.arange(n), n - 1])
    same["band"] = same["band"].copy()
    same["band"][-1] = "w"
    # 2048.5 d between the first detection and the last row: just over the training span
    edge = _take(lc, pair_idx)
    edge["mjd"] = edge["mjd"][0] + np.array([0.0, 2048.5])
    odd = [
        _edit(lc, "same", **same),
        _edit(lc, "edge", **edge),
        _edit(lc, "nodet", is_det=np.zeros(n, bool)),
        _edit(lc, "sat", saturated=np.ones(n, bool)),
        _edit(lc, "band", band=band),
        _edit(lc, "allband", band=np.full(n, "w")),
        _edit(lc, "nanflux", flux=flux),
        _edit(lc, "empty", **_take(lc, slice(0, 0))),
        _edit(lc, "one", **_take(lc, slice(0, 1))),
        _edit(lc, "span", mjd=late),
        _edit(lc, "quiet", fluxerr=quiet),
        _edit(lc, "pair", **pair),
        replace(lc, object_id="strs", context=replace(lc.context, extra=dict(
            lc.context.extra or {}, HOSTGAL_PHOTOZ="0.31", HOSTGAL_SPECZ=-999.0, MWEBV=None,
            HOSTGAL_SNSEP=float("inf")))),
        replace(lc, object_id="badstr", context=replace(lc.context, extra={"MWEBV": "n/a"})),
        replace(lc, object_id="ztf", survey="ztf", context=replace(lc.context)),
    ]
    return base + odd


def _b(state):
    return None if state is None else state.to_bytes()


def _same_rows(a, b):
    assert a.object_id == b.object_id and a.model == b.model and a.n_raw == b.n_raw
    for f in ("mjd", "feats", "static", "dropped_mjd"):
        x, y = getattr(a, f), getattr(b, f)
        assert x.dtype == y.dtype and x.shape == y.shape, f
        assert np.array_equal(x, y, equal_nan=True), f
    assert a.missing_metadata is b.missing_metadata


@pytest.mark.parametrize("model", ["elasticc", "elasticc-lite"])
@pytest.mark.parametrize("conv", ["first-observation/packet", "upstream",
                                  "first-observation/derived", "first-detection/none",
                                  "upstream-training"])
def test_rows_many_equals_the_per_alert_builder(lsst, model, conv):
    rows, domains = B.rows_many(lsst, model, conv)
    kinds = set()
    for lc, r, d in zip(lsst, rows, domains):
        try:
            ref = I.rows_from_lightcurve(lc, model, conv)
        except ValueError as exc:
            assert r == str(exc) and d is None
            kinds.add("unsupported")
            continue
        _same_rows(r, ref)
        assert d == I.domain(ref)
        kinds.update(d["warnings"])
    # the edited copies reach every flag, so each vectorised rule was compared at least once
    expected = {"unsupported", "too_few_points", "bands_outside_training",
                "length_outside_training", "noise_outside_training"}
    if model == "elasticc" and not conv.endswith("derived"):
        expected.add("missing_metadata")
    assert expected <= kinds


def test_segment_medians_are_numpys():
    rng = np.random.default_rng(3)
    lens = np.array([0, 1, 2, 3, 4, 7, 10, 0, 2, 5])
    vals = rng.lognormal(0, 2, int(lens.sum())).astype(np.float32)
    vals[-3] = np.nan  # the last object: NaN, as np.median
    at = np.concatenate([[0], np.cumsum(lens)])
    seg = np.repeat(np.arange(len(lens)), lens)
    got = B._medians(vals, seg, at, lens)
    want = [np.median(vals[a:b]) if b > a else np.nan for a, b in zip(at[:-1], at[1:])]
    assert got.dtype == np.float32
    assert np.array_equal(got, np.asarray(want, np.float32), equal_nan=True)
    assert np.isnan(got[-1]) and np.isnan(got[0])


def test_rows_many_bts_and_mixed_models():
    from vra_filters.readers import read

    ztf = [lc for lc in read([str(ZTF)]) if getattr(lc, "survey", "") == "ztf"]
    assert ztf, "the ZTF sample holds a ZTF light curve"
    lc = ztf[0]
    cut = _edit(lc, "cut", **_take(lc, slice(0, 2)))
    rows, domains = B.rows_many([lc, cut], "bts")
    for x, r, d in zip([lc, cut], rows, domains):
        ref = I.rows_from_lightcurve(x, "bts")
        _same_rows(r, ref)
        assert d == I.domain(ref)
    lsst_rows = I.rows_from_lightcurve(R.sample_alert_lightcurves()[0], "elasticc")
    mixed = [rows[0], lsst_rows]
    assert B.domains_many(mixed) == [I.domain(r) for r in mixed]
    assert B.domains_many([]) == []


def test_summarize_many_equals_summarize(ref):
    rng = np.random.default_rng(7)
    logits = np.concatenate([
        ref["elasticc_f1_logits"],
        rng.normal(0, 4, (200, 26)),
        np.full((2, 26), 3.0),                       # ties everywhere
        rng.normal(0, 1, (3, 26)) + [[95.0] + [0.0] * 25],  # exp overflow: stable fallback
    ]).astype(np.float32)
    for threshold in (0.5, 0.9, 0.0, 1.01):
        _, marg = T.ELASTICC.probabilities(logits)
        many = T.summarize_many(T.ELASTICC, marg, threshold)
        assert many == [T.summarize(T.ELASTICC, m, threshold) for m in marg]
        # and each row alone through probabilities gives the same marginals as the batch
        for row, m in zip(logits[-5:], marg[-5:]):
            assert np.array_equal(T.ELASTICC.probabilities(row)[1], m)
    _, marg = T.BTS.probabilities(rng.normal(0, 3, (50, 9)).astype(np.float32))
    assert (T.summarize_many(T.BTS, marg, 0.5)
            == [T.summarize(T.BTS, m, 0.5) for m in marg])


@pytest.mark.parametrize("variant", ["numpy-int8", None])
def test_update_many_equals_one_at_a_time(lsst, variant):
    """Batching (sorted chunks of similar lengths, several chunks) changes nothing: results
    and state bytes equal those of one-object updates, fresh and continued."""
    if variant is None:
        pytest.importorskip("ai_edge_litert", reason="LiteRT not installed")
    o = Oracle.load("elasticc", variant=variant, batch_size=7)
    cut = [_edit(lc, lc.object_id, **_take(lc, slice(0, max(0, len(lc) - 3)))) for lc in lsst]
    many, st_many = o.update_many([None] * len(cut), cut)
    ones = [o.update(None, lc) for lc in cut]
    assert many == [r for r, _ in ones]
    assert [_b(s) for s in st_many] == [_b(s) for _, s in ones]
    assert {r["status"] for r in many} == {"ok", "no_detection", "no_rows", "unsupported"}
    many2, st2 = o.update_many(st_many, lsst)
    ones2 = [o.update(s, lc) for s, lc in zip(st_many, lsst)]
    assert many2 == [r for r, _ in ones2]
    assert [_b(s) for s in st2] == [_b(s) for _, s in ones2]
    assert any(r.get("new_rows", 0) == 3 for r in many2)
    # annotate: the r-th alert of each object in round r, each continuing the previous state
    alerts = lsst + cut[:5]
    blocks, final = o.annotate(alerts)
    seq, states = [], {}
    for lc in alerts:
        key = (lc.survey, lc.object_id)
        r, s = o.update(states.get(key), lc)
        seq.append(annotation_fields(r))
        if s is not None:
            states[key] = s
    assert blocks == seq
    assert {k: v.to_bytes() for k, v in final.items()} == {
        k: v.to_bytes() for k, v in states.items()}


def _reference_blob(st) -> bytes:
    """The state layout written with json.dumps (the format's definition)."""
    import json
    import math
    import struct

    header = {"model": st.model, "checkpoint": st.checkpoint, "convention": st.convention,
              "weights_sha256": st.weights_sha256,
              "t0": None if math.isnan(st.t0) else st.t0,
              "last_mjd": None if math.isnan(st.last_mjd) else st.last_mjd,
              "n_rows": int(st.n_rows), "n_seen": int(st.n_seen),
              "n_buffer": int(len(st.buffer_mjd))}
    hb = json.dumps(header, sort_keys=True).encode("utf-8")
    return b"".join([b"VRAORC1\x00", struct.pack("<I", len(hb)), hb,
                     np.asarray(st.h1, "<f4").tobytes(), np.asarray(st.h2, "<f4").tobytes(),
                     np.asarray(st.buffer_mjd, "<f8").tobytes(),
                     np.asarray(st.buffer_feats, "<f4").reshape(-1, 4).tobytes()])


def test_state_bytes_are_the_json_layout(lsst):
    from vra_filters.oracle import OracleState

    o = Oracle.load("elasticc", variant="numpy-int8")
    _, states = o.update_many([None] * len(lsst), lsst)
    states = [s for s in states if s is not None]
    rng = np.random.default_rng(11)
    odd = [
        OracleState("elasticc", "f1", "first-observation/packet", "ab" * 32),
        OracleState("bts", "best", 'conv "quoted" \u00e9', "0" * 64, t0=float("inf"),
                    last_mjd=-float("inf"), n_rows=np.int64(7), n_seen=3),
        OracleState("elasticc", "f1", "upstream", "cd" * 32, t0=np.float64(60000.125),
                    last_mjd=60001.5, n_rows=2, n_seen=2,
                    buffer_mjd=rng.normal(6e4, 1, 3), buffer_feats=rng.normal(size=(3, 4))),
        OracleState("elasticc", "f1", "upstream", "cd" * 32, t0=1e-300, last_mjd=12345678.9),
    ]
    assert any(s.buffer_mjd.size for s in states) or odd[2].buffer_mjd.size
    for st in states + odd:
        blob = st.to_bytes()
        assert blob == _reference_blob(st)
        back = OracleState.from_bytes(blob)
        assert back.to_bytes() == blob


@pytest.mark.parametrize("conv", ["first-observation/packet", "upstream"])
def test_plan_many_equals_plan_update(lsst, conv):
    from vra_filters.oracle.incremental import plan_many, plan_update

    o = Oracle.load("elasticc", variant="numpy-int8", convention=conv)
    other = Oracle.load("elasticc", variant="numpy-int8", convention="first-detection/none")
    rows = [r for r in B.rows_many(lsst, "elasticc", conv)[0] if not isinstance(r, str)]
    half = [_edit(lc, lc.object_id, **_take(lc, slice(0, len(lc) // 2))) for lc in lsst]
    _, kept = o.update_many([None] * len(half), half)          # continued (some buffered)
    _, foreign = other.update_many([None] * len(half), half)   # other convention: rebuilt
    readable = [i for i, lc in enumerate(lsst) if lc.survey == "lsst"]
    states = ([None] * len(readable) + [kept[i] for i in readable]
              + [foreign[i] for i in readable])
    fresh = o.new_state()
    got = plan_many(states, rows * 3, fresh)
    want = [plan_update(s, r, fresh) for s, r in zip(states, rows * 3)]
    assert {p.rebuilt for p in want} == {True, False} and {p.ready for p in want} == {True, False}
    assert any(s is not None and s.buffer_mjd.size for s in states)
    for g, w in zip(got, want):
        assert (g.rebuilt, g.ready) == (w.rebuilt, w.ready)
        assert g.ts.dtype == w.ts.dtype and np.array_equal(g.ts, w.ts)
        assert g.state.to_bytes() == w.state.to_bytes()
    assert fresh.to_bytes() == o.new_state().to_bytes()  # the empty state is left as it was
