"""Lasair-LSST reader on real Kafka records (tests/data/lasair, see PROVENANCE.md there)."""

from __future__ import annotations

import collections
import gzip
import json
import math
import re
import time
from pathlib import Path

import numpy as np
import pytest

from vra_filters.lightcurve import InputError, LightCurve
from vra_filters.readers import Duplicate, Skip, lasair, read

DATA = Path(__file__).parent / "data" / "lasair"
SUBSET = DATA / "20260202_102448_subset.json"
DUPES = DATA / "20260205_073301.json.gz"
DEMO = (Path(__file__).parents[1] / "src" / "vra_filters" / "data" / "demo"
        / "lasair_lsst_sample.jsonl.gz")


def raw_records(path: Path) -> list:
    """The file parsed independently of the reader (the recipe in shared PROVENANCE.md)."""
    raw = path.read_bytes()
    text = gzip.decompress(raw).decode() if raw[:2] == b"\x1f\x8b" else raw.decode()
    return json.loads(re.sub(r",(\s*[}\]])", r"\1", text))


def by_id(items) -> dict:
    return {lc.object_id: lc for lc in items if isinstance(lc, LightCurve)}


def test_trailing_comma_file_parses_and_missing_alert_is_a_skip():
    assert ",\n}" in SUBSET.read_text()  # the hand edit is really there
    out = list(read([SUBSET]))  # auto-sniffed as Lasair
    skips = [o for o in out if isinstance(o, Skip)]
    assert len(out) == 5 and len(skips) == 1
    assert skips[0].source == "20260202_102448_subset.json#0"
    assert "169760231713145019" in skips[0].reason and "no alert packet" in skips[0].reason
    lcs = by_id(out)
    assert set(lcs) == {"169355602839470932", "169760233430188399", "169342390743072870",
                        "169298437465440380"}
    assert {k: (len(v), v.n_det) for k, v in lcs.items()} == {
        "169355602839470932": (2, 2), "169760233430188399": (3, 3),
        "169342390743072870": (17, 17), "169298437465440380": (87, 87)}


def test_points_recomputed_from_njy_flux():
    raw = raw_records(SUBSET)
    lc = by_id(read([SUBSET], "lasair"))["169298437465440380"]
    sources = raw[4]["alert"]["diaSourcesList"]
    assert collections.Counter(lc.band.tolist()) == {"i": 73, "r": 10, "z": 4}
    first = sources[0]
    assert lc.mjd[0] == first["midpointMjdTai"] == pytest.approx(60924.367098591145)
    assert lc.flux[0] == first["psfFlux"] == pytest.approx(2375.744140625)
    assert lc.mag[0] == pytest.approx(31.4 - 2.5 * math.log10(2375.744140625), abs=1e-12)
    assert lc.magerr[0] == pytest.approx(1.0857362 * first["psfFluxErr"] / first["psfFlux"],
                                         rel=1e-6)
    assert lc.rb[0] == first["reliability"] and lc.ra[0] == first["ra"]
    assert lc.dec[0] == first["decl"]
    trigger = sources[-1]
    assert lc.alert_id == str(trigger["diaSourceId"]) == "169830579907330069"
    assert lc.alert_mjd == trigger["midpointMjdTai"]
    assert lc.context.rb == trigger["reliability"]
    assert lc.t0 == math.floor(first["midpointMjdTai"])
    assert lc.survey == "lsst" and lc.is_det.all() and not lc.saturated.any()


def test_negative_flux_detection_uses_atlas_negative_magnitude():
    lc = by_id(read([SUBSET], "lasair"))["169355602839470932"]
    assert lc.is_det.all()
    assert lc.flux.tolist() == [-550.086669921875, 761.4284057617188]
    assert lc.mag[0] == pytest.approx(-(31.4 - 2.5 * math.log10(550.086669921875)))
    assert lc.mag[0] == pytest.approx(-24.548922197612477)
    assert lc.magerr[0] == pytest.approx(1.0857362 * 104.59355163574219 / 550.086669921875,
                                         rel=1e-6)
    assert lc.mag[1] == pytest.approx(31.4 - 2.5 * math.log10(761.4284057617188))
    assert lc.context.rb == pytest.approx(0.6445114612579346)


def test_context_from_the_object_row_and_oracle_static():
    lc = by_id(read([SUBSET], "lasair"))["169760233430188399"]
    ctx = lc.context
    assert ctx.catalogue_class == "SN"
    assert ctx.host_sep_arcsec == 0.312 and ctx.ebv == 0.0976196
    assert math.isnan(ctx.z) and math.isnan(ctx.photoz) and math.isnan(ctx.distance_mpc)
    assert ctx.tns_name == ""
    assert ctx.ra == pytest.approx(raw_records(SUBSET)[2]["ra"])
    assert ctx.extra == pytest.approx({"MWEBV": 0.0976196, "MWEBV_ERR": 0.05 * 0.0976196,
                                       "HOSTGAL_SNSEP": 0.312})


def test_oracle_static_redshift_rules():
    assert lasair.oracle_static(0.1, 0.05, 0.2, 0.03, 1.5) == pytest.approx(
        {"MWEBV": 0.1, "MWEBV_ERR": 0.005, "REDSHIFT_HELIO": 0.05, "HOSTGAL_SPECZ": 0.05,
         "HOSTGAL_PHOTOZ": 0.2, "HOSTGAL_PHOTOZ_ERR": 0.03, "HOSTGAL_SNSEP": 1.5})
    nan = math.nan
    assert lasair.oracle_static(0.1, nan, 0.2, 0.03, nan) == pytest.approx(
        {"MWEBV": 0.1, "MWEBV_ERR": 0.005, "REDSHIFT_HELIO": 0.2, "REDSHIFT_HELIO_ERR": 0.03,
         "HOSTGAL_PHOTOZ": 0.2, "HOSTGAL_PHOTOZ_ERR": 0.03})
    assert lasair.oracle_static(nan, nan, nan, nan, nan) == {}


def test_distance_and_redshift_columns_reach_the_context():
    record = raw_records(SUBSET)[2]
    record.update(z=0.031, photoZ=0.05, photoZErr=0.01, distance=None, direct_distance=140.0,
                  tns_name="2026abc")
    ctx = lasair.from_record(record).context
    assert (ctx.z, ctx.photoz, ctx.photoz_err, ctx.distance_mpc) == (0.031, 0.05, 0.01, 140.0)
    assert ctx.tns_name == "2026abc"
    assert ctx.extra["REDSHIFT_HELIO"] == 0.031 and "REDSHIFT_HELIO_ERR" not in ctx.extra
    record["distance"] = 120.0
    assert lasair.from_record(record).context.distance_mpc == 120.0


def test_duplicated_records_are_deduplicated_preferring_the_alert():
    raw = raw_records(DUPES)
    assert len(raw) == 64 and sum("alert" in r for r in raw) == 32
    records = list(lasair.iter_records(DUPES))
    assert len(records) == 32
    assert all("alert" in r.data for r in records)
    assert len({r.data["diaObjectId"] for r in records}) == 32
    items = list(read([DUPES], "lasair"))
    lcs = [o for o in items if isinstance(o, LightCurve)]
    assert len(lcs) == 32 and len(items) == 64  # every record accounted for
    dups = [o for o in items if isinstance(o, Duplicate)]
    assert len(dups) == 32 and all(o.reason.startswith("duplicate: an object row without "
                                                       "the alert") for o in dups)
    # each names the record that carries its alert in full, and that record was read
    kept = {lc.object_id for lc in lcs}
    for d in dups:
        full = int(d.reason.rsplit("#", 1)[1])
        assert "alert" in raw[full] and str(raw[full]["diaObjectId"]) in kept
        assert raw[int(d.source.rsplit("#", 1)[1])]["diaObjectId"] == raw[full]["diaObjectId"]
    bands = collections.Counter(b for lc in lcs for b in lc.band.tolist())
    assert bands == {"i": 190, "z": 49, "r": 38, "g": 11}
    assert sum(lc.n_det for lc in lcs) == 288 == sum(len(lc) for lc in lcs)
    classes = collections.Counter(lc.context.catalogue_class for lc in lcs)
    assert classes == {"ORPHAN": 29, "SN": 2, "NT": 1}


def test_dedupe_keeps_distinct_alerts_and_lone_alertless_records():
    raw = raw_records(DUPES)
    with_alert = [r for r in raw if "alert" in r]
    first = with_alert[0]
    later = json.loads(json.dumps(first))
    later["alert"]["diaSourcesList"] = later["alert"]["diaSourcesList"][:-1]  # older alert
    orphan_row = {k: v for k, v in with_alert[1].items() if k != "alert"}
    orphan_row["diaObjectId"] = 1  # an object whose alert never came
    docs = [("a", first), ("b", later), ("c", first), ("d", orphan_row), ("e", orphan_row)]
    kept = [source for source, _ in lasair.dedupe(docs)]
    assert kept == ["a", "b", "d"]
    with pytest.raises(InputError, match="no alert packet"):
        lasair.from_record(orphan_row)


def test_json_lines_with_a_corrupt_line_skips_only_that_line(tmp_path):
    raw = raw_records(SUBSET)
    lines = [json.dumps(r) for r in raw[1:4]]
    lines.insert(1, lines[0][: len(lines[0]) // 2])  # a line cut in half
    path = tmp_path / "stream.jsonl"
    path.write_text("\n".join(lines) + "\n")
    out = list(read([path], "lasair"))
    assert [type(o).__name__ for o in out] == ["LightCurve", "Skip", "LightCurve", "LightCurve"]
    assert out[1].source == "stream.jsonl:2" and "corrupt JSON line" in out[1].reason
    # Also without the .jsonl suffix: the layout is recognised from the content.
    other = tmp_path / "stream.json"
    other.write_text(path.read_text())
    assert [type(o).__name__ for o in read([other], "lasair")] == [
        "LightCurve", "Skip", "LightCurve", "LightCurve"]


def test_a_json_null_line_is_a_skip_not_dropped_by_the_duplicate_check(tmp_path):
    """The duplicate check once took a null record for one it had dropped: the line vanished."""
    raw = raw_records(SUBSET)
    lines = [json.dumps(raw[1]), "null", "42", json.dumps(raw[2])]
    path = tmp_path / "stream.jsonl"
    path.write_text("\n".join(lines) + "\n")
    out = list(read([path], "lasair"))
    assert [type(o).__name__ for o in out] == ["LightCurve", "Skip", "Skip", "LightCurve"]
    assert out[1] == Skip("stream.jsonl:2", "record: expected a record, got null")


def test_truncated_files_keep_the_records_before_the_cut(tmp_path):
    text = SUBSET.read_text()
    full = list(read([SUBSET], "lasair"))
    cut = tmp_path / "cut.json"
    cut.write_text(text[: len(text) // 3])
    # records that start before the cut, minus the one the cut runs through
    n_whole = text[: len(text) // 3].count("\n{") - 1
    out = list(read([cut], "lasair"))
    # those before it are read exactly as from the whole file, then one truncation note
    assert len(out) == n_whole + 1 and 0 < n_whole < 5
    for got, ref in zip(out[:n_whole], full):
        assert type(got) is type(ref)
        if isinstance(ref, LightCurve):
            assert got.object_id == ref.object_id and len(got) == len(ref)
    assert out[-1] == Skip("cut.json", f"file truncated after {n_whole} records")
    # gzip cut mid-stream: the records decompressed before the cut, deduplicated as usual
    raw = raw_records(DUPES)
    gz = tmp_path / "cut.json.gz"
    gz.write_bytes(DUPES.read_bytes()[:50000])
    out = list(read([gz], "lasair"))
    assert isinstance(out[-1], Skip) and out[-1].source == "cut.json.gz"
    n = int(out[-1].reason.split("after ")[1].split()[0])
    assert out[-1].reason == f"file truncated after {n} records" and 0 < n < len(raw)
    kept = list(lasair.dedupe([(str(i), r) for i, r in enumerate(raw[:n])]))
    assert [o.object_id for o in out[:-1] if isinstance(o, LightCurve)] == [
        str(r["diaObjectId"]) for _, r in kept if r.get("alert")]
    # iter_records ends with the same note, which from_record turns into the reason
    *_, last = lasair.iter_records(cut)
    with pytest.raises(InputError, match="file truncated after"):
        lasair.from_record(last.data)


def test_bad_alert_contents_raise_input_errors_naming_the_field():
    record = raw_records(SUBSET)[1]
    bad_band = json.loads(json.dumps(record))
    bad_band["alert"]["diaSourcesList"][0]["band"] = "w"
    with pytest.raises(InputError, match=r"band.*'w'"):
        lasair.from_record(bad_band)
    bad_time = json.loads(json.dumps(record))
    bad_time["alert"]["diaSourcesList"][0]["midpointMjdTai"] = None
    with pytest.raises(InputError, match="midpointMjdTai: non-finite time"):
        lasair.from_record(bad_time)
    empty = json.loads(json.dumps(record))
    empty["alert"]["diaSourcesList"] = []
    with pytest.raises(InputError, match="empty history"):
        lasair.from_record(empty)
    no_flux = json.loads(json.dumps(record))
    for source in no_flux["alert"]["diaSourcesList"]:
        source["psfFlux"] = None
    with pytest.raises(InputError, match="empty history"):
        lasair.from_record(no_flux)


def test_forced_and_nondetection_lists_when_present():
    """Real files have empty lists; this fills them with epochs derived from the record."""
    record = raw_records(SUBSET)[3]  # 17 sources in g and r
    sources = record["alert"]["diaSourcesList"]
    s0 = sources[0]
    forced_same = {"visit": s0["visit"], "band": s0["band"], "midpointMjdTai":
                   s0["midpointMjdTai"], "psfFlux": 1234.5, "psfFluxErr": 100.0}
    forced_faint = {"visit": 1, "band": "r", "midpointMjdTai": 61000.5, "psfFlux": 300.0,
                    "psfFluxErr": 100.0}
    forced_bright = {"visit": 2, "band": "g", "midpointMjdTai": 61001.5, "psfFlux": 900.0,
                     "psfFluxErr": 100.0}
    record["alert"]["diaForcedSourcesList"] = [forced_same, forced_faint, forced_bright]
    record["alert"]["diaNondetectionLimitsList"] = [
        {"midpointMjdTai": 60990.25, "band": "g", "diaNoise": 50.0},
        {"midpointMjdTai": 61000.5, "band": "r", "diaNoise": 80.0},  # epoch already forced
    ]
    lc = lasair.from_record(record)
    assert len(lc) == 17 + 2 + 1
    first = int(np.flatnonzero(lc.mjd == s0["midpointMjdTai"])[0])
    assert lc.flux[first] == 1234.5 and lc.fluxerr[first] == 100.0  # forced flux preferred
    assert lc.mag[first] == pytest.approx(-(31.4 - 2.5 * math.log10(-s0["psfFlux"]))
                                          if s0["psfFlux"] < 0
                                          else 31.4 - 2.5 * math.log10(s0["psfFlux"]))
    faint = int(np.flatnonzero(lc.mjd == 61000.5)[0])
    assert not lc.is_det[faint] and lc.flux[faint] == 300.0
    assert lc.mag[faint] == pytest.approx(31.4 - 2.5 * math.log10(500.0))
    assert math.isnan(lc.ra[faint]) and math.isnan(lc.rb[faint])
    bright = int(np.flatnonzero(lc.mjd == 61001.5)[0])
    assert not lc.is_det[bright] and lc.mag[bright] == pytest.approx(31.4 - 2.5 * math.log10(500.0))
    assert lc.flux[bright] == 900.0  # 9 sigma, kept as flux, but not a diaSource
    limit = int(np.flatnonzero(lc.mjd == 60990.25)[0])
    assert not lc.is_det[limit] and math.isnan(lc.flux[limit]) and lc.fluxerr[limit] == 50.0
    assert lc.mag[limit] == pytest.approx(31.4 - 2.5 * math.log10(250.0))


def test_demo_sample_reads_completely():
    out = list(read([DEMO], "lasair"))
    assert len(out) == 44 and all(isinstance(o, LightCurve) for o in out)
    assert sum(lc.n_det for lc in out) == 690
    bands = collections.Counter(b for lc in out for b in lc.band.tolist())
    assert bands == {"i": 282, "g": 205, "z": 119, "r": 83, "y": 1}
    assert collections.Counter(lc.context.catalogue_class for lc in out) == {"ORPHAN": 40,
                                                                             "SN": 4}


def test_long_history_is_vectorised():
    record = raw_records(SUBSET)[4]
    sources = record["alert"]["diaSourcesList"]
    many = []
    for k in range(115):  # 87 * 115 = 10005 points
        for s in sources:
            copy = dict(s)
            copy["diaSourceId"] = s["diaSourceId"] + k * 10**6
            copy["midpointMjdTai"] = s["midpointMjdTai"] - 200.0 * k
            many.append(copy)
    record["alert"]["diaSourcesList"] = many
    start = time.perf_counter()
    lc = lasair.from_record(record)
    elapsed = time.perf_counter() - start
    assert len(lc) == 10005 and np.all(np.diff(lc.mjd) >= 0)
    assert elapsed < 1.0
