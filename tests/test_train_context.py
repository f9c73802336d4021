"""Broker cross-matches as context, and the policy rules that act on them (issue #12 item 3):
asteroids are never candidates, TNS matches rank 10, catalogued variable stars are galactic."""

from __future__ import annotations

import glob
import math
from dataclasses import replace
from pathlib import Path

import pytest

import vra_filters as vra
from vra_filters.lightcurve import Context
from vra_filters.policies import ObjectHistory, Policy, context_rules, load_policy, tier
from vra_filters.readers import crossmatch, ztf

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("otype,klass", [
    ("CataclyV*", "CV"), ("CV*", "CV"), ("DwarfNova", "CV"), ("RRLyr", "VS"), ("EB*", "VS"),
    ("Candidate_EB*", "VS"), ("Mira", "VS"), ("LPV*", "VS"), ("YSO", "VS"), ("QSO", "AGN"),
    ("Blazar", "AGN"), ("SyG", "AGN"), ("Sy*", "VS"),  # SIMBAD: Sy* is a symbiotic star
    ("Galaxy", ""), ("Star", ""), ("Unknown", ""), ("Fail 503", ""), (None, ""),
    (float("nan"), ""),
])
def test_simbad_types_become_sherlock_classes(otype, klass):
    assert crossmatch.simbad_class(otype) == klass


def test_variable_star_catalogues_cv_or_vs():
    assert crossmatch.variable_class("UGSU") == "CV"
    assert crossmatch.variable_class("NL") == "CV"
    assert crossmatch.variable_class("nan", "RRAB") == "VS"
    assert crossmatch.variable_class("Unknown", "Fail 503", None) == ""


def test_fink_ztf_columns_reach_the_context():
    recs = {r.data["objectId"]: r.data
            for r in ztf.iter_records(DATA / "fink" / "fink_ztf_part-3-305711.avro")}
    ia = ztf.from_record(recs["ZTF25acldfsf"]).context  # TNS SN Ia in NGC5674 (Mangrove)
    assert ia.tns_name == "SN Ia" and ia.distance_mpc == pytest.approx(112.441993769)
    assert not ia.solar_system and ia.catalogue_class == ""
    plain = ztf.from_record(recs["ZTF26aamcbly"]).context
    assert plain.tns_name == "" and math.isnan(plain.distance_mpc)
    # the same real packet with Fink's known-asteroid flag / a ZTF SSO match / a SIMBAD star
    known = ztf.from_record(dict(recs["ZTF26aamcbly"], roid=3)).context
    assert known.solar_system and known.ss_object_id == ""
    cand = dict(recs["ZTF26aamcbly"]["candidate"], ssnamenr="1999 XY12", ssdistnr=1.4)
    matched = ztf.from_record(dict(recs["ZTF26aamcbly"], candidate=cand)).context
    assert matched.solar_system and matched.ss_object_id == "1999 XY12"
    far = dict(cand, ssdistnr=25.0)
    assert not ztf.from_record(dict(recs["ZTF26aamcbly"], candidate=far)).context.solar_system
    assert ztf.from_record(dict(recs["ZTF26aamcbly"], roid=2)).context.solar_system is False
    rr = ztf.from_record(dict(recs["ZTF26aamcbly"], cdsxmatch="RRLyr")).context
    assert rr.catalogue_class == "VS"


def test_rubin_solar_system_alerts_are_flagged_from_the_packet():
    raw = vra.read(DATA / "fink" / "rubin_sample_data_10_0.parquet").lightcurves
    sso = sorted(lc.context.ss_object_id for lc in raw if lc.context.solar_system)
    assert sso == ["20892066498361688", "21163611661088578", "21164736943044929"]
    assert all(lc.object_id == f"sso_{lc.context.ss_object_id}"
               for lc in raw if lc.context.solar_system)
    fink = vra.read(DATA / "fink" / "fink_lsst_part-2-918301.avro").lightcurves
    assert sum(lc.context.solar_system for lc in fink) == 2  # pred.is_sso True for both too


def ctx(**kw):
    return replace(Context(), **kw)


def test_context_rules():
    pol = Policy()
    rank, gal, catalogued, why = context_rules(8.5, True, ctx(solar_system=True,
                                                              ss_object_id="42"), pol)
    assert (rank, gal, catalogued) == (0.0, False, False)
    assert why == "known solar-system object 42: never a candidate"
    assert context_rules(3.0, False, ctx(tns_name="2026abc"), pol)[:3] == (10.0, False, False)
    rank, gal, catalogued, why = context_rules(8.5, False, ctx(catalogue_class="VS"), pol)
    assert (rank, gal, catalogued) == (8.5, True, True) and why.startswith("catalogued VS")
    # a TNS transient stays a known transient even where a catalogue calls it a CV
    assert context_rules(3.0, False, ctx(catalogue_class="CV", tns_name="x"), pol)[2] is False
    # the galactic flag of the scores alone, as before: below the threshold only
    assert context_rules(8.0, True, ctx(), pol)[1] is False
    assert context_rules(6.0, True, ctx(), pol)[1] is True
    h = ObjectHistory()
    h.add_visit(8.5, 60000.0)
    assert tier(8.5, True, 50.0, h, 60000.0, pol, catalogued=True) == "galactic"
    assert tier(8.5, False, 50.0, h, 60000.0, pol) == "fast_track"
    h.garbage = True
    assert tier(0.5, True, math.nan, h, 60000.0, pol, catalogued=True) == "galactic"


def test_policy_file_keys_for_the_new_rules(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text("[solar_system]\nrank = 0.5\n[galactic]\ncatalogue_classes = ['CV']\n")
    pol = load_policy(f)
    assert pol.sso_rank == 0.5 and pol.galactic_classes == ("CV",)
    f.write_text("[solar_system]\nrank = 7.5\n")
    with pytest.raises(ValueError, match="solar_system.rank must stay below"):
        load_policy(f)
    f.write_text("[galactic]\ncatalogue_classes = 'CV'\n")
    with pytest.raises(ValueError, match="must be a list of class names"):
        load_policy(f)


LSST_SAMPLES = sorted(glob.glob(str(DATA / "fink" / "*lsst*.avro"))
                      + glob.glob(str(DATA / "fink" / "rubin_sample*.parquet"))
                      + glob.glob(str(DATA / "rubin" / "*.avro"))
                      + glob.glob(str(DATA / "rubin" / "rubin_sample*.parquet"))
                      + glob.glob(str(DATA / "lasair" / "*.json*")))


@pytest.fixture(scope="module")
def scorer():
    return vra.Scorer.load(oracle="none")


@pytest.mark.parametrize("history", ["packet", "given"])
def test_no_asteroid_ranks_above_the_threshold_on_real_lsst_samples(scorer, history):
    assert len(LSST_SAMPLES) >= 5
    seen = 0
    for path in LSST_SAMPLES:
        lcs = vra.read(path).lightcurves
        out = scorer.score(lcs, history=history)
        by_id = {(lc.object_id, lc.alert_id): lc for lc in lcs}
        for ann in out.annotations:
            if not by_id[(ann.object_id, ann.alert_id)].context.solar_system:
                continue
            seen += 1
            assert ann.rank < scorer.policy.eyeball_threshold, (path, ann.object_id)
            assert ann.tier in ("garbage", "purgatory") and not ann.galactic
            assert ann.explanation.startswith("known solar-system object")
            assert ann.vra_score > 5.0  # the scores alone would have ranked it high
    assert seen == 7  # 3 + 2 in the full files, 1 + 1 in the subsets


def test_a_catalogued_variable_star_goes_to_the_galactic_tier(scorer):
    rec = next(r.data for r in ztf.iter_records(DATA / "fink" / "fink_ztf_part-3-305711.avro")
               if r.data["objectId"] == "ZTF26aamcbly")
    plain = scorer.score([ztf.from_record(rec)]).annotations[0]
    star = scorer.score([ztf.from_record(dict(rec, cdsxmatch="RRLyr"))]).annotations[0]
    assert plain.tier == "garbage"  # the scores alone: rank < 1 on the first visit
    assert star.tier == "galactic" and star.galactic
    assert star.explanation.startswith("catalogued VS: a galactic source")
    assert star.p_real == plain.p_real  # the class is context for the policy, not a feature


def test_fink_tns_and_mangrove_distance_reach_the_rank_and_the_fast_track(scorer):
    recs = {r.data["objectId"]: r.data
            for r in ztf.iter_records(DATA / "fink" / "fink_ztf_part-3-305711.avro")}
    host = recs["ZTF26aamgikr"]  # Mangrove host PGC042562 at 64 Mpc, no TNS match
    lc = ztf.from_record(host)
    assert lc.context.distance_mpc == pytest.approx(64.1379976753) and not lc.context.tns_name
    plain = scorer.score([lc]).annotations[0]
    assert plain.rank == plain.vra_score >= 7.0 and plain.tier == "fast_track"
    hostless = dict(host, mangrove=dict(host["mangrove"], lum_dist="None"))
    far = scorer.score([ztf.from_record(hostless)]).annotations[0]
    assert far.tier == "extragalactic" and far.rank == plain.rank  # no host distance known
    faint = scorer.score([ztf.from_record(dict(recs["ZTF26aamcbly"], tns="SN Ia"))])
    assert faint.annotations[0].vra_score < 1.0 and faint.annotations[0].rank == 10.0
    assert faint.annotations[0].tns_name == "SN Ia" and faint.annotations[0].tier == \
        "extragalactic"


def test_mangrove_as_a_parquet_map_gives_the_host_distance():
    """pyarrow returns Fink ZTF's ``mangrove`` map as (key, value) pairs."""
    res = vra.read(DATA / "fink" / "ztf_fink_filters_regular.parquet")
    dist = {lc.object_id: lc.context.distance_mpc for lc in res.lightcurves}
    assert dist["ZTF25aavcvel"] == pytest.approx(57.0461566445, rel=1e-9)
    pairs = [("lum_dist", "57.0461566445"), ("HyperLEDA_name", "x")]
    ctx = crossmatch.ztf_context(Context(), {"mangrove": pairs}, {})
    assert ctx.distance_mpc == pytest.approx(57.0461566445)
