"""ZTF reader on real alert packets (tests/data/ztf, see PROVENANCE.md there)."""

from __future__ import annotations

import collections
import copy
import json
import math
from pathlib import Path

import fastavro
import numpy as np
import pyarrow.parquet as pq
import pytest

from vra_filters.lightcurve import InputError, LightCurve
from vra_filters.readers import Skip, read, ztf

DATA = Path(__file__).parent / "data" / "ztf"
RAW_AVRO = DATA / "ZTF19acihgng.avro"
FINK_AVRO = DATA / "fink_ztf_part-3-305711_subset.avro"
FINK_PARQUET = DATA / "fink_alerts_subset.parquet"


def avro_records(path: Path) -> list:
    with open(path, "rb") as fh:
        return list(fastavro.reader(fh))


def jsonable(packet: dict) -> dict:
    return {k: v for k, v in packet.items() if not k.startswith("cutout")}


def lcs_of(path: Path) -> list:
    out = list(read([path], "ztf"))
    assert all(isinstance(o, LightCurve) for o in out), out
    return out


def test_raw_ztf_avro_detections_and_limits():
    packet = avro_records(RAW_AVRO)[0]
    (lc,) = lcs_of(RAW_AVRO)
    assert lc.object_id == "ZTF19acihgng" and lc.alert_id == "1060135832015015002"
    assert lc.survey == "ztf" and len(lc) == 35 and lc.n_det == 33
    assert collections.Counter(lc.band[lc.is_det].tolist()) == {"r": 18, "g": 15}
    cand = packet["candidate"]
    assert lc.alert_mjd == pytest.approx(2458814.6358333 - 2400000.5)
    i = len(lc) - 1
    assert lc.mjd[i] == pytest.approx(58814.1358333, abs=1e-9) and lc.band[i] == "r"
    assert lc.mag[i] == pytest.approx(18.632339477539062) and lc.magerr[i] == cand["sigmapsf"]
    flux = 10 ** (-0.4 * (18.632339477539062 - 31.4))
    assert lc.flux[i] == pytest.approx(flux) and flux == pytest.approx(127957.05, rel=1e-6)
    assert lc.fluxerr[i] == pytest.approx(flux * cand["sigmapsf"] / 1.0857362, rel=1e-6)
    assert (lc.ra[i], lc.dec[i]) == (cand["ra"], cand["dec"])
    assert lc.rb[i] == pytest.approx(cand["drb"])  # drb preferred over rb (0.78)
    limits = np.flatnonzero(~lc.is_det)
    assert lc.mjd[limits].tolist() == pytest.approx([58803.0826157, 58805.0976042])
    assert lc.mag[limits].tolist() == pytest.approx([16.824600219726562, 19.817100524902344])
    assert lc.band[limits].tolist() == ["r", "g"]
    assert np.isnan(lc.flux[limits]).all() and np.isnan(lc.ra[limits]).all()
    assert lc.t0 == math.floor(lc.mjd[lc.is_det][0])


def test_context_and_bts_metadata():
    (lc,) = lcs_of(RAW_AVRO)
    ctx = lc.context
    assert ctx.rb == pytest.approx(0.9999307990074158)
    assert (ctx.ra, ctx.dec) == (289.8937586, 61.8469285)
    assert set(ctx.extra) == set(ztf.BTS_METADATA) and len(ztf.BTS_METADATA) == 22
    assert ctx.extra["sgscore1"] == pytest.approx(0.011333299800753593)
    assert ctx.extra["ndethist"] == 58 and ctx.extra["ncovhist"] == 1487
    assert ctx.extra["nmtchps"] == 7 and ctx.extra["drb"] == pytest.approx(0.99993079)
    assert math.isnan(ctx.ebv) and ctx.catalogue_class == ""


def test_negative_differences_follow_the_atlas_convention():
    lcs = {lc.object_id: lc for lc in lcs_of(FINK_AVRO)}
    assert {k: (len(v), v.n_det) for k, v in lcs.items()} == {
        "ZTF25acldfsf": (56, 51), "ZTF26aaomyle": (51, 2), "ZTF26aaavvtm": (52, 45)}
    lc = lcs["ZTF26aaomyle"]
    det = np.flatnonzero(lc.is_det)
    # isdiffpos '0' (prv, r band) and 'f' (candidate, g band): negative flux and magnitude.
    assert lc.band[det].tolist() == ["r", "g"]
    assert lc.mag[det].tolist() == pytest.approx([-17.997600555419922, -18.670944213867188])
    assert lc.flux[det[1]] == pytest.approx(-(10 ** (-0.4 * (18.670944213867188 - 31.4))))
    assert (lc.flux[det] < 0).all() and (lc.magerr[det] > 0).all()
    assert lc.rb[det[0]] == pytest.approx(0.5057139992713928)  # prv: no drb, rb used
    # isdiffpos '1' is positive; the i band (fid 3) is read.
    sn2 = lcs["ZTF26aaavvtm"]
    assert collections.Counter(sn2.band[sn2.is_det].tolist()) == {"g": 17, "r": 17, "i": 11}
    assert (sn2.flux[sn2.is_det] > 0).all()


def test_fink_parquet():
    rows = pq.read_table(FINK_PARQUET, columns=["objectId", "candidate",
                                                "prv_candidates"]).to_pylist()
    lcs = lcs_of(FINK_PARQUET)
    assert [(lc.object_id, len(lc), lc.n_det) for lc in lcs] == [
        ("ZTF19abbsjqp", 22, 1), ("ZTF19abvymov", 24, 1), ("ZTF18abcjaev", 24, 7),
        ("ZTF18abctvau", 10, 9)]
    lc = lcs[2]
    prv_det = [p for p in rows[2]["prv_candidates"] if p["candid"] is not None]
    signs = [-1 if p["isdiffpos"] == "f" else 1 for p in prv_det] + [-1]
    expected = sorted(s * m for s, m in zip(signs, [p["magpsf"] for p in prv_det]
                                            + [rows[2]["candidate"]["magpsf"]]))
    assert sorted(lc.mag[lc.is_det].tolist()) == pytest.approx(expected)
    assert (lc.flux[lc.is_det] < 0).sum() == 5


def test_json_layouts_and_auto_sniffing(tmp_path):
    packets = [jsonable(p) for p in avro_records(FINK_AVRO)]
    path = tmp_path / "ztf.json"
    path.write_text(json.dumps(packets))
    out = list(read([path]))  # auto: '"candidate"' -> ztf
    assert [lc.object_id for lc in out] == ["ZTF25acldfsf", "ZTF26aaomyle", "ZTF26aaavvtm"]
    ref = lcs_of(FINK_AVRO)
    for a, b in zip(out, ref):
        np.testing.assert_array_equal(a.mag, b.mag)
    lines = tmp_path / "ztf.jsonl"
    text = "\n".join(json.dumps(p) for p in packets)
    lines.write_text(text[:-40] + "\n")  # the last line is truncated
    out = list(read([lines], "ztf"))
    assert [type(o).__name__ for o in out] == ["LightCurve", "LightCurve", "Skip"]
    assert out[2].source == "ztf.jsonl:3"


def test_duplicate_candidate_in_history_is_counted_once():
    packet = avro_records(RAW_AVRO)[0]
    dup = {k: v for k, v in packet["candidate"].items() if k in packet["prv_candidates"][0]}
    packet["prv_candidates"].append(dup)
    lc = ztf.from_record(packet)
    assert len(lc) == 35 and lc.rb[-1] == pytest.approx(packet["candidate"]["drb"])


def test_bad_packets_raise_input_error_naming_the_field():
    packet = avro_records(RAW_AVRO)[0]
    bad = copy.deepcopy(packet)
    bad["prv_candidates"][4]["fid"] = 4
    with pytest.raises(InputError, match="prv_candidates.fid: unknown ZTF filter id 4"):
        ztf.from_record(bad)
    bad = copy.deepcopy(packet)
    bad["candidate"]["fid"] = 9
    with pytest.raises(InputError, match="candidate.fid: unknown ZTF filter id 9"):
        ztf.from_record(bad)
    bad = copy.deepcopy(packet)
    bad["prv_candidates"][0]["jd"] = None
    with pytest.raises(InputError, match="prv_candidates.jd: non-finite time"):
        ztf.from_record(bad)
    bad = copy.deepcopy(packet)
    bad["candidate"]["magpsf"] = None
    with pytest.raises(InputError, match="candidate.magpsf"):
        ztf.from_record(bad)
    bad = copy.deepcopy(packet)
    bad["candidate"]["isdiffpos"] = "x"
    with pytest.raises(InputError, match="isdiffpos"):
        ztf.from_record(bad)
    bad = copy.deepcopy(packet)
    del bad["objectId"]
    with pytest.raises(InputError, match="objectId: missing"):
        ztf.from_record(bad)
    bad = copy.deepcopy(packet)
    del bad["candidate"]
    with pytest.raises(InputError, match="candidate: missing"):
        ztf.from_record(bad)


def test_corrupt_avro_is_a_skip(tmp_path):
    cut = tmp_path / "cut.avro"
    cut.write_bytes(RAW_AVRO.read_bytes()[:30000])
    out = list(read([cut], "ztf"))
    assert out == [Skip("cut.avro", "file truncated after 0 records")]  # one block, cut
