"""ORACLE routing: LSST alerts without any host-galaxy value go to the elasticc-lite model.

``Scorer.load(oracle="auto")`` keeps the registry's model per survey (``elasticc`` for LSST)
and sends the alerts on which that model would see every host-galaxy value missing (-9; the
Milky Way E(B-V) may be there) -- every real Rubin/Fink LSST packet, and Lasair's, which carry
E(B-V) only -- to ``routing.oracle_without_metadata`` (``elasticc-lite``), measured far better
on them (models/oracle/README.md, "Routing").
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from earlier_alerts import rubin_earlier  # noqa: E402

import vra_filters as vra
from vra_filters.cli import main
from vra_filters.oracle import Oracle
from vra_filters.oracle.batched import rows_many
from vra_filters.oracle.inputs import ELASTICC_STATIC_NAMES
from vra_filters.readers import iter_read, rubin
from vra_filters.state import MemoryStore

DATA = Path(__file__).parent / "data"
RUBIN = DATA / "rubin" / "rubin_sample_data_10_0_subset.parquet"  # real LSST, no host values
FINK_LSST = DATA / "rubin" / "fink_lsst_part-2-918301_subset.avro"
ELASTICC = DATA / "rubin" / "elasticc_sample_seed0_subset.parquet"  # simulated, host values
LASAIR = DATA / "lasair" / "20260202_102448_subset.json"  # real LSST; E(B-V), some separations
VARIANT = "numpy-float32"  # exact GRU state continuation (1e-6)
WHY = "no host galaxy magnitudes: elasticc-lite"


def _lcs(path):
    return [x for x in iter_read([path]) if isinstance(x, vra.LightCurve)]


@pytest.fixture(scope="module")
def auto():
    return vra.Scorer.load(oracle_variant=VARIANT)


@pytest.fixture(scope="module")
def lite():
    return Oracle.load("elasticc-lite", VARIANT)


def _blocks(result):
    return [a.oracle for a in result.results]


def _probs(block):
    return np.array([block["probabilities"][k] for k in sorted(block["probabilities"])])


# ----------------------------------------------------------------------- the static test


def test_host_missing_reads_the_host_values_alone_without_building_rows():
    lasair = _lcs(LASAIR)
    lcs = _lcs(RUBIN) + _lcs(ELASTICC) + lasair + _lcs(DATA / "ztf" / "ZTF19acihgng.avro")
    full = Oracle.load("elasticc", "numpy-int8")
    got = full.host_missing(lcs)
    rows, _ = rows_many(lcs, "elasticc", full.convention)
    host = [n for n in ELASTICC_STATIC_NAMES
            if n.startswith("HOSTGAL_MAG_") or n == "HOSTGAL_ELLIPTICITY"]
    want = [lc.survey == "lsst" and not any(np.isfinite(float((lc.context.extra or {}).get(
        n, np.nan))) for n in host) for lc in lcs]
    assert got.dtype == bool and got.tolist() == want
    # every-static-value-missing (the missing_metadata flag) implies no host value
    assert all(g for g, r in zip(got, rows) if not isinstance(r, str) and r.missing_metadata)
    # the 4 real Rubin alerts: nothing; ELAsTiCC: host values, or the sentinels of a hostless
    # object (-9 / -999 / 999: "no host", as in training); Lasair: E(B-V), sometimes
    # Sherlock's host redshift and separation, never host magnitudes
    sim = _lcs(ELASTICC)[2].context.extra
    assert sim["HOSTGAL_PHOTOZ"] == -9 and sim["HOSTGAL_MAG_r"] == 999 and sim["MWEBV"] > 0
    assert rows[6].static[2:].tolist() == [-9.0] * 16
    n = len(lasair)
    assert got[:7].tolist() == [True] * 4 + [False] * 3
    assert got[7:7 + n].all() and not got[7 + n:].any()
    assert any("HOSTGAL_SNSEP" in (lc.context.extra or {}) for lc in lasair)
    assert not any(rows[7 + k].missing_metadata for k in range(n))
    for model in ("elasticc-lite", "bts"):  # no host input
        assert not Oracle.load(model, "numpy-int8").host_missing(lcs).any()


# ----------------------------------------------------------------------- the routing


def test_real_rubin_alerts_go_to_the_lite_model(auto, lite):
    lcs = _lcs(RUBIN)
    assert auto.oracles["lsst"].model == "elasticc"
    assert auto.oracle_fallbacks["lsst"].model == "elasticc-lite"
    blocks = _blocks(auto.score(lcs))
    assert [b["model"] for b in blocks] == ["elasticc-lite"] * 4
    assert all(b["routed"] == WHY and b["status"] == "ok" for b in blocks)
    assert all("missing_metadata" not in b["warnings"] for b in blocks)
    assert [b["sha256"] for b in blocks] == [lite.sha256] * 4
    # the same numbers as the lite model on its own, from the whole light curve
    for b, r in zip(blocks, lite.classify(lcs)):
        assert b["probabilities"] == pytest.approx(r["probabilities"], abs=1e-6)
    json.dumps(blocks, allow_nan=False)  # JSON-safe


def test_elasticc_alerts_with_host_values_keep_the_full_model(auto):
    blocks = _blocks(auto.score(_lcs(ELASTICC)))
    assert [b["model"] for b in blocks] == ["elasticc"] * 3
    assert all("routed" not in b for b in blocks)


def test_lasair_alerts_go_to_lite_with_or_without_a_sherlock_host(auto):
    # E(B-V) on every alert, a Sherlock host separation on some: neither is the host
    # description the full model needs (with them it does worse than lite: README "Routing")
    lcs = _lcs(LASAIR)
    sep = ["HOSTGAL_SNSEP" in (lc.context.extra or {}) for lc in lcs]
    assert all("MWEBV" in (lc.context.extra or {}) for lc in lcs) and 0 < sum(sep) < len(lcs)
    blocks = _blocks(auto.score(lcs))
    assert [b["model"] for b in blocks] == ["elasticc-lite"] * len(lcs)
    assert all(b["routed"] == WHY for b in blocks)


def test_a_mixed_batch_splits_and_equals_each_alone(auto):
    rubin_lcs, sim = _lcs(RUBIN) + _lcs(FINK_LSST), _lcs(ELASTICC)
    mixed = [rubin_lcs[0], sim[0], rubin_lcs[1], sim[1], sim[2], *rubin_lcs[2:]]
    together = auto.score(mixed)
    alone = [auto.score([lc]) for lc in mixed]
    assert [b["model"] for b in _blocks(together)] == \
        ["elasticc-lite", "elasticc", "elasticc-lite", "elasticc", "elasticc"] + \
        ["elasticc-lite"] * (len(rubin_lcs) - 2)
    for t, (one,) in zip(_blocks(together), [_blocks(a) for a in alone]):
        assert t == one
    states = {k: s for a in alone for k, s in a.states.items()}
    assert together.states.keys() == states.keys()
    for key, st in together.states.items():
        assert st.oracle == states[key].oracle


def test_explicit_models_and_upstream_conventions_mean_no_fallback():
    lcs = _lcs(RUBIN)
    for scorer in (vra.Scorer.load(oracle="elasticc", oracle_variant=VARIANT),
                   vra.Scorer.load(oracle={"lsst": "elasticc"}, oracle_variant=VARIANT),
                   vra.Scorer.load(oracle_variant=VARIANT, oracle_without_metadata="none"),
                   vra.Scorer.load(oracle_variant=VARIANT, oracle_convention="upstream"),
                   vra.Scorer.load(oracle_variant=VARIANT,
                                   oracle_convention="upstream-training")):
        assert scorer.oracle_fallbacks == {}
        blocks = _blocks(scorer.score(lcs))
        assert [b["model"] for b in blocks] == ["elasticc"] * 4
        assert all("missing_metadata" in b["warnings"] and "routed" not in b for b in blocks)
    with pytest.raises(ValueError, match="reproduces upstream"):
        vra.Scorer.load(oracle_convention="upstream",
                        oracle_without_metadata={"lsst": "elasticc-lite"})
    with pytest.raises(ValueError, match="oracle_without_metadata"):
        vra.Scorer.load(oracle_without_metadata="elasticc-lite")
    # an explicit fallback with explicit models (what the ANTARES filter does)
    pinned = vra.Scorer.load(oracle={"lsst": "elasticc"}, oracle_variant=VARIANT,
                             oracle_without_metadata={"lsst": "elasticc-lite", "ztf": "bts"})
    assert {s: o.model for s, o in pinned.oracle_fallbacks.items()} == {"lsst": "elasticc-lite"}
    assert [b["model"] for b in _blocks(pinned.score(lcs))] == ["elasticc-lite"] * 4


def test_fingerprint_names_the_fallback_model(auto, lite, tmp_path):
    plain = vra.Scorer.load(oracle_variant=VARIANT, oracle_without_metadata="none")
    assert plain.fingerprint != auto.fingerprint
    assert "oracle_without_metadata" not in plain.settings
    fb = auto.settings["oracle_without_metadata"]["lsst"]
    assert (fb["model"], fb["sha256"]) == ("elasticc-lite", lite.sha256)
    # a re-delivery scored without the fallback is re-scored by the routed scorer, not re-emitted
    lc = _lcs(RUBIN)[2]
    store = MemoryStore()
    (first,) = vra.Stream(plain, store).process([lc])
    (again,) = vra.Stream(auto, store).process([lc])
    assert first.oracle["model"] == "elasticc" and first.settings == plain.fingerprint
    assert again.status == "rescored" and again.oracle["model"] == "elasticc-lite"
    assert again.settings == auto.fingerprint


# ----------------------------------------------------------------------- state


def _rubin_alerts():
    """The earlier alerts of the real Rubin object with the most detections, rebuilt."""
    best = max(rubin.iter_records(RUBIN), key=lambda r: len(r.data.get("prvDiaSources") or []))
    return [rubin.from_record(p) for p in rubin_earlier(best.data)]


def test_lite_state_continues_across_batches(auto, lite):
    alerts = _rubin_alerts()
    assert len(alerts) >= 10
    half = len(alerts) // 2
    one = auto.score(alerts)
    first = auto.score(alerts[:half])
    second = auto.score(alerts[half:], prior=first.states)
    assert [b["model"] for b in _blocks(second)] == ["elasticc-lite"] * (len(alerts) - half)
    for a, b in zip(_blocks(one)[half:], _blocks(second)):
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-6)
    (key,) = one.states
    assert set(one.states[key].oracle) == {lite.state_name}
    # the second batch did continue the lite state: a different state, other numbers
    from vra_filters.oracle import OracleState
    st = OracleState.from_bytes(first.states[key].oracle[lite.state_name])
    st.h2 = st.h2 + 0.5
    tampered = copy.deepcopy(first.states)
    tampered[key].oracle[lite.state_name] = st.to_bytes()
    moved = _blocks(auto.score(alerts[half:half + 1], prior=tampered))[0]
    assert max(abs(moved["probabilities"][k] - _blocks(second)[0]["probabilities"][k])
               for k in moved["probabilities"]) > 1e-3
    # the state carried over is the lite model's: the last alert equals the whole curve
    (whole,) = lite.classify(alerts[-1:])
    assert _probs(_blocks(second)[-1]) == pytest.approx(_probs(whole), abs=1e-5)


def test_an_object_switching_between_models_keeps_each_state_right(auto, lite):
    alerts = _rubin_alerts()[:9]
    with_host = []
    for k, lc in enumerate(alerts):
        if k in (3, 4, 5):  # these packets carried the host galaxy's magnitudes
            lc = copy.copy(lc)
            lc.context = copy.copy(lc.context)
            lc.context.extra = dict(lc.context.extra or {}, HOSTGAL_PHOTOZ=0.1,
                                    HOSTGAL_MAG_r=21.3, HOSTGAL_MAG_i=20.9)
        with_host.append(lc)
    prior: dict = {}
    blocks = []
    for lc in with_host:  # one alert per batch, as a stream delivers them
        out = auto.score([lc], prior=prior)
        prior.update(out.states)
        blocks.extend(_blocks(out))
    assert [b["model"] for b in blocks] == ["elasticc-lite"] * 3 + ["elasticc"] * 3 + \
        ["elasticc-lite"] * 3
    (state,) = prior.values()
    assert set(state.oracle) == {lite.state_name, auto.oracles["lsst"].state_name}
    # each model's answer is its answer on the whole light curve (its state caught up)
    full = auto.oracles["lsst"]
    for k, b in enumerate(blocks):
        ref = (lite if b["model"] == "elasticc-lite" else full).classify([with_host[k]])[0]
        assert _probs(b) == pytest.approx(_probs(ref), abs=1e-5), k


# ----------------------------------------------------------------------- the command line


def test_vra_score_routes_a_real_rubin_alert_to_lite(capsys):
    code = main(["score", str(RUBIN), "--state", ":memory:", "--quiet"])
    out, _ = capsys.readouterr()
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(records) == 4
    assert {r["oracle"]["model"] for r in records} == {"elasticc-lite"}
    assert {r["oracle"]["routed"] for r in records} == {WHY}
    code = main(["score", str(RUBIN), "--state", ":memory:", "--quiet",
                 "--oracle-model", "elasticc"])
    out, _ = capsys.readouterr()
    assert {json.loads(line)["oracle"]["model"] for line in out.splitlines()} == {"elasticc"}
