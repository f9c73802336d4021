"""The public reader API (``read``, ``iter_read``, ``from_record``) and the inputs that used to
kill a whole ``vra score`` run: each is now one Skip with a reason, and the rest is read.

Samples: tests/data/{atlas,lasair,rubin,ztf} (provenance in each folder's PROVENANCE.md).
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import sys
from pathlib import Path

import fastavro
import numpy as np
import pytest

from vra_filters.lightcurve import InputError, LightCurve
from vra_filters.readers import (
    FORMATS,
    ReadResult,
    Skip,
    _files,
    from_record,
    iter_read,
    read,
    rubin,
)

DATA = Path(__file__).parent / "data"
ATLAS = sorted((DATA / "atlas").glob("*.json.gz"))
LASAIR = DATA / "lasair" / "20260202_102448_subset.json"
FINK_LSST = DATA / "rubin" / "fink_lsst_part-2-918301_subset.avro"
RUBIN_PARQUET = DATA / "rubin" / "rubin_sample_data_10_0_subset.parquet"
ZTF_AVRO = DATA / "ztf" / "fink_ztf_part-3-305711_subset.avro"


def atlas_record(i: int = 0) -> dict:
    return json.loads(gzip.decompress(ATLAS[i].read_bytes()))


def avro_records(path: Path) -> list:
    with open(path, "rb") as fh:
        return list(fastavro.reader(fh))


def kinds(items) -> list:
    return [type(x).__name__ for x in items]


def jsonl(records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


@pytest.fixture(scope="module")
def atlas_rec() -> dict:
    return atlas_record(0)


@pytest.fixture(scope="module")
def atlas_lc(atlas_rec) -> LightCurve:
    return from_record(atlas_rec, "atlas")


def same_lc(a: LightCurve, b: LightCurve) -> None:
    assert (a.object_id, a.alert_id, a.survey) == (b.object_id, b.alert_id, b.survey)
    np.testing.assert_array_equal(a.mjd, b.mjd)
    np.testing.assert_array_equal(a.mag, b.mag)
    np.testing.assert_array_equal(a.band, b.band)


# --------------------------------------------------------------------------------------------
# read / iter_read / from_record

def test_read_takes_a_path_a_list_bytes_or_records_and_agrees_everywhere(tmp_path):
    by_path = read(str(FINK_LSST))
    assert isinstance(by_path, ReadResult) and kinds(by_path.items) == ["LightCurve"] * 2
    assert by_path.lightcurves == by_path.items and by_path.skips == []
    ids = [lc.object_id for lc in by_path.lightcurves]
    assert ids == ["170028485706776685", "sso_21163624394469969"]
    for res in (read(FINK_LSST), read([FINK_LSST]), read(FINK_LSST.read_bytes()),
                read(gzip.compress(FINK_LSST.read_bytes())),
                read([{k: v for k, v in r.items()} for r in avro_records(FINK_LSST)])):
        assert [lc.object_id for lc in res.lightcurves] == ids and not res.skips
        for a, b in zip(res.lightcurves, by_path.lightcurves):
            same_lc(a, b)
    # Parquet bytes and JSON / JSON lines bytes are told apart by their first bytes
    assert len(read(RUBIN_PARQUET.read_bytes()).lightcurves) == 4
    packets = [{k: v for k, v in p.items() if not k.startswith("cutout")}
               for p in avro_records(ZTF_AVRO)]
    for blob in (json.dumps(packets).encode(), jsonl(packets), gzip.compress(jsonl(packets))):
        res = read(blob)
        assert [lc.object_id for lc in res.lightcurves] == [
            "ZTF25acldfsf", "ZTF26aaomyle", "ZTF26aaavvtm"]
    # iter_read streams the same items, in input order, over several inputs
    mixed = [LASAIR, FINK_LSST.read_bytes(), ZTF_AVRO]
    streamed = list(iter_read(mixed))
    batch = read(mixed).items
    assert kinds(streamed) == kinds(batch)
    for a, b in zip(streamed, batch):
        if isinstance(a, Skip):
            assert a == b
        else:
            same_lc(a, b)
    assert [x.survey if isinstance(x, LightCurve) else "skip" for x in streamed] == \
        ["skip"] + ["lsst"] * 4 + ["lsst"] * 2 + ["ztf"] * 3


def test_read_result_keeps_order_and_splits_light_curves_from_skips(atlas_rec):
    bad = dict(atlas_rec, object=None)
    res = read([atlas_rec, bad, "/no/such/file.json", 42, atlas_rec], "atlas")
    assert kinds(res.items) == ["LightCurve", "Skip", "Skip", "Skip", "LightCurve"]
    assert [s.source for s in res.skips] == ["<record 1>", "/no/such/file.json", "<input 3>"]
    assert [s.reason for s in res.skips] == [
        "object: expected a record, got null", "file not found",
        "not a path, bytes or a record (int)"]
    assert len(res) == 5 and list(res) == res.items and len(res.lightcurves) == 2


def test_records_are_sniffed_one_by_one(atlas_rec):
    ztf_packet = avro_records(ZTF_AVRO)[0]
    lsst_packet = avro_records(FINK_LSST)[1]
    lasair_row = json.loads(LASAIR.read_text().replace(",\n}", "\n}"))[1]
    res = read([lsst_packet, atlas_rec, ztf_packet, lasair_row, {"hello": 1}])
    assert [x.survey if isinstance(x, LightCurve) else x.reason[:24] for x in res.items] == [
        "lsst", "atlas", "ztf", "lsst", "cannot tell the format f"]


def test_from_record_raises_input_error_only(atlas_rec):
    lc = from_record(atlas_rec, "atlas")
    assert lc.object_id == "1000005291314656200" and lc.survey == "atlas"
    same_lc(lc, from_record(atlas_rec))  # format sniffed
    with pytest.raises(InputError, match="object: expected a record, got a list"):
        from_record(dict(atlas_rec, object=[1]), "atlas")
    with pytest.raises(InputError, match="cannot tell the format"):
        from_record({"a": 1})
    with pytest.raises(ValueError, match="unknown format 'nope'"):
        from_record(atlas_rec, "nope")
    with pytest.raises(ValueError, match="unknown format"):
        read(atlas_rec, "nope")


def test_an_unexpected_error_in_one_record_is_a_skip_with_its_type(monkeypatch, atlas_rec):
    """The record boundary catches anything (here a bug stand-in), names its type, and the
    next records are still read."""
    from vra_filters.readers import atlas

    real = atlas.from_record

    def flaky(data):
        if data.get("flaky"):
            raise ZeroDivisionError("division by zero")
        return real(data)

    monkeypatch.setattr(atlas, "from_record", flaky)
    res = read([atlas_rec, dict(atlas_rec, flaky=True), atlas_rec], "atlas")
    assert kinds(res.items) == ["LightCurve", "Skip", "LightCurve"]
    assert res.skips[0] == Skip("<record 1>", "ZeroDivisionError: division by zero")
    with pytest.raises(InputError, match="ZeroDivisionError"):
        from_record(dict(atlas_rec, flaky=True), "atlas")


def test_every_format_is_public_and_object_id_of_is_the_public_name():
    assert FORMATS == ("atlas", "lasair", "rubin", "ztf")
    trigger = {"diaObjectId": 5, "ssObjectId": 7}
    assert rubin.object_id_of(trigger) == "5"
    assert rubin.object_id_of({"ssObjectId": 7}, None, None) == "sso_7"
    assert rubin.object_id_of({}, {"diaObjectId": 9}) == "9"
    assert rubin.object_id_of({}, [1], {"ssObjectId": 3}) == "sso_3"  # junk diaObject ignored
    assert rubin.object_id_of({"ssObjectId": 7}, None, ["junk"]) == "sso_7"
    with pytest.raises(InputError, match="diaObjectId: missing"):
        rubin.object_id_of({"diaObjectId": 2 ** 64}, "x", 5)


# --------------------------------------------------------------------------------------------
# The crash list of issue #7: each a Skip with a reason; the rest of the file is read.

def _file_with_bad_first(tmp_path, bad: dict, good: dict) -> list:
    path = tmp_path / "objects.jsonl"
    path.write_bytes(jsonl([bad, good]))
    return read(path).items


def test_atlas_object_null_is_a_skip(tmp_path, atlas_rec, atlas_lc):
    out = _file_with_bad_first(tmp_path, dict(atlas_rec, object=None), atlas_rec)
    assert out[0] == Skip("objects.jsonl:1", "object: expected a record, got null")
    same_lc(out[1], atlas_lc)


def test_atlas_crossmatch_that_is_not_a_record_is_a_skip(tmp_path, atlas_rec, atlas_lc):
    out = _file_with_bad_first(tmp_path, dict(atlas_rec, sherlock_crossmatches=[5]), atlas_rec)
    assert out[0] == Skip("objects.jsonl:1",
                          "sherlock_crossmatches: entry 1 is a number, not a record")
    same_lc(out[1], atlas_lc)


@pytest.mark.parametrize("field, value, reason", [
    ("tns_crossmatches", ["2020tjh"], "tns_crossmatches: entry 1 is a string, not a record"),
    ("lc", {"mjd": 1}, "lc: expected a list of records, got a record"),
    ("lcnondets", [1, 2], "lcnondets: entry 1 is a number, not a record"),
    ("sherlock_crossmatches", "SN", "sherlock_crossmatches: expected a list of records, got "
                                    "a string"),
])
def test_atlas_lists_that_are_not_lists_of_records_are_skips(atlas_rec, field, value, reason):
    (skip,) = read([dict(atlas_rec, **{field: value})], "atlas")
    assert skip == Skip("<record 0>", reason)


def test_atlas_junk_context_numbers_are_nan_not_a_skip(atlas_rec, atlas_lc):
    rec = copy.deepcopy(atlas_rec)
    rec["sherlock_crossmatches"][0]["z"] = "unknown"
    rec["sherlock_crossmatches"][0]["photoz"] = [1]
    rec["object"]["rb_pix"] = 10 ** 400
    rec["object"]["sherlockClassification"] = {"a": 1}
    lc = from_record(rec, "atlas")
    assert np.isnan(lc.context.z) and np.isnan(lc.context.photoz) and np.isnan(lc.context.rb)
    assert lc.context.catalogue_class == "" and atlas_lc.context.catalogue_class == "SN"
    same_lc(lc, atlas_lc)


def test_ids_with_a_lone_surrogate_are_rejected_in_the_reader(tmp_path, atlas_rec, atlas_lc):
    bad = copy.deepcopy(atlas_rec)
    bad["object"]["id"] = "\udcff"
    text = json.dumps(bad)
    assert '"id": "\\udcff"' in text  # valid JSON: an escaped lone surrogate
    out = _file_with_bad_first(tmp_path, bad, atlas_rec)
    assert out[0] == Skip("objects.jsonl:1",
                          "object.id: not valid text (lone surrogate U+DCFF at character 1)")
    same_lc(out[1], atlas_lc)
    packet = {k: v for k, v in avro_records(ZTF_AVRO)[0].items() if not isinstance(v, bytes)}
    (skip, lc) = read([dict(packet, objectId="ZTF\udcff"), packet], "ztf")
    assert skip.reason == "objectId: not valid text (lone surrogate U+DCFF at character 4)"
    assert lc.object_id == "ZTF25acldfsf"
    # the TNS name is free text: the character is replaced, the alert kept
    tns = copy.deepcopy(atlas_rec)
    tns["tns_crossmatches"][0]["external_designation"] = "2020\udcfftjh"
    assert from_record(tns, "atlas").context.tns_name == "2020?tjh"


@pytest.mark.parametrize("recursion_limit", [None, 5000])
def test_a_json_line_nested_1100_deep_is_a_skip(tmp_path, atlas_rec, atlas_lc, recursion_limit):
    # the limit is the parser's, not the interpreter's: some libraries (jedi) raise
    # sys.getrecursionlimit() to 3,000 on import, which let the standard library read this
    old_limit = sys.getrecursionlimit()
    if recursion_limit:
        sys.setrecursionlimit(recursion_limit)
    try:
        _deep_documents_are_skips(tmp_path, atlas_rec, atlas_lc)
    finally:
        sys.setrecursionlimit(old_limit)


def test_the_nesting_limit_holds_without_orjson(tmp_path, atlas_rec, atlas_lc, monkeypatch):
    from vra_filters.readers import _json
    monkeypatch.setattr(_json, "_ORJSON", False)  # the standard library alone (ANTARES)
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(5000)
    try:
        _deep_documents_are_skips(tmp_path, atlas_rec, atlas_lc)
        ok = '{"a": ' * 1024 + "[1]" + "}" * 1024  # 1,025 levels: one too many
        assert _json._deeper_than(ok, 1024) and not _json._deeper_than(ok[6:-1], 1024)
        assert not _json._deeper_than('["[[[[", "{{{{{"]' * 300, 1024)  # inside strings
    finally:
        sys.setrecursionlimit(old_limit)


def _deep_documents_are_skips(tmp_path, atlas_rec, atlas_lc):
    deep = '{"a": ' * 1100 + "1" + "}" * 1100
    for name in ("deep.jsonl", "deep.json"):  # with and without the JSON lines suffix
        path = tmp_path / name
        path.write_text(deep + "\n" + json.dumps(atlas_rec) + "\n")
        out = read(path, "atlas").items
        assert out[0] == Skip(f"{name}:1", "nested too deeply to read (over 1,024 levels)")
        same_lc(out[1], atlas_lc)
    array = tmp_path / "deep_array.json"  # inside a JSON array: the element is skipped
    array.write_text("[" + "[" * 1100 + "]" * 1100 + ",\n" + json.dumps(atlas_rec) + "]")
    out = read(array, "atlas").items
    assert out[0] == Skip("deep_array.json#0", "nested too deeply to read (over 1,024 levels)")
    same_lc(out[1], atlas_lc)


def test_a_non_utf8_byte_loses_only_its_line(tmp_path, atlas_rec, atlas_lc):
    good = json.dumps(atlas_rec).encode()
    broken = good.replace(b'"SN"', b'"S\xffN"', 1)
    path = tmp_path / "objects.jsonl"
    path.write_bytes(good + b"\n" + broken + b"\n" + good + b"\n")
    out = read(path).items
    col = broken.index(b"\xff") + 1
    assert kinds(out) == ["LightCurve", "Skip", "LightCurve"]
    assert out[1] == Skip("objects.jsonl:2", f"not UTF-8 text (byte 0xff at column {col})")
    same_lc(out[2], atlas_lc)
    # a JSON array: only the element holding the byte
    array = tmp_path / "objects.json"
    array.write_bytes(b"[" + good + b",\n" + broken + b",\n" + good + b"]")
    out = read(array, "atlas").items
    assert out[1] == Skip("objects.json#1", "not UTF-8 text (byte 0xff)")
    assert kinds(out) == ["LightCurve", "Skip", "LightCurve"]


@pytest.mark.parametrize("layout", ["jsonl", "json"])
def test_a_truncated_gzip_file_gives_the_records_before_the_cut(tmp_path, layout, atlas_rec,
                                                                atlas_lc):
    records = [atlas_rec] * 5
    raw = jsonl(records) if layout == "jsonl" else json.dumps(records).encode()
    whole = gzip.compress(raw)
    path = tmp_path / f"objects.{layout}.gz"
    path.write_bytes(whole[: int(len(whole) * 0.7)])
    # how many whole records the cut stream still holds
    part = gzip.decompress(whole)[: len(_decompress_partial(path.read_bytes()))]
    n = part.count(b"\n") if layout == "jsonl" else part.count(b'"lcnondets"') - 1
    assert 0 < n < 5
    out = read(path).items
    assert kinds(out) == ["LightCurve"] * n + ["Skip"]
    assert out[-1] == Skip(path.name, f"file truncated after {n} records")
    same_lc(out[0], atlas_lc)
    # as bytes, the same
    assert [x if isinstance(x, Skip) else x.object_id for x in read(path.read_bytes())] == \
        [atlas_lc.object_id] * n + [Skip("<bytes>", f"file truncated after {n} records")]


def _decompress_partial(data: bytes) -> bytes:
    import zlib

    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)


def _multi_block_avro(path: Path, copies: int = 1) -> bytes:
    with open(path, "rb") as fh:
        reader = fastavro.reader(fh)
        schema, records = reader.writer_schema, list(reader)
    buf = io.BytesIO()
    fastavro.writer(buf, schema, records * copies, sync_interval=1)  # one block per record
    return buf.getvalue()


def test_a_truncated_avro_file_gives_the_blocks_before_the_cut(tmp_path):
    raw = _multi_block_avro(ZTF_AVRO)
    full = read(raw).lightcurves
    assert len(full) == 3
    for suffix, data in ((".avro", raw[: int(len(raw) * 0.9)]),
                         (".avro.gz", gzip.compress(raw)[: int(len(gzip.compress(raw)) * 0.9)])):
        path = tmp_path / f"cut{suffix}"
        path.write_bytes(data)
        out = read(path).items
        assert kinds(out) == ["LightCurve", "LightCurve", "Skip"], out
        assert out[-1] == Skip(path.name, "file truncated after 2 records")
        for a, b in zip(out[:-1], full):
            same_lc(a, b)


def test_damaged_json_arrays_keep_what_can_be_read(tmp_path, atlas_rec, atlas_lc):
    good = json.dumps(atlas_rec)
    path = tmp_path / "a.json"
    path.write_text("[" + good + ",\n{corrupt: 1},\n" + good + "]")  # stepped over
    out = read(path, "atlas").items
    assert kinds(out) == ["LightCurve", "Skip", "LightCurve"]
    assert out[1].source == "a.json#1" and out[1].reason.startswith("corrupt JSON (")
    path.write_text("[" + good + ",\n" + good[:-1])  # plain file cut inside the 2nd
    assert read(path, "atlas").items[1:] == [Skip("a.json", "file truncated after 1 record")]
    path.write_text("[" + good + "] trailing")
    out = read(path, "atlas").items
    assert kinds(out) == ["LightCurve", "Skip"]
    assert out[1] == Skip("a.json", "unexpected text after the JSON array of 1 record (at "
                                    f"character {len(good) + 4}); ignored")
    path.write_text("")
    assert read(path, "atlas").items == [Skip("a.json", "no record in the input")]


def test_gzip_trailing_garbage_and_corrupt_data_are_reported(tmp_path, atlas_rec):
    whole = gzip.compress(jsonl([atlas_rec] * 2))
    path = tmp_path / "o.jsonl.gz"
    path.write_bytes(whole + b"garbage")
    out = read(path).items
    assert kinds(out) == ["LightCurve", "LightCurve", "Skip"]
    assert out[-1].reason == "unexpected bytes after the gzip data after 2 records"
    path.write_bytes(whole + gzip.compress(jsonl([atlas_rec])) + b"\0" * 16)  # two members
    assert kinds(read(path).items) == ["LightCurve"] * 3


# --------------------------------------------------------------------------------------------
# Streaming: JSON lines and Avro are parsed record by record.

class _Counting(io.BytesIO):
    """A stream that remembers how far it has been read."""

    high = 0

    def read(self, size=-1):
        out = super().read(size)
        type(self).high = max(type(self).high, self.tell())
        return out

    def readline(self, size=-1):
        out = super().readline(size)
        type(self).high = max(type(self).high, self.tell())
        return out


class _Source(_files.Source):
    __slots__ = ()

    def open_raw(self):
        return _Counting(self.data)


@pytest.mark.parametrize("compress", [False, True])
def test_json_lines_and_avro_are_streamed(atlas_rec, compress):
    big = jsonl([atlas_rec] * 6)
    blob = gzip.compress(big) if compress else big
    _Counting.high = 0
    docs = _files.iter_json_documents(_Source("s.jsonl", data=blob))
    source, first = next(docs)
    assert source == "s.jsonl:1" and first["object"]["id"] == atlas_rec["object"]["id"]
    assert _Counting.high < len(blob) / 2  # the first record came before most was read
    assert len(list(docs)) == 5
    raw = _multi_block_avro(ZTF_AVRO, copies=10)  # 30 blocks of one alert each
    blob = gzip.compress(raw) if compress else raw
    _Counting.high = 0
    records = _files.iter_avro(_Source("s.avro", data=blob))
    next(records)
    assert _Counting.high < len(blob) / 2
    assert len(list(records)) == 29


def test_alerts_without_ids_are_left_to_the_light_curve(atlas_rec):
    """Readers put no invented id on an alert that has none (the light curve derives one
    from its content); an alert that has an id keeps it."""
    packet = avro_records(FINK_LSST)[1]
    lc = from_record(packet, "rubin")
    assert lc.alert_id == "170094456480989258"
    bare = copy.deepcopy(packet)
    bare["diaSource"]["diaSourceId"] = None
    bare.pop("diaSourceId", None)
    bare.pop("alertId", None)
    first, again = from_record(bare, "rubin"), from_record(copy.deepcopy(bare), "rubin")
    assert first.alert_id == again.alert_id and first.alert_id not in ("", "None", "0")
    assert first.alert_id != lc.alert_id
    atlas = from_record(atlas_rec, "atlas")
    assert atlas.alert_id == from_record(copy.deepcopy(atlas_rec), "atlas").alert_id


def _same_json(a, b, nan_is_none: bool = False) -> bool:
    """Equal documents, NaN equal to NaN (and to None with ``nan_is_none``), floats to the
    last bit."""
    if nan_is_none and isinstance(b, float) and b != b:
        return a is None
    if isinstance(a, float) and isinstance(b, float):
        return (a != a and b != b) or a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k], nan_is_none) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same_json(x, y, nan_is_none) for x, y in zip(a, b))
    return a == b


def _lasair_messages():
    """Real Lasair messages with bare NaN: the summary rows of one file, and the embedded
    sample's full messages (alert packets included)."""
    from vra_filters.demo import SAMPLE
    raw = gzip.decompress((DATA / "lasair" / "20260205_073301.json.gz").read_bytes())
    assert b"NaN" in raw
    rows = [json.dumps(m).encode() for m in json.loads(raw)]
    full = [line for line in gzip.decompress(Path(SAMPLE).read_bytes()).split(b"\n") if line]
    assert sum(b"NaN" in line for line in rows) > 10 and all(b"NaN" in m for m in full[:5])
    return rows + full


def test_fast_parser_gives_the_standard_librarys_documents():
    pytest.importorskip("orjson")
    from vra_filters.readers import _json
    for line in _lasair_messages():  # bare NaN: read as a missing value (None)
        assert _same_json(_json.loads_lenient(line), json.loads(line), nan_is_none=True)
    odd = [b'{"a": [1, 2,], }', b'{"a": -Infinity, "b": NaN}', b'{"s": "\\udcff"}',
           b'{"x": 1e400, "y": -0.0, "z": 5e-324}',
           b'{"s": "NaN inside a string", "v": NaN}', b'{"NaN": NaN}', b'[NaN, "x\\tNaN"]']
    for doc in odd:  # NaN inside a string is never rewritten: these go the standard way
        assert _same_json(_json.loads_lenient(doc), _json._loads_stdlib(doc.decode()))
    assert _json.loads_lenient('{"a": NaN, "s": "é"}') == {"a": None, "s": "é"}
    # integers past 64 bits come back as floats (orjson, as JavaScript); no survey's ids are
    # that long, and an alert with one is still a skip that says why
    assert _json.loads_lenient(b'[123456789012345678901234567890]') == [1.2345678901234568e29]
    full = _json.loads_lenient(LASAIR.read_bytes())
    rec = copy.deepcopy(full[1])
    rec["diaObjectId"] = rec["alert"]["diaObject"]["diaObjectId"] = 10 ** 29
    for source in rec["alert"]["diaSourcesList"]:
        source["diaObjectId"] = 10 ** 29
    out = read(json.dumps(rec).encode(), "lasair")
    assert not out.lightcurves and len(out.skips) == 1 and "diaObjectId" in out.skips[0].reason


def _lc_state(lc: LightCurve) -> str:
    """Everything a light curve holds, as text (NaN printed as nan)."""
    arrays = {k: getattr(lc, k).tolist() for k in ("mjd", "mag", "magerr", "band", "is_det")}
    return repr((lc.object_id, lc.alert_id, lc.survey, lc.t0, lc.alert_mjd, arrays,
                 sorted(vars(lc.context).items())))


def test_readers_give_the_same_light_curves_from_the_standard_library_alone(monkeypatch):
    """NaN read as None by the fast path, as NaN by the standard library: the readers make
    the same light curves of both (real Lasair messages, NaN in many fields)."""
    pytest.importorskip("orjson")
    from vra_filters.readers import _json
    blob = b"\n".join(_lasair_messages()) + b"\n" + LASAIR.read_bytes()
    sources = [blob, LASAIR, *ATLAS, FINK_LSST, ZTF_AVRO]
    fast = [read(s) for s in sources]
    assert _json._orjson() is not None  # the fast path was the one above
    monkeypatch.setattr(_json, "_ORJSON", False)
    slow = [read(s) for s in sources]
    assert sum(len(r.lightcurves) for r in fast) > 40
    for a, b in zip(fast, slow):
        assert [_lc_state(x) for x in a.lightcurves] == [_lc_state(x) for x in b.lightcurves]
        assert a.skips == b.skips
