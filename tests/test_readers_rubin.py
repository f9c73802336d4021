"""Rubin / Fink / ELAsTiCC reader on real packets (tests/data/rubin, see PROVENANCE.md there)."""

from __future__ import annotations

import collections
import copy
import gzip
import json
import math
from pathlib import Path

import fastavro
import numpy as np
import pyarrow.parquet as pq
import pytest

from vra_filters.lightcurve import InputError, LightCurve
from vra_filters.readers import Skip, read, rubin
from vra_filters.readers._files import sniff_survey

DATA = Path(__file__).parent / "data" / "rubin"
FINK_AVRO = DATA / "fink_lsst_part-2-918301_subset.avro"
ELASTICC_AVRO_GZ = DATA / "alert_mjd60674.0512_obj747_src1494043.avro.gz"
RAW_PARQUET = DATA / "rubin_sample_data_10_0_subset.parquet"
SEED0 = DATA / "elasticc_sample_seed0_subset.parquet"
EARLY = DATA / "elasticc_early_schema.parquet"


def avro_records(path: Path) -> list:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    import io

    return list(fastavro.reader(io.BytesIO(raw)))


def parquet_rows(path: Path) -> list:
    table = pq.read_table(path)
    return table.select([n for n in table.column_names if not n.startswith("cutout")]).to_pylist()


def jsonable(packet: dict) -> dict:
    return {k: v for k, v in packet.items() if not isinstance(v, bytes)}


def lc_of(path: Path, index: int = 0) -> LightCurve:
    out = list(read([path], "rubin"))
    assert isinstance(out[index], LightCurve), out[index]
    return out[index]


def test_fink_avro_detections_forced_photometry_and_limits():
    packet = avro_records(FINK_AVRO)[0]
    lc = lc_of(FINK_AVRO)
    assert lc.object_id == "170028485706776685" and lc.alert_id == "170094456272322680"
    n_det_sources = len(packet["prvDiaSources"]) + 1
    assert n_det_sources == 346 and len(packet["prvDiaForcedSources"]) == 395
    # 344 forced epochs coincide with a diaSource (visit, band): 51 forced-only epochs,
    # all upper limits (10 are >= 5 sigma positive, but not diaSources).
    assert len(lc) == 346 + 51 and lc.n_det == 346
    sources = packet["prvDiaSources"] + [packet["diaSource"]]
    assert collections.Counter(lc.band[lc.is_det].tolist()) == collections.Counter(
        s["band"] for s in sources) == {"i": 100, "r": 85, "z": 82, "g": 79}
    assert collections.Counter(lc.band[~lc.is_det].tolist()) == {"r": 17, "z": 14, "i": 17,
                                                                 "g": 3}
    assert lc.alert_mjd == packet["diaSource"]["midpointMjdTai"] == lc.mjd[-1]
    assert lc.t0 == 61090.0 and lc.mjd[0] == pytest.approx(61090.04758412875)
    assert lc.context.rb == pytest.approx(0.8754439353942871)
    assert lc.context.ra == packet["diaObject"]["ra"] and lc.context.extra == {}


def test_trigger_point_negative_mag_and_forced_flux():
    lc = lc_of(FINK_AVRO)
    i = len(lc) - 1  # the trigger is the latest point
    assert lc.is_det[i]
    # The diaSource's difference flux is -19549.39 nJy: ATLAS-style negative magnitude.
    assert lc.mag[i] == pytest.approx(-(31.4 - 2.5 * math.log10(19549.39453125)))
    assert lc.magerr[i] == pytest.approx(1.0857362 * 555.803955078125 / 19549.39453125,
                                         rel=1e-6)
    # The flux column holds the forced photometry of the same visit (ORACLE SPEC section 8).
    assert lc.flux[i] == -18648.494140625 and lc.fluxerr[i] == 578.8776245117188
    assert lc.rb[i] == pytest.approx(0.8754439353942871)


def test_forced_only_epochs():
    packet = avro_records(FINK_AVRO)[0]
    det_keys = {(d["visit"], d["band"]) for d in packet["prvDiaSources"] + [packet["diaSource"]]}
    forced_only = [f for f in packet["prvDiaForcedSources"] if (f["visit"], f["band"])
                   not in det_keys]
    lc = lc_of(FINK_AVRO)
    for f in forced_only:
        i = int(np.flatnonzero(lc.mjd == f["midpointMjdTai"])[0])
        assert lc.flux[i] == f["psfFlux"] and lc.fluxerr[i] == f["psfFluxErr"]
        assert math.isnan(lc.ra[i]) and math.isnan(lc.rb[i])
        # forced-only epochs are upper limits, even above 5 sigma: detections are diaSources
        assert not lc.is_det[i]
        assert lc.mag[i] == pytest.approx(31.4 - 2.5 * math.log10(5 * f["psfFluxErr"]))
        assert math.isnan(lc.magerr[i])
    first = min(forced_only, key=lambda f: f["midpointMjdTai"])
    assert first["psfFlux"] == 8002.40625  # 15.5 sigma, yet no diaSource: an upper limit
    assert not lc.is_det[np.flatnonzero(lc.mjd == first["midpointMjdTai"])[0]]


def test_solar_system_alert_uses_the_ss_object_id():
    lc = lc_of(FINK_AVRO, 1)
    assert lc.object_id == "sso_21163624394469969" and lc.alert_id == "170094456480989258"
    assert len(lc) == 1 and lc.n_det == 1
    assert lc.mag[0] == pytest.approx(31.4 - 2.5 * math.log10(15362.61328125))
    assert math.isfinite(lc.context.ra)  # from the diaSource: the diaObject is empty


def test_duplicate_dia_sources_and_flags():
    packet = avro_records(FINK_AVRO)[0]
    packet["prvDiaSources"].append(copy.deepcopy(packet["diaSource"]))  # re-delivered source
    packet["prvDiaSources"][0]["pixelFlags_saturatedCenter"] = True
    lc = rubin.from_record(packet)
    assert len(lc) == 397 and lc.saturated.sum() == 1
    assert lc.saturated[0] and lc.mjd[0] == packet["prvDiaSources"][0]["midpointMjdTai"]


def test_json_single_packet_list_and_lines_agree_with_avro(tmp_path):
    packets = [jsonable(p) for p in avro_records(FINK_AVRO)]
    single = tmp_path / "one.json"
    single.write_text(json.dumps(packets[0]))
    many = tmp_path / "many.json"
    many.write_text(json.dumps(packets))
    lines = tmp_path / "many.jsonl"
    lines.write_text("\n".join(json.dumps(p) for p in packets) + "\n{broken\n")
    ref = lc_of(FINK_AVRO)
    got = [lc_of(single), lc_of(many), lc_of(lines)]
    for lc in got:
        assert lc.object_id == ref.object_id and len(lc) == len(ref)
        np.testing.assert_array_equal(lc.mag, ref.mag)
        np.testing.assert_array_equal(lc.flux, ref.flux)
    out = list(read([lines]))  # auto: sniffed as Rubin from '"diaSource"'
    assert [type(o).__name__ for o in out] == ["LightCurve", "LightCurve", "Skip"]
    assert out[2].source == "many.jsonl:3" and "corrupt JSON line" in out[2].reason


def test_fink_flattened_source_fields():
    packet = avro_records(FINK_AVRO)[1]
    flat = dict(packet["diaSource"])
    flat["diaObject"] = packet["diaObject"]
    lc = rubin.from_record(flat)
    assert lc.alert_id == "170094456480989258" and len(lc) == 1


def test_raw_lsst_parquet_and_a_folder_of_parts(tmp_path):
    rows = parquet_rows(RAW_PARQUET)
    out = list(read([RAW_PARQUET], "rubin"))
    assert [lc.object_id for lc in out] == ["169813006680588318", "sso_21163611661088578",
                                            "169645854020337671", "169738309211783177"]
    assert [len(lc) for lc in out] == [1, 1, 17, 23]
    raw_bands = [d["band"] for d in rows[3]["prvDiaSources"] + [rows[3]["diaSource"]]]
    assert collections.Counter(out[3].band.tolist()) == collections.Counter(raw_bands) == {
        "i": 16, "r": 7}
    # diaObject.diaObjectId is a double in this file; the exact id comes from the diaSource.
    assert rows[2]["diaObject"]["diaObjectId"] != 169645854020337671
    assert out[2].object_id == str(rows[2]["diaSource"]["diaObjectId"])
    folder = tmp_path / "alerts.parquet"
    folder.mkdir()
    (folder / "part-00000.parquet").write_bytes(RAW_PARQUET.read_bytes())
    assert [lc.object_id for lc in read([folder], "rubin")] == [lc.object_id for lc in out]


def test_elasticc_v09_avro_gz_old_field_names():
    packet = avro_records(ELASTICC_AVRO_GZ)[0]
    assert "midPointTai" in packet["diaSource"] and "filterName" in packet["diaSource"]
    out = list(read([ELASTICC_AVRO_GZ]))  # auto: .avro -> rubin
    lc = out[0]
    assert lc.object_id == "747" and lc.alert_id == "1494043" and lc.alert_mjd == 60674.0512
    assert len(lc) == 19 and lc.n_det == 19
    assert collections.Counter(lc.band.tolist()) == {"y": 5, "r": 5, "z": 4, "i": 3, "g": 1,
                                                     "u": 1}
    i = int(np.flatnonzero(lc.mjd == 60674.0512)[0])
    assert lc.flux[i] == pytest.approx(464.9520263671875)
    assert lc.mag[i] == pytest.approx(31.4 - 2.5 * math.log10(464.9520263671875))
    ctx = lc.context
    # Early test schema: hostgal_z / hostgal_z_err are the photo-z; no spec-z fields.
    assert ctx.extra["HOSTGAL_PHOTOZ"] == pytest.approx(0.6489084362983704)
    assert ctx.extra["HOSTGAL_PHOTOZ_ERR"] == pytest.approx(0.001)
    assert "HOSTGAL_SPECZ" not in ctx.extra
    assert ctx.extra["HOSTGAL_MAG_Y"] == pytest.approx(25.872560501098633)
    assert ctx.extra["MWEBV"] == 0.0 and ctx.photoz == pytest.approx(0.6489084362983704)
    assert ctx.host_sep_arcsec == pytest.approx(0.06968299299478531)
    assert math.isnan(ctx.rb)


def test_elasticc_parquet_static_fields_and_sentinels():
    rows = parquet_rows(SEED0)
    lcs = list(read([SEED0], "rubin"))
    assert [(lc.object_id, len(lc), lc.n_det) for lc in lcs] == [
        ("11901802", 8, 7), ("5282208", 129, 2), ("4064904", 218, 131)]
    names = [name for name, _ in rubin.ELASTICC_STATIC]
    assert len(names) == 18
    obj = rows[1]["diaObject"]
    ctx = lcs[1].context
    assert set(ctx.extra) == set(names)
    assert ctx.extra["HOSTGAL_SPECZ"] == pytest.approx(obj["hostgal_zspec"])
    assert ctx.extra["REDSHIFT_HELIO"] == pytest.approx(obj["z_final"])
    assert ctx.z == pytest.approx(2.617307186126709)
    assert ctx.photoz == pytest.approx(obj["hostgal_zphot"])
    assert ctx.ebv == pytest.approx(obj["mwebv"])
    # Hostless object: sentinels stay raw in extra (ORACLE maps them), NaN in the context.
    hostless = lcs[2].context
    assert hostless.extra["HOSTGAL_ELLIPTICITY"] == -9999.0
    assert hostless.extra["HOSTGAL_MAG_u"] == 999.0 and hostless.extra["HOSTGAL_SPECZ"] == -9.0
    assert math.isnan(hostless.z) and math.isnan(hostless.host_sep_arcsec)
    # A real host magnitude of 99.7 is not a sentinel.
    assert lcs[0].context.extra["HOSTGAL_MAG_u"] == pytest.approx(99.70455169677734)


def test_elasticc_forced_points_matched_on_time_and_band():
    row = parquet_rows(SEED0)[2]
    lc = lc_of(SEED0, 2)
    det_keys = {(round(d["midPointTai"], 5), d["filterName"].lower())
                for d in row["prvDiaSources"] + [row["diaSource"]]}
    forced_keys = {(round(f["midPointTai"], 5), f["filterName"].lower())
                   for f in row["prvDiaForcedSources"]}
    assert len(lc) == len(det_keys | forced_keys) == 218


def test_nondetection_limits_added_unless_the_epoch_is_taken():
    row = parquet_rows(SEED0)[0]
    taken = row["prvDiaForcedSources"][0]
    row["prvDiaNondetectionLimits"] = [
        {"ccdVisitId": 1, "midPointTai": 61000.0, "filterName": "Y", "diaNoise": 40.0},
        {"ccdVisitId": 2, "midPointTai": taken["midPointTai"], "filterName":
         taken["filterName"], "diaNoise": 40.0},
        {"ccdVisitId": 3, "midPointTai": 61001.0, "filterName": "g", "diaNoise": None},
    ]
    lc = rubin.from_record(row)
    assert len(lc) == 8 + 1
    i = int(np.flatnonzero(lc.mjd == 61000.0)[0])
    assert lc.band[i] == "y" and not lc.is_det[i] and lc.fluxerr[i] == 40.0
    assert lc.mag[i] == pytest.approx(31.4 - 2.5 * math.log10(200.0))


def test_early_elasticc_parquet_reads_end_to_end():
    out = list(read([EARLY]))
    assert len(out) == 29 and all(isinstance(o, LightCurve) for o in out)
    assert sum(len(lc) for lc in out) == 983
    assert out[0].object_id == "1143" and out[0].alert_id == "2286047" and len(out[0]) == 48


def test_bad_packets_raise_input_error_naming_the_field():
    packet = avro_records(FINK_AVRO)[0]
    bad = copy.deepcopy(packet)
    bad["prvDiaSources"][3]["band"] = "w"
    with pytest.raises(InputError, match=r"band: unknown band 'w'"):
        rubin.from_record(bad)
    bad = copy.deepcopy(packet)
    bad["prvDiaForcedSources"][5]["midpointMjdTai"] = float("nan")
    with pytest.raises(InputError, match=r"prvDiaForcedSources\.midpointMjdTai: non-finite"):
        rubin.from_record(bad)
    bad = copy.deepcopy(packet)
    del bad["diaSource"]
    with pytest.raises(InputError, match="diaSource: missing"):
        rubin.from_record(bad)
    bad = copy.deepcopy(packet)
    bad["diaSource"]["diaObjectId"] = 0
    bad["diaObject"] = None
    bad["ssSource"] = None
    with pytest.raises(InputError, match="diaObjectId"):
        rubin.from_record(bad)
    bad = copy.deepcopy(packet)
    for d in bad["prvDiaSources"] + [bad["diaSource"]]:
        d["psfFlux"] = None
    bad["prvDiaForcedSources"] = []
    with pytest.raises(InputError, match="empty history"):
        rubin.from_record(bad)


def test_corrupt_and_misrouted_files_are_skips(tmp_path):
    cut = tmp_path / "cut.avro"
    cut.write_bytes(FINK_AVRO.read_bytes()[:100000])
    out = list(read([cut], "rubin"))
    assert out == [Skip("cut.avro", "file truncated after 0 records")]  # both in one block
    junk = tmp_path / "junk.avro"
    junk.write_bytes(b"not avro at all")
    assert list(read([junk], "rubin")) == [
        Skip("junk.avro", "not an Avro file (it does not start with the Avro header)")]
    ztf_avro = Path(__file__).parent / "data" / "ztf" / "ZTF19acihgng.avro"
    out = list(read([ztf_avro], "rubin"))
    assert len(out) == 1 and out[0].reason == "diaSource: missing"
    assert sniff_survey(ztf_avro) == "ztf" and sniff_survey(FINK_AVRO) == "rubin"
    assert sniff_survey(ELASTICC_AVRO_GZ) == "rubin" and sniff_survey(SEED0) == "rubin"
