"""The Rubin / Lasair readers' fast column path (lists of plain dicts read in one pass) gives
exactly what the field-by-field path gives, light curves and errors alike.

The field-by-field path is forced by handing the readers the same entries as read-only
mappings (``types.MappingProxyType``): a Mapping, but not a plain dict.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest

from vra_filters.lightcurve import POINT_FIELDS, Context, InputError, LightCurve
from vra_filters.readers import _rubin_columns, lasair, rubin
from vra_filters.readers._fields import all_distinct, plain_values

DATA = Path(__file__).parent / "data"
LASAIR_FILES = sorted((DATA / "lasair").glob("*.json*"))
RUBIN_FILES = [p for p in sorted((DATA / "rubin").iterdir())
               if p.name.endswith((".avro", ".avro.gz", ".parquet"))]
LISTS = ("diaSourcesList", "diaForcedSourcesList", "diaNondetectionLimitsList",
         "prvDiaSources", "prvDiaForcedSources", "prvDiaNondetectionLimits")


def _lasair_records() -> list:
    return [r.data for p in LASAIR_FILES for r in lasair.iter_records(p)
            if isinstance(r.data, dict) and r.data.get("alert")]


def _rubin_packets() -> list:
    return [r.data for p in RUBIN_FILES for r in rubin.iter_records(p)]


def _proxied(packet: dict) -> dict:
    """A copy whose list entries are read-only mappings (the field-by-field path)."""
    out = dict(packet)
    for name in LISTS:
        if isinstance(out.get(name), list):
            out[name] = [MappingProxyType(d) if isinstance(d, dict) else d for d in out[name]]
    return out


def _same(a: LightCurve, b: LightCurve) -> None:
    for name in POINT_FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        assert x.tobytes() == y.tobytes(), name  # bit for bit, NaNs included
    assert (a.object_id, a.alert_id, repr(a.alert_mjd), repr(a.t0)) == \
        (b.object_id, b.alert_id, repr(b.alert_mjd), repr(b.t0))
    assert repr(a.context) == repr(b.context)


def _lasair_slow(record: dict) -> dict:
    out = dict(record)
    out["alert"] = _proxied(record["alert"])
    return out


def test_fast_and_field_by_field_paths_give_the_same_lasair_light_curves():
    records = _lasair_records()
    assert len(records) >= 30
    n_points = 0
    for rec in records:
        fast, slow = lasair.from_record(rec), lasair.from_record(_lasair_slow(rec))
        _same(fast, slow)
        n_points += len(fast)
    assert n_points > 300


def _with_limits(packet: dict) -> dict:
    """ELAsTiCC-style non-detection limits made from a packet's forced photometry, half a day
    later (the test files carry none)."""
    out = dict(packet)
    time_key = next(k for k in ("midpointMjdTai", "midPointTai") if k in packet["diaSource"])
    band_key = next(k for k in ("band", "filterName") if k in packet["diaSource"])
    err_key = next(k for k in ("psfFluxErr", "psFluxErr") if k in packet["diaSource"])
    out["prvDiaNondetectionLimits"] = [
        {"midPointTai": d[time_key] + 0.5, "filterName": d[band_key], "diaNoise": d[err_key]}
        for d in packet["prvDiaForcedSources"]]
    return out


def test_fast_and_field_by_field_paths_give_the_same_rubin_light_curves():
    packets = _rubin_packets()
    packets += [_with_limits(p) for p in packets if p.get("prvDiaForcedSources")]
    kinds = {"forced": 0, "limits": 0}
    compared = 0
    for packet in packets:
        try:
            fast = rubin.from_record(packet)
        except InputError as exc:
            with pytest.raises(InputError) as slow_exc:
                rubin.from_record(_proxied(packet))
            assert str(slow_exc.value) == str(exc)
            continue
        _same(fast, rubin.from_record(_proxied(packet)))
        compared += 1
        kinds["forced"] += bool(packet.get("prvDiaForcedSources"))
        kinds["limits"] += bool(packet.get("prvDiaNondetectionLimits"))
    assert compared >= 40 and kinds["forced"] > 0 and kinds["limits"] > 0


BAD_VALUES = ["abc", [1], [1, 2], {"a": 1}, None, math.nan, math.inf, 5e6, 10 ** 400, "G", "x",
              True, "1.5"]
FIELDS = ["midpointMjdTai", "band", "psfFlux", "psfFluxErr", "ra", "decl", "reliability",
          "pixelFlags_saturatedCenter", "diaSourceId", "visit"]


@pytest.mark.parametrize("field", FIELDS)
def test_a_bad_value_gives_the_same_result_on_both_paths(field):
    base = max(_lasair_records(), key=lambda r: len(r["alert"]["diaSourcesList"]))
    outcomes = set()
    for value in BAD_VALUES:
        for where in (0, 3, -1):
            rec = copy.deepcopy(base)
            rec["alert"]["diaSourcesList"][where][field] = value
            results = []
            for r in (rec, _lasair_slow(rec)):
                try:
                    results.append(lasair.from_record(r))
                except InputError as exc:
                    results.append(str(exc))
            if isinstance(results[0], str):
                assert results[0] == results[1]
                outcomes.add(results[0])
            else:
                _same(*results)
    if field == "midpointMjdTai":
        assert "alert.diaSourcesList.midpointMjdTai: non-numeric value" in outcomes
        assert "alert.diaSourcesList.midpointMjdTai: non-finite time" in outcomes
        assert "alert.diaSourcesList.midpointMjdTai: time out of range (not an MJD)" in outcomes
    if field == "band":
        assert "alert.diaSourcesList.band: unknown band 'x'" in outcomes
        assert "alert.diaSourcesList.band: a band is not a name" in outcomes


def test_upper_case_bands_are_lower_cased_on_the_fast_path():
    rec = copy.deepcopy(max(_lasair_records(), key=lambda r: len(r["alert"]["diaSourcesList"])))
    for d in rec["alert"]["diaSourcesList"]:
        d["band"] = d["band"].upper()
    lc = lasair.from_record(rec)
    assert lc.band.dtype == np.dtype("<U1") and set(lc.band) <= set("ugrizy")
    _same(lc, lasair.from_record(_lasair_slow(rec)))


def test_plain_values_reads_several_fields_in_one_pass():
    items = [{"a": 1, "b": "x"}, {"a": 2.5}, {"b": "y", "a": None}]
    assert plain_values(items, ["a", "b"]) == [(1, 2.5, None), ("x", None, "y")]
    assert plain_values(items, ["a"]) == [(1, 2.5, None)]
    assert plain_values(items[:1], ["a", "b"]) == [(1,), ("x",)]
    assert plain_values([MappingProxyType(items[0])], ["a"]) is None  # not a plain dict
    assert plain_values([items[0], "junk"], ["a"]) is None
    assert plain_values([], ["a"]) is None


def test_all_distinct():
    assert all_distinct([1, 2, 3]) and all_distinct([None, 1])
    assert not all_distinct([1, 2, 1]) and not all_distinct([None, None])
    assert not all_distinct([[1], [2]])  # unhashable: left to first_occurrence


def test_repeated_diasource_ids_keep_the_first_on_the_fast_path():
    rec = copy.deepcopy(max(_lasair_records(), key=lambda r: len(r["alert"]["diaSourcesList"])))
    sources = rec["alert"]["diaSourcesList"]
    n = len(sources)
    sources.insert(0, copy.deepcopy(sources[-1]))  # a re-delivered trigger, first in the list
    sources[0]["psfFlux"] = 123.0
    lc = lasair.from_record(rec)
    assert lc.n_det == n and 123.0 in lc.flux  # the first copy was kept, the later one dropped
    _same(lc, lasair.from_record(_lasair_slow(rec)))


def test_detection_columns_are_the_field_by_field_columns():
    sources = max(_lasair_records(), key=lambda r: len(r["alert"]["diaSourcesList"]))
    sources = sources["alert"]["diaSourcesList"]
    fast, ids, visit = _rubin_columns.detections(sources, "w")
    slow, slow_ids, slow_visit = _rubin_columns.detections(
        [MappingProxyType(d) for d in sources], "w")
    assert list(ids) == list(slow_ids) and np.array_equal(visit, slow_visit)
    assert fast.keys() == slow.keys()
    for name in fast:
        assert fast[name].dtype == slow[name].dtype
        assert np.array_equal(fast[name], slow[name], equal_nan=name not in ("band",
                                                                             "saturated"))


def test_light_curve_still_sorts_unsorted_points():
    lc = LightCurve(object_id="x", survey="lsst", mjd=[3.0, 1.0, 2.0, 2.0],
                    mag=[13.0, 11.0, 12.0, 12.5], magerr=None, band=list("grir"),
                    is_det=[True, True, False, True], context=Context(), alert_id="a")
    assert lc.mjd.tolist() == [1.0, 2.0, 2.0, 3.0]
    assert lc.mag.tolist() == [11.0, 12.0, 12.5, 13.0]  # stable: equal times keep their order
    assert lc.band.tolist() == list("rirg") and lc.t0 == 1.0


def test_the_trigger_is_the_latest_source_the_last_on_ties():
    rows = [{"midpointMjdTai": t, "i": i} for i, t in enumerate([61000.5, 61002.0, 61001.0,
                                                                  61002.0, 60999.0])]
    assert _rubin_columns.latest_index(rows) == 3
    assert rubin.trigger_of(rows, "w")["i"] == 3
    assert rubin.trigger_of([MappingProxyType(r) for r in rows], "w")["i"] == 3  # numpy path
    rows[1]["midpointMjdTai"] = 61003  # an int: left to the numpy path, same answer
    assert _rubin_columns.latest_index(rows) is None and rubin.trigger_of(rows, "w")["i"] == 1
    for bad, reason in ((math.nan, "non-finite time"), ("x", "non-numeric value"),
                        (2e6, "time out of range (not an MJD)")):
        rows[2]["midpointMjdTai"] = bad
        assert _rubin_columns.latest_index(rows) is None
        with pytest.raises(InputError) as exc:
            rubin.trigger_of(rows, "w")
        assert str(exc.value) == f"w.midpointMjdTai: {reason}"


def test_band_codes_by_table_are_the_band_order():
    rng = np.random.default_rng(3)
    band = rng.choice(list("ugrizy"), 500)
    want = np.array(["ugrizy".index(b) for b in band])
    assert band.dtype == np.dtype("<U1")
    assert np.array_equal(rubin._band_code_array(band), want)
    assert np.array_equal(rubin._band_code_array(band.astype("<U2")), want)  # sorting path
    assert rubin._band_code_array(band[:0]).shape == (0,)
