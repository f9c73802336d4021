"""ORACLE-1 numpy runtime, preprocessing, taxonomy and incremental path vs upstream references.

Reference numbers: tests/data/oracle/reference_vectors.npz (upstream PyTorch outputs on 44 light
curves; see tests/data/oracle/PROVENANCE.md). Tolerances are SPEC §4.4's budget for a float32
port: 1e-4 on logits, 1e-5 on probabilities.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from vra_dev.oracle import reference as R
from vra_filters.lightcurve import Context, LightCurve
from vra_filters.oracle import (
    Oracle,
    OracleState,
    annotation_fields,
    state_from_bytes,
    state_to_bytes,
)
from vra_filters.oracle import inputs as I
from vra_filters.oracle import taxonomy as T
from vra_filters.oracle.numpy_runtime import NumpyOracle
from vra_filters.oracle.weights import OracleWeights, quantize_per_column

LOGIT_TOL = 1e-4
PROB_TOL = 1e-5


@pytest.fixture(scope="module")
def oracles():
    cache = {}

    def get(model="elasticc", variant="numpy-float32", convention="upstream", checkpoint="f1"):
        key = (model, variant, convention, checkpoint)
        if key not in cache:
            cache[key] = Oracle.load(model, variant, convention, checkpoint)
        return cache[key]

    return get


# -- taxonomy ----------------------------------------------------------------------------------

def test_taxonomy_matches_reference_tables(ref):
    assert list(T.ELASTICC.names) == list(ref["node_names_elasticc"])
    assert list(T.ELASTICC.parents) == list(ref["node_parent_elasticc"])
    assert np.array_equal(T.ELASTICC.depth, ref["node_depth_elasticc"])
    assert np.array_equal(T.ELASTICC.is_leaf, ref["node_is_leaf_elasticc"])
    assert int(T.ELASTICC.is_leaf.sum()) == 19
    assert list(T.BTS.names) == list(ref["node_names_bts"])
    assert list(T.BTS.parents) == list(ref["node_parent_bts"])


@pytest.mark.parametrize("key", ["elasticc_f1", "lite_f1", "elasticc_best", "lite_best"])
def test_probabilities_from_upstream_logits(ref, key):
    cond, marg = T.ELASTICC.probabilities(ref[f"{key}_logits"])
    assert np.abs(cond - ref[f"{key}_cond"]).max() <= 1e-6
    assert np.abs(marg - ref[f"{key}_class"]).max() <= 1e-6
    # marginals sum to one within each depth and over the leaves
    for level in ("level1", "level2", "leaf"):
        sums = marg[:, T.ELASTICC.level_indices(level)].sum(axis=1)
        assert np.abs(sums - 1).max() < 1e-5


def test_bts_probabilities(ref):
    cond, marg = T.BTS.probabilities(ref["bts_f1_logits"])
    assert np.abs(marg - ref["bts_f1_class"]).max() <= 1e-6
    top = T.BTS.top(marg)
    assert top["level1"][0] == "Transient" and top["level1"][1] == pytest.approx(0.888, abs=1e-3)
    assert top["leaf"][0] == "SN-Ia" and top["leaf"][1] == pytest.approx(0.788, abs=1e-3)


def test_top_and_most_specific():
    logits = np.zeros(26, np.float32)
    logits[T.ELASTICC.index("Transient")] = 5
    logits[T.ELASTICC.index("SN")] = 5
    logits[T.ELASTICC.index("SNIa")] = 1.0
    logits[T.ELASTICC.index("SNII")] = 0.9
    _, p = T.ELASTICC.probabilities(logits)
    top = T.ELASTICC.top(p)
    assert [top[k][0] for k in ("level1", "level2", "leaf")] == ["Transient", "SN", "SNIa"]
    # SNIa ~0.24 of SN: below 0.5, so the most specific class over 0.5 is SN
    assert T.ELASTICC.most_specific(p, 0.5)[0] == "SN"
    assert T.ELASTICC.most_specific(p, 0.2)[0] == "SNIa"
    assert T.ELASTICC.most_specific(p, 1.01) == ("Alert", 1.0)


def test_conditional_overflow_falls_back_to_stable_softmax():
    logits = np.zeros(26, np.float32)
    logits[1] = 100.0  # exp overflows float32: upstream would give NaN everywhere
    cond, marg = T.ELASTICC.probabilities(logits)
    assert np.all(np.isfinite(marg))
    assert marg[1] == pytest.approx(1.0) and marg[2] == pytest.approx(0.0, abs=1e-30)


# -- preprocessing -----------------------------------------------------------------------------

@pytest.mark.parametrize("convention,prefix", [("upstream", "in"), ("upstream-training", "trainconv_in")])
def test_builder_reproduces_reference_inputs_bit_for_bit(ref, lcs, convention, prefix):
    ts, static = R.model_inputs(ref, prefix)
    for i, lc in enumerate(lcs):
        x = I.build_input(lc, "elasticc", convention)
        assert x.status == "ok"
        assert x.ts.dtype == np.float32 and x.ts.shape == ts[i].shape
        assert np.array_equal(x.ts.view(np.uint32), ts[i].view(np.uint32)), lc.object_id
        assert np.array_equal(x.static.view(np.uint32), static[i].view(np.uint32)), lc.object_id


def test_lasair_style_context_fallback():
    """The ``derived`` static source: the Lasair mapping of SPEC §8 from Context fields."""
    ctx = Context(ebv=0.0082790, z=1.2084, host_sep_arcsec=0.249)
    s = I.static_elasticc(I.elasticc_static_from_context(ctx, "derived"))
    expect = np.full(18, -9.0, np.float32)
    expect[0], expect[1] = 0.0082790, 0.05 * 0.0082790
    expect[2] = expect[6] = 1.2084
    expect[10] = 0.249
    assert np.array_equal(s, expect)


def test_no_detection_and_wrong_survey_give_status_not_crash(oracles):
    lc = LightCurve("nodet", "lsst", mjd=[60000.0, 60001.0], mag=[np.nan] * 2,
                    magerr=[np.nan] * 2, band=["g", "r"], is_det=[False, False],
                    flux=[10.0, -5.0], fluxerr=[3.0, 3.0])
    o = oracles()
    res = o.classify([lc])[0]
    assert res["status"] == "no_detection" and res["probabilities"] is None
    block = annotation_fields(res)
    assert block["status"] == "no_detection" and json.loads(json.dumps(block)) == block
    atlas = LightCurve("atl", "atlas", mjd=[60000.0], mag=[18.0], magerr=[0.1], band=["o"],
                       is_det=[True])
    assert o.classify([atlas])[0]["status"] == "unsupported"
    res2, st = o.update(None, lc)
    assert res2["status"] == "no_detection" and len(st.buffer_mjd) == 2 and not st.started


# -- numpy float32 network ---------------------------------------------------------------------

@pytest.mark.parametrize("model,key,checkpoint", [
    ("elasticc", "elasticc_f1", "f1"), ("elasticc-lite", "lite_f1", "f1"),
    ("elasticc", "elasticc_best", "best"), ("elasticc-lite", "lite_best", "best"),
])
def test_numpy_float32_logits_match_upstream(ref, lcs, oracles, model, key, checkpoint):
    o = oracles(model, checkpoint=checkpoint)
    res = o.classify(lcs)
    logits = np.array([r["logits"] for r in res], np.float32)
    assert np.abs(logits - ref[f"{key}_logits"]).max() <= LOGIT_TOL
    probs = np.array([[r["probabilities"][n] for n in T.ELASTICC.names] for r in res])
    assert np.abs(probs - ref[f"{key}_class"]).max() <= PROB_TOL
    # embedding (dense before the last ReLU) too
    ts, static = R.model_inputs(ref)
    _, h2 = o.backend.run(ts)
    _, emb = o.backend.head(h2, static if o.static_size else None, return_embedding=True)
    assert np.abs(emb - ref[f"{key}_embedding"]).max() <= LOGIT_TOL


@pytest.mark.parametrize("model,key", [("elasticc", "elasticc_f1_trainconv"),
                                       ("elasticc-lite", "lite_f1_trainconv")])
def test_numpy_float32_training_convention(ref, lcs, oracles, model, key):
    res = oracles(model, convention="upstream-training").classify(lcs)
    logits = np.array([r["logits"] for r in res], np.float32)
    assert np.abs(logits - ref[f"{key}_logits"]).max() <= LOGIT_TOL
    probs = np.array([[r["probabilities"][n] for n in T.ELASTICC.names] for r in res])
    assert np.abs(probs - ref[f"{key}_class"]).max() <= PROB_TOL


def test_batched_equals_single(ref):
    """Padding-free batching: one batch of 44 (lengths 1..1001) equals 44 single runs (float64
    arithmetic makes this independent of BLAS summation order; in float32 it would be ~1e-5, the
    size of upstream's own padded-batch vs batch-of-1 difference, 2.5e-5)."""
    net = NumpyOracle(OracleWeights.load("elasticc"))
    ts, static = R.model_inputs(ref)
    batch = net.logits(ts, static)
    single = np.concatenate([net.logits([t], s[None]) for t, s in zip(ts, static)])
    assert np.abs(batch - single).max() <= 1e-6


def test_per_step_gru_states(ref):
    """Stepping row by row reproduces upstream's per-step h1/h2 of the three growing curves."""
    net = NumpyOracle(OracleWeights.load("elasticc"))
    ts, _ = R.model_inputs(ref)
    pos = 0
    worst = 0.0
    for name in ref["trunc_names"]:
        i = list(ref["sample_names"]).index(name)
        h1 = np.zeros((1, 100), np.float32)
        h2 = np.zeros((1, 100), np.float32)
        for row in ts[i]:
            h1, h2 = net.step(row[None], h1, h2)
            worst = max(worst, np.abs(h1[0] - ref["trunc_elasticc_gru_h1"][pos]).max(),
                        np.abs(h2[0] - ref["trunc_elasticc_gru_h2"][pos]).max())
            pos += 1
    assert pos == len(ref["trunc_elasticc_gru_h2"])
    assert worst <= 1e-5


@pytest.mark.parametrize("model,key", [("elasticc", "trunc_elasticc_f1"),
                                       ("elasticc-lite", "trunc_lite_f1")])
def test_growing_light_curves_full_and_incremental(ref, oracles, model, key):
    """Every raw prefix of the three growing light curves: full recomputation and the
    incremental path (state through bytes each time) against upstream and each other."""
    o = oracles(model)
    worst_full = worst_incr = worst_between = worst_p = 0.0
    for j in range(len(ref["trunc_names"])):
        lo, hi = ref["trunc_offsets"][j], ref["trunc_offsets"][j + 1]
        sample = int(ref["trunc_sample_index"][lo])
        state = None
        for r in range(lo, hi):
            lc = R.lightcurve_from_raw(ref, sample, int(ref["trunc_prefix_len"][r]))
            full = o.classify([lc])[0]
            inc, state = o.update(state, lc)
            state = state_from_bytes(state_to_bytes(state))
            valid = bool(ref["trunc_valid"][r])
            assert (full["status"] == "ok") == valid and (inc["status"] == "ok") == valid
            if not valid:
                continue
            assert full["n_rows"] == inc["n_rows"] == int(ref["trunc_in_length"][r])
            fl, il = np.array(full["logits"]), np.array(inc["logits"])
            worst_full = max(worst_full, np.abs(fl - ref[f"{key}_logits"][r]).max())
            worst_incr = max(worst_incr, np.abs(il - ref[f"{key}_logits"][r]).max())
            worst_between = max(worst_between, np.abs(fl - il).max())
            pf = np.array(list(full["probabilities"].values()))
            pi = np.array(list(inc["probabilities"].values()))
            worst_p = max(worst_p, np.abs(pf - pi).max())
    assert worst_full <= LOGIT_TOL and worst_incr <= LOGIT_TOL
    assert worst_between <= 1e-5 and worst_p <= 1e-5


def test_incremental_many_objects_one_point_per_alert(ref, lcs, oracles):
    """Replaying 6 light curves point by point through update_many equals classify at the end;
    a late (older) point forces a rebuild that still equals classify."""
    o = oracles()
    picks = [15, 25, 26, 30, 38, 7]
    chosen = [lcs[i] for i in picks]
    states = [None] * len(chosen)
    n_max = max(len(lc) for lc in chosen)
    for k in range(1, n_max + 1):
        cur = [R.lightcurve_from_raw(ref, i, min(k, len(lc))) for i, lc in zip(picks, chosen)]
        results, states = o.update_many(states, cur)
    full = o.classify(chosen)
    for a, b in zip(results, full):
        assert a["status"] == b["status"] == "ok"
        assert np.abs(np.array(a["logits"]) - np.array(b["logits"])).max() <= 1e-5
    # late point: drop row 3 of object 0, update, then deliver the full curve again
    lc = chosen[0]
    keep = np.ones(len(lc), bool)
    keep[3] = False
    partial = LightCurve(lc.object_id, "lsst", lc.mjd[keep], lc.mag[keep], lc.magerr[keep],
                         lc.band[keep], lc.is_det[keep], flux=lc.flux[keep],
                         fluxerr=lc.fluxerr[keep], saturated=lc.saturated[keep],
                         context=lc.context)
    _, st = o.update(None, partial)
    res, st = o.update(st, lc)
    assert res["rebuilt"] is True
    assert np.abs(np.array(res["logits"]) - np.array(full[0]["logits"])).max() <= 1e-5


def test_state_bytes_roundtrip_and_foreign_state(oracles, lcs):
    o = oracles()
    _, st = o.update(None, lcs[25])
    blob = state_to_bytes(st)
    back = state_from_bytes(blob)
    assert isinstance(back, OracleState) and len(blob) < 1200
    assert np.array_equal(back.h1, st.h1) and np.array_equal(back.h2, st.h2)
    assert back.t0 == st.t0 and back.n_rows == st.n_rows == 87
    with pytest.raises(ValueError):
        state_from_bytes(b"garbage" + blob)
    # a state from other weights (int8) is rebuilt, not continued
    res, _ = oracles(variant="numpy-int8").update(back, lcs[25])
    assert res["rebuilt"] is True and res["n_rows"] == 87


def test_annotation_fields_are_plain_json(oracles, lcs):
    res = oracles().classify([lcs[1]])[0]
    block = annotation_fields(res)
    assert json.loads(json.dumps(block)) == block
    assert set(block["probabilities"]) == set(T.ELASTICC.names)
    assert block["top"]["level1"]["class"] == "Variable"
    assert block["top"]["leaf"]["class"] == "EB"
    assert block["most_specific"] == {"class": "EB", "p": block["probabilities"]["EB"]}
    assert block["model"] == "elasticc" and block["checkpoint"] == "f1"
    assert len(block["sha256"]) == 64 and block["convention"] == "upstream"


# -- BTS ---------------------------------------------------------------------------------------

def test_bts_network_and_builder(ref, oracles):
    ts, static = ref["bts_fakeSN_ts"], ref["bts_fakeSN_static"]
    o = oracles("bts")
    logits = o.logits_from_inputs([ts], static[None])[0]
    assert np.abs(logits - ref["bts_f1_logits"]).max() <= LOGIT_TOL
    # the same light curve as a core ZTF LightCurve (times relative to an arbitrary MJD)
    band = {0.476: "g", 0.6215: "r", 0.7545: "i"}
    bands = [band[round(float(w), 4)] for w in ts[:, 3]]
    extra = {n: float(v) for n, v in zip(I.BTS_STATIC_NAMES, static)}
    lc = LightCurve("fakeSN", "ztf", mjd=60000.0 + ts[:, 0].astype(float), mag=ts[:, 1],
                    magerr=ts[:, 2], band=bands, is_det=np.ones(len(ts), bool),
                    context=Context(extra=extra))
    x = I.build_input(lc, "bts")
    assert x.status == "ok"
    assert np.array_equal(x.ts, ts) and np.array_equal(x.static, static)
    res = o.classify([lc])[0]
    assert res["top"]["leaf"]["class"] == "SN-Ia"
    assert res["top"]["leaf"]["p"] == pytest.approx(float(ref["bts_f1_class"][5]), abs=PROB_TOL)


def test_bts_missing_values_and_galactic():
    s = I.bts_static({"l": float("nan"), "sky": -999.0, "drb": 0.9})
    assert s[0] == -9 and s[I.BTS_STATIC_NAMES.index("sky")] == -9
    assert s[I.BTS_STATIC_NAMES.index("drb")] == np.float32(0.9)
    # l, b from the position when the reader gave none (the one transform, vra_filters.sky):
    # the Galactic centre, and no position at all (-> missing, -9)
    def static_lb(ra, dec, extra=None):
        lc = LightCurve("x", "ztf", mjd=np.array([60000.0]), mag=np.array([18.0]),
                        magerr=np.array([0.1]), band=np.array(["g"]), is_det=np.ones(1, bool),
                        context=Context(ra=ra, dec=dec, extra=extra or {}))
        return I.bts_rows_from_lightcurve(lc).static[:2]

    l_, b_ = static_lb(266.4049882865447, -28.936177761791473)
    assert abs(b_) < 1e-5 and min(l_, 360 - l_) < 1e-5
    l_, b_ = static_lb(10.68458, 41.26917)  # M31 (astropy docs: 121.17424181, -21.57288557)
    assert (l_, b_) == (np.float32(121.17424181), np.float32(-21.57288557))
    assert static_lb(None, 12.0).tolist() == [-9.0, -9.0]
    assert static_lb(float("nan"), 12.0, {"l": 5.0, "b": 6.0}).tolist() == [5.0, 6.0]


# -- int8 numpy --------------------------------------------------------------------------------

def test_quantizer_roundtrip():
    w = np.random.default_rng(0).normal(size=(100, 300)).astype(np.float32)
    q, scale = quantize_per_column(w)
    assert q.dtype == np.int8 and scale.shape == (300,)
    assert np.abs(q * scale - w).max() <= scale.max() / 2 + 1e-7


@pytest.fixture(scope="module")
def sample_alerts():
    return R.sample_alert_lightcurves()


def test_readers_feed_the_builder_the_reference_inputs(ref, sample_alerts):
    """End to end from real packets: the package readers (Lasair JSON, Fink/Rubin avro, ELAsTiCC
    parquet) + the SPEC §8 builder reproduce the reference model inputs bit for bit, for every
    sample object that is also a reference object (its longest = latest alert)."""
    names = list(ref["sample_names"])
    ts, static = R.model_inputs(ref)
    longest = {}
    for lc in sample_alerts:
        for prefix in ("lasair:", "finklsst:", "elasticc_seed0:", "elasticc_early_schema:",
                       "elasticc_avro:"):
            key = prefix + str(lc.object_id)
            if key in names and len(lc) > len(longest.get(key, ())):
                longest[key] = lc
    assert len(longest) >= 9
    for key, lc in longest.items():
        i = names.index(key)
        x = I.build_input(lc, "elasticc", "upstream")
        assert x.ts.shape == ts[i].shape, key
        assert np.array_equal(x.ts.view(np.uint32), ts[i].view(np.uint32)), key
        assert np.array_equal(x.static.view(np.uint32), static[i].view(np.uint32)), key


def test_every_sample_alert_gets_a_result(sample_alerts, oracles):
    res = oracles().classify(sample_alerts)
    assert len(res) == len(sample_alerts) >= 70
    for r in res:
        assert r["status"] == "ok"
        leaf = sum(r["probabilities"][T.ELASTICC.names[k]]
                   for k in T.ELASTICC.level_indices("leaf"))
        assert leaf == pytest.approx(1.0, abs=1e-5)


def test_bts_on_real_ztf_alerts(oracles):
    from vra_filters.lightcurve import LightCurve as LC
    from vra_filters.readers import read

    root = R.default_path().parents[1] / "ztf"
    lcs = [lc for lc in read(sorted(root.glob("*.avro")) + sorted(root.glob("*.parquet")))
           if isinstance(lc, LC)]
    assert lcs
    for r in oracles("bts").classify(lcs):
        assert r["status"] == "ok"
        assert r["top"]["level1"]["class"] in ("Persistent", "Transient")
        assert sum(r["probabilities"][n] for n in ("AGN", "CV", "SN-Ia", "SN-II", "SN-Ib/c",
                                                   "SLSN")) == pytest.approx(1.0, abs=1e-5)


def test_numpy_int8_agrees_with_float_on_top_classes(lcs, sample_alerts, oracles):
    """Reference curves plus every LSST sample alert (119 light curves)."""
    lcs = list(lcs) + list(sample_alerts)
    f = oracles().classify(lcs)
    q = oracles(variant="numpy-int8").classify(lcs)
    agree = {lvl: np.mean([a["top"][lvl]["class"] == b["top"][lvl]["class"]
                           for a, b in zip(f, q)]) for lvl in ("level1", "level2", "leaf")}
    assert agree["level1"] >= 0.99 and agree["level2"] >= 0.98 and agree["leaf"] >= 0.95
    dev = max(abs(a["probabilities"][n] - b["probabilities"][n])
              for a, b in zip(f, q) for n in a["probabilities"])
    assert dev < 0.1


def test_annotate_is_pure_and_continues_states(ref, lcs, oracles):
    """Pipeline glue: ``annotate(lcs, states) -> (blocks, new_states)`` does no I/O; several
    alerts of one object in one call are applied in order; states kept as bytes between calls
    (what a store does) continue exactly; a re-delivered alert changes nothing; the blocks equal
    the stateless ones; the same call twice gives the same and leaves its inputs alone."""
    o = oracles()
    sample = 25  # Lasair object, 87 detections
    alerts = [R.lightcurve_from_raw(ref, sample, k) for k in range(1, 88)]
    key = ("lsst", alerts[0].object_id)
    # first batch: alerts 1..40 of the object, all in one call
    blocks, states = o.annotate(alerts[:40])
    assert list(states) == [key] and states[key].n_rows == 40
    full = annotation_fields(o.classify([alerts[39]])[0])
    assert blocks[-1]["n_rows"] == 40
    for a, b in zip(blocks[-1]["probabilities"].values(), full["probabilities"].values()):
        assert a == pytest.approx(b, abs=1e-6)
    # later batches one alert each, plus a re-delivery of the last one
    stored = {k: state_to_bytes(v) for k, v in states.items()}
    for lc in alerts[40:] + [alerts[-1]]:
        (block,), new = o.annotate([lc], {k: state_from_bytes(b) for k, b in stored.items()})
        stored.update({k: state_to_bytes(v) for k, v in new.items()})
    full = annotation_fields(o.classify([alerts[-1]])[0])
    assert block["n_rows"] == full["n_rows"] == 87
    for a, b in zip(block["probabilities"].values(), full["probabilities"].values()):
        assert a == pytest.approx(b, abs=1e-6)
    assert state_from_bytes(stored[key]).n_rows == 87
    # pure: same inputs -> same outputs, the prior state untouched
    prior = {key: state_from_bytes(stored[key])}
    first, second = o.annotate([alerts[-1]], prior), o.annotate([alerts[-1]], prior)
    assert first[0] == second[0] and state_to_bytes(prior[key]) == stored[key]
    # stateless mode
    assert o.annotate([alerts[-1]])[0][0]["top"] == full["top"]


def test_default_variant_falls_back_to_numpy_without_litert(monkeypatch):
    import importlib.util

    from vra_filters.oracle import core

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ai_edge_litert" else real(name, *a))
    assert core.default_variant() == core.FALLBACK_VARIANT == "numpy-int8"
    o = Oracle.load("elasticc-lite")
    assert o.variant == "numpy-int8" and o.info()["variant"] == "numpy-int8"


# -- conventions -------------------------------------------------------------------------------

def test_convention_names_and_retired_ones():
    c = I.convention("first-detection/packet")
    assert c.name == "upstream" and c.time_origin == "first-detection" and c.static == "packet"
    assert I.convention(None).name == I.DEFAULT_CONVENTION in I.CONVENTIONS
    assert I.convention("upstream-training").raw_sentinels
    for old, new in (("inference", "upstream"), ("training", "upstream-training")):
        with pytest.raises(ValueError, match=f"retired: use {new}"):
            I.convention(old)
    with pytest.raises(ValueError, match="unknown ORACLE convention"):
        Oracle.load("elasticc-lite", "numpy-float32", "first-light/packet")


def test_first_observation_origin_counts_from_the_first_row(ref, lcs):
    """The time column of first-observation inputs is the training reference's (times >= 0
    from the first row), the rest equals the upstream input; sentinels still map to -9."""
    ts_train, _ = R.model_inputs(ref, "trainconv_in")
    ts_up, static_up = R.model_inputs(ref, "in")
    moved = 0
    for i, lc in enumerate(lcs):
        x = I.build_input(lc, "elasticc", "first-observation/packet")
        assert np.array_equal(x.ts[:, 0], ts_train[i][:, 0])
        assert np.array_equal(x.ts[:, 1:], ts_up[i][:, 1:])
        assert np.array_equal(x.static, static_up[i])
        moved += bool(ts_up[i][0, 0] != 0)
    assert moved >= 5  # objects with forced photometry before the first detection


@pytest.mark.parametrize("conv", ["first-observation/packet", "first-detection/none"])
def test_incremental_equals_full_for_every_convention(ref, oracles, conv):
    o = oracles(convention=conv)
    worst = 0.0
    for j in range(len(ref["trunc_names"])):
        lo, hi = ref["trunc_offsets"][j], ref["trunc_offsets"][j + 1]
        sample = int(ref["trunc_sample_index"][lo])
        state = None
        for r in range(lo, hi):
            lc = R.lightcurve_from_raw(ref, sample, int(ref["trunc_prefix_len"][r]))
            full = o.classify([lc])[0]
            inc, state = o.update(state, lc)
            assert full["status"] == inc["status"]
            assert (full["status"] == "ok") == bool(ref["trunc_valid"][r])  # needs a detection
            if full["status"] == "ok":
                worst = max(worst, np.abs(np.array(full["logits"])
                                          - np.array(inc["logits"])).max())
    assert worst <= 1e-5


def test_static_sources():
    """packet: the HEAD values the reader found, nothing derived (so a dust-map E(B-V) filled
    in by the Scorer does not reach upstream-style inputs); derived: SPEC §8 from Context;
    none: -9 everywhere."""
    ctx = Context(ebv=0.03, z=0.1, extra={"MWEBV": 0.02, "HOSTGAL_SPECZ": -999.0})
    packet = I.static_elasticc(I.elasticc_static_from_context(ctx, "packet"))
    assert packet[0] == np.float32(0.02) and packet[6] == -9 and np.sum(packet != -9) == 1
    derived = I.static_elasticc(I.elasticc_static_from_context(ctx, "derived"))
    assert derived[0] == np.float32(0.03) and derived[2] == np.float32(0.1)
    assert np.all(I.static_elasticc(I.elasticc_static_from_context(ctx, "none")) == -9)
    raw = I.static_elasticc(I.elasticc_static_from_context(ctx, "packet"), raw_sentinels=True)
    assert raw[6] == -999
    no_host = Context(ebv=0.03)  # a Fink/Rubin packet after the Scorer's dust-map fill
    assert np.all(I.static_elasticc(I.elasticc_static_from_context(no_host, "packet")) == -9)


def test_upstream_convention_through_the_scorer_reproduces_upstream(ref, sample_alerts):
    """``--oracle-convention upstream`` on the shipped packets (tests/data and the demo's): the
    Scorer (which fills E(B-V) from its dust map) gives upstream's class probabilities for every
    reference object, and for every shipped LSST alert exactly what the bare Oracle gives."""
    from vra_filters import Scorer
    from vra_filters.demo import SAMPLE
    from vra_filters.readers import read

    sample_alerts = list(sample_alerts) + read(SAMPLE).lightcurves  # + the demo's alerts
    scorer = Scorer.load(oracle={"lsst": "elasticc"}, oracle_variant="numpy-float32",
                         oracle_convention="upstream")
    anns = scorer.score(sample_alerts, history="packet").annotations
    assert len(anns) == len(sample_alerts)
    bare = Oracle.load("elasticc", "numpy-float32", "upstream").classify(sample_alerts)
    names = list(ref["sample_names"])
    checked = 0
    for ann, b in zip(anns, bare):
        assert ann.oracle["convention"] == "upstream"
        pa = np.array([ann.oracle["probabilities"][n] for n in T.ELASTICC.names])
        pb = np.array([b["probabilities"][n] for n in T.ELASTICC.names])
        assert np.abs(pa - pb).max() <= 1e-6
        for prefix in ("lasair:", "finklsst:", "elasticc_seed0:"):
            key = prefix + ann.object_id
            if key in names and len(R.lightcurve_from_raw(ref, names.index(key))) == b["n_rows"]:
                up = ref["elasticc_f1_class"][names.index(key)]
                assert np.abs(pa - up).max() <= 1e-4, key
                checked += 1
    assert checked >= 5


# -- domain flags ------------------------------------------------------------------------------

def _lsst(mjd, flux, det, band=None, extra=None):
    n = len(mjd)
    return LightCurve("dom", "lsst", mjd=np.asarray(mjd, float), mag=np.full(n, 20.0),
                      magerr=np.full(n, 0.1), band=band or ["g"] * n, is_det=det,
                      flux=np.asarray(flux, float), fluxerr=np.full(n, 50.0),
                      context=Context(extra=extra or {}))


def test_domain_flags_in_results_and_annotations(oracles):
    two = _lsst([60000.0, 60001.0], [900.0, 1200.0], [True, True])
    res = oracles().classify([two])[0]
    assert res["n_detections"] == 2 and "too_few_points" in res["warnings"]
    assert "missing_metadata" in res["warnings"]  # full model, no host/MW values at all
    block = annotation_fields(res)
    assert block["warnings"] == res["warnings"] and block["n_detections"] == 2
    lite = oracles("elasticc-lite").classify([two])[0]
    assert lite["warnings"] == ["too_few_points"]  # the lite model reads no static values
    many = _lsst(60000.0 + np.arange(6), [900.0] * 6, [True] * 6, extra={"MWEBV": 0.02})
    assert oracles().classify([many])[0]["warnings"] == []
    inc, _ = oracles().update(None, two)
    assert inc["warnings"] == res["warnings"] and inc["n_detections"] == 2


def test_bands_outside_training_are_dropped_and_flagged(oracles):
    lc = _lsst(60000.0 + np.arange(5), [900.0] * 5, [True] * 5,
               band=["g", "r", "w", "i", "z"], extra={"MWEBV": 0.02})
    clean = _lsst(60000.0 + np.array([0, 1, 3, 4]), [900.0] * 4, [True] * 4,
                  band=["g", "r", "i", "z"], extra={"MWEBV": 0.02})
    a, b = I.build_input(lc, "elasticc"), I.build_input(clean, "elasticc")
    assert np.array_equal(a.ts, b.ts)
    assert a.domain["warnings"] == ["bands_outside_training"] and b.domain["warnings"] == []
    rows = I.rows_from_lightcurve(lc, "elasticc")
    assert I.domain(rows, 2)["warnings"] == ["too_few_points"]  # the 'w' row comes later


def test_length_outside_training():
    mjd = 60000.0 + np.array([0.0, 10.0, 1000.0, 2100.0])
    lc = _lsst(mjd, [900.0] * 4, [True] * 4, extra={"MWEBV": 0.02})
    rows = I.rows_from_lightcurve(lc, "elasticc")
    assert I.domain(rows)["warnings"] == ["length_outside_training"]
    assert I.domain(rows, 3)["warnings"] == []


def test_bts_negative_differences_fed_as_magpsf_and_missing_metadata():
    def ztf(mags, extra):
        n = len(mags)
        return LightCurve("z", "ztf", mjd=60000.0 + np.arange(n), mag=mags,
                          magerr=np.full(n, 0.1), band=["g", "r"] * (n // 2),
                          is_det=np.ones(n, bool), context=Context(ra=10.0, dec=20.0,
                                                                   extra=extra))
    meta = {"drb": 0.99, "sgscore1": 0.02}
    neg = I.build_input(ztf(np.array([19.0, -19.5, 19.2, 18.8]), meta), "bts")
    pos = I.build_input(ztf(np.array([19.0, 19.5, 19.2, 18.8]), meta), "bts")
    assert np.array_equal(neg.ts, pos.ts) and neg.ts[1, 1] == np.float32(19.5)
    assert pos.domain["warnings"] == []
    bare = I.build_input(ztf(np.array([19.0, 19.5, 19.2, 18.8]), {}), "bts")
    assert bare.domain["warnings"] == ["missing_metadata"]
    assert bare.static[0] != -9  # l, b still come from the position
    none = I.build_input(ztf(np.array([19.0, 19.5, 19.2, 18.8]), meta), "bts",
                         "first-detection/none")
    assert np.all(none.static == -9) and none.domain["warnings"] == ["missing_metadata"]


def test_noise_outside_training():
    """Idealised, nearly noise-free fluxes (PLAsTiCC's SNANA sample has median FLUXCALERR
    ~0.01) are flagged; LSST-like errors are not."""
    def lc(err_njy):
        n = 6
        return LightCurve("n", "lsst", mjd=60000.0 + np.arange(n), mag=np.full(n, 20.0),
                          magerr=np.full(n, 0.1), band=["g"] * n, is_det=np.ones(n, bool),
                          flux=np.full(n, 900.0), fluxerr=np.full(n, err_njy),
                          context=Context(extra={"MWEBV": 0.02}))
    assert I.build_input(lc(0.3), "elasticc").domain["warnings"] == ["noise_outside_training"]
    assert I.build_input(lc(60.0), "elasticc").domain["warnings"] == []
