"""VRA features: exact parity with the ATLAS VRA, and its quirks pinned on small hand-made cases."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from vra_filters import features as F
from vra_filters.history import atlas_visit_times
from vra_filters.lightcurve import Context, LightCurve, LightCurveBatch
from vra_filters.readers import atlas

DATA = Path(__file__).parent / "data" / "atlas"
REF = json.loads((DATA / "reference_scores.json").read_text())
OBJECTS = sorted(REF["examples"])


def load_atlas(name: str) -> LightCurve:
    (record,) = list(atlas.iter_records(DATA / f"{name}.json.gz"))
    return atlas.from_record(record.data)


def as_float(v) -> float:
    return math.nan if v is None else float(v)


def assert_same(ours: np.ndarray, names, ref: dict) -> None:
    for name, value in zip(names, ours):
        want = as_float(ref[name])
        if math.isnan(want):
            assert math.isnan(value), f"{name}: {value} != NaN"
        else:
            assert abs(value - want) <= 1e-9, f"{name}: {value} != {want}"


@pytest.mark.parametrize("name", OBJECTS)
@pytest.mark.parametrize("run", [0, 1], ids=["ebv-nan", "ebv-lowres"])
def test_atlas_parity_day1_and_last_visit(name, run):
    ref = REF["examples"][name]["runs"][run]
    lc = load_atlas(name)
    ebv = ref["ebv_sfd_input"]
    lc.context.ebv = math.nan if ebv is None else ebv
    first_visit = lc.until(atlas_visit_times(lc)[0])
    feats = F.compute(LightCurveBatch.from_lightcurves([first_visit, lc]))
    assert_same(feats.day1[0], F.DAY1_FEATURES, ref["day1"]["features"])
    assert_same(feats.dayN[1], F.DAYN_FEATURES, ref["dayN_full_json"]["features"])


def test_column_orders_are_the_duck_models():
    assert len(F.DAY1_FEATURES) == 16 and len(F.DAYN_FEATURES) == 23
    assert F.DAYN_FEATURES[0] == "dayN" and F.DAYN_FEATURES[7:] == F.DAY1_FEATURES
    ref = REF["examples"][OBJECTS[0]]["runs"][0]
    assert list(ref["day1"]["features"]) == list(F.DAY1_FEATURES)
    assert list(ref["dayN_full_json"]["features"]) == list(F.DAYN_FEATURES)


def test_day_label_quirk():
    phase = np.array([-5.5, -5.0, -0.5, 0.0, 0.2, 1.0, 1.5, 14.9])
    assert F.day_label(phase).tolist() == [-5, -5, 0, 0, 1, 2, 2, 15]
    assert not np.signbit(F.day_label(np.array([-0.5]))).any()


def make_lc(points, t0=100.0, **context) -> LightCurve:
    """points: (mjd, mag, is_det[, ra, dec])."""
    mjd = [p[0] for p in points]
    return LightCurve(
        object_id=str(context.pop("oid", "x")), survey="lsst", mjd=mjd,
        mag=[p[1] for p in points], magerr=None, band=["g"] * len(points),
        is_det=[p[2] for p in points],
        ra=[p[3] if len(p) > 3 else math.nan for p in points],
        dec=[p[4] if len(p) > 4 else math.nan for p in points],
        context=Context(**context), t0=t0)


def features_of(lc: LightCurve):
    feats = F.compute(LightCurveBatch.from_lightcurves([lc]))
    return (dict(zip(F.DAY1_FEATURES, feats.day1[0])), dict(zip(F.DAYN_FEATURES, feats.dayN[0])),
            bool(feats.dayN_empty[0]))


def test_day1_history_drops_first_detection_and_groups_nondetections():
    # History before phase 0: det (dropped), 2 non-dets, det, 1 non-det, det; then today.
    lc = make_lc([(90.0, 20.0, True, 10.0, 5.0), (91.0, 21.0, False), (92.0, 21.0, False),
                  (96.5, 19.0, True, 10.0, 5.0), (97.0, 21.5, False),
                  (98.0, 18.0, True, 10.0002, 5.0001), (100.3, 17.5, True, 10.0, 5.0)])
    d1, _, _ = features_of(lc)
    # Groups: 0 -> [2 non-dets], 1 -> det@96.5 + 1 non-det, 2 -> det@98 + 0 -> counts [2, 1, 0]
    assert d1["Nnondet_mean"] == pytest.approx(1.0)
    assert d1["Nnondet_std"] == pytest.approx(1.0)
    assert d1["magdet_std"] == pytest.approx(np.std([19.0, 18.0], ddof=1))
    # phase > -6: 96.5 (-3.5), 97 (-3), 98 (-2) -> 2 dets, 1 non-det
    assert d1["DET_Nsince_min5d"] == 2 and d1["NON_Nsince_min5d"] == 1
    assert d1["DET_mag_median_min5d"] == pytest.approx(18.5)
    assert d1["log10_std_ra_min5d"] == pytest.approx(math.log10(np.std([10.0, 10.0002], ddof=1)))


def test_day1_empty_history_and_zero_scatter():
    d1, _, _ = features_of(make_lc([(100.3, 17.5, True)]))
    assert d1["DET_Nsince_min5d"] == 0 and d1["NON_Nsince_min5d"] == 0
    for name in ("Nnondet_std", "Nnondet_mean", "magdet_std", "log10_std_ra_min5d",
                 "DET_mag_median_min5d"):
        assert math.isnan(d1[name]), name
    lc = make_lc([(95.0, 19.0, True, 1.5, 2.0), (96.0, 19.0, True, 1.5, 2.0),
                  (97.0, 19.0, True, 1.5, 2.0), (100.3, 17.5, True)])
    d1, _, _ = features_of(lc)
    assert d1["log10_std_ra_min5d"] == -math.inf  # identical positions: log10(0)
    assert d1["magdet_std"] == 0.0


def test_dayN_running_totals_are_nan_on_days_without_that_kind():
    lc = make_lc([(100.2, 19.0, True), (100.3, 18.0, True), (101.5, 20.5, False),
                  (102.5, 18.5, True), (103.5, 20.9, False), (103.6, 21.1, False)])
    _, dn, empty = features_of(lc)
    assert not empty
    assert dn["dayN"] == 4.0
    assert math.isnan(dn["DET_mag_median"]) and math.isnan(dn["DET_N_total"])
    assert dn["NON_mag_median"] == pytest.approx(21.0)
    assert dn["NON_N_total"] == 3.0
    assert dn["max_mag"] == pytest.approx(18.5) and dn["max_mag_day"] == 1.0
    # the same light curve cut after day 3: a detection day
    _, dn, _ = features_of(lc.until(102.9))
    assert dn["dayN"] == 3.0 and dn["DET_N_total"] == 3.0 and math.isnan(dn["NON_N_total"])
    assert dn["DET_mag_median"] == pytest.approx(18.5)


def test_dayN_max_mag_tie_keeps_earlier_day_and_negative_mags_win():
    lc = make_lc([(100.5, 18.0, True), (101.5, 18.0, True)])
    _, dn, _ = features_of(lc)
    assert dn["max_mag"] == 18.0 and dn["max_mag_day"] == 1.0
    lc = make_lc([(100.5, 18.0, True), (101.5, -18.5, True)])
    _, dn, _ = features_of(lc)
    assert dn["max_mag"] == -18.5 and dn["max_mag_day"] == 2.0


def test_dayN_window_empty_is_reported():
    lc = make_lc([(80.0, 19.0, True)], t0=100.0)
    _, _, empty = features_of(lc)
    assert empty


def test_ebv_is_rounded_to_float32_like_the_sfd_query():
    d1, _, _ = features_of(make_lc([(100.3, 17.5, True)], ebv=0.0503, host_sep_arcsec=10.0,
                                   catalogue_class="CV"))
    assert d1["ebv_sfd"] == float(np.float32(0.0503)) != 0.0503
    assert d1["log10_sep_arcsec"] == 1.0 and d1["CV"] == 1.0


def test_batch_equals_one_by_one():
    """Vectorising across objects must not leak anything between neighbours."""
    rng = np.random.default_rng(3)
    lcs = [load_atlas(name) for name in OBJECTS]
    for i in range(40):
        n = int(rng.integers(1, 60))
        mjd = np.sort(rng.uniform(0, 25, n)) + 85.0
        det = rng.random(n) < 0.5
        det[-1] = True
        lcs.append(LightCurve(object_id=f"r{i}", survey="lsst", mjd=mjd,
                              mag=rng.normal(19, 1, n), magerr=None, band=["r"] * n,
                              is_det=det, ra=np.where(det, 10 + rng.normal(0, 1e-4, n), np.nan),
                              dec=np.where(det, -5 + rng.normal(0, 1e-4, n), np.nan), t0=100.0))
    together = F.compute(LightCurveBatch.from_lightcurves(lcs))
    for i, lc in enumerate(lcs):
        alone = F.compute(LightCurveBatch.from_lightcurves([lc]))
        np.testing.assert_array_equal(alone.day1[0], together.day1[i])
        np.testing.assert_array_equal(alone.dayN[0], together.dayN[i])


def test_long_history_of_ten_thousand_points():
    n = 10_000
    mjd = np.linspace(0.0, 115.0, n)
    lc = LightCurve(object_id="long", survey="lsst", mjd=mjd, mag=np.full(n, 19.0),
                    magerr=None, band=["i"] * n, is_det=np.arange(n) % 3 == 0, t0=100.0)
    feats = F.compute(LightCurveBatch.from_lightcurves([lc]))
    d1 = dict(zip(F.DAY1_FEATURES, feats.day1[0]))
    assert d1["DET_Nsince_min5d"] + d1["NON_Nsince_min5d"] == np.sum((mjd > 94) & (mjd < 100))
    assert feats.dayN[0][0] == 15.0


def _same_features(a: F.VRAFeatures, b: F.VRAFeatures) -> None:
    for name in ("day1", "dayN", "dayN_empty"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.mark.parametrize("name,clipped_replays", [("ztf/ZTF19acihgng.avro", 6),
                                                   ("rubin/fink_lsst_part-2-918301_subset.avro", 0)])
def test_points_outside_the_feature_phases_change_no_feature(name, clipped_replays):
    """What packet replays rely on: clipping each earlier alert to FEATURE_PHASES, and
    sharing the light-curve part between replays with the same points, gives the features
    of the whole prefixes (context features each replay's own: rb differs per detection)."""
    from vra_filters import read
    path = Path(__file__).parent / "data" / name
    lcs = read(path).lightcurves
    lc = max(lcs, key=lambda x: x.n_det)
    from vra_filters import visits
    keep = tuple(int(k) for k in np.searchsorted(lc.mjd - lc.t0, F.FEATURE_PHASES, "left"))
    whole, clipped = visits(lc)[:-1], visits(lc, keep)[:-1]
    assert len(whole) >= 30
    assert sum(len(c) < len(w) for c, w in zip(clipped, whole)) == clipped_replays
    assert [c.alert_id for c in clipped] == [w.alert_id for w in whole]
    reference = F.compute(LightCurveBatch.from_lightcurves(whole))
    _same_features(F.compute(LightCurveBatch.from_lightcurves(clipped)), reference)
    lengths = [len(c) for c in clipped]
    twin = [lengths.index(n) if n == max(lengths) else i for i, n in enumerate(lengths)]
    assert len(set(c.context.rb for c in clipped)) > 1
    _same_features(F.compute_shared(clipped, twin), reference)


def test_validate_prefixes_equals_validate_on_each_prefix():
    from vra_filters.validation import validate, validate_prefixes
    rng = np.random.default_rng(5)
    for trial in range(40):
        n = int(rng.integers(1, 30))
        mjd = np.sort(rng.uniform(0, 30, n))
        if trial % 4 == 0:
            mjd[-1] = np.nan
        mag = np.where(rng.random(n) < 0.3, np.nan, 19.0)
        lc = LightCurve(object_id="x", survey="ztf", mjd=mjd, mag=mag, magerr=mag * 0 + 0.1,
                        band=np.array(["g"] * n), is_det=rng.random(n) < 0.5,
                        context=Context(), t0=np.nan if trial % 7 == 0 else 0.0)
        ks = list(range(0, n + 1))
        prefixes = [lc.points(0, k) for k in ks]
        want = validate(LightCurveBatch.from_lightcurves(prefixes))
        assert validate_prefixes(lc, ks) == want
        # one length at a time (the shortcut for an alert without replays)
        assert [validate_prefixes(lc, [k])[0] for k in ks] == want
