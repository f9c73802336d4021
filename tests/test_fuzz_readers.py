"""Fuzzing the readers with mutated real records (tests/data/{atlas,lasair,rubin,ztf}).

A seeded mutator (no extra dependency) changes one to three places of a real alert: a key
dropped, a value swapped for None / a string / a list / a record / NaN / a huge number / a
lone surrogate, a value nested deep, a list emptied or filled with junk. Every case must give
a light curve or an InputError naming the problem (never another exception), and every light
curve must be sane. Byte-level cases cut, corrupt and nest serialised files, and go through
:func:`read`, which must give light curves or skips, in order, and never raise.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import random
import time
import zlib
from pathlib import Path

import fastavro
import numpy as np
import pyarrow.parquet as pq
import pytest

from vra_filters.lightcurve import SURVEY_BANDS, InputError, LightCurve
from vra_filters.readers import FORMATS, Skip, atlas, lasair, read, rubin, ztf

DATA = Path(__file__).parent / "data"
SEED = 20240607
#: Record-level cases per format, and byte-level cases overall.
N_RECORD_CASES = 700
N_BYTE_CASES = 400


def _json_docs(path: Path) -> list:
    raw = path.read_bytes()
    text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode()
    try:
        doc = json.loads(text.replace(",\n}", "\n}"))  # the Lasair file's hand-edited comma
    except ValueError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return doc if isinstance(doc, list) else [doc]


def _avro(path: Path) -> list:
    with open(path, "rb") as fh:
        return list(fastavro.reader(fh))


def _parquet(path: Path) -> list:
    table = pq.read_table(path)
    return table.select([n for n in table.column_names if not n.startswith("cutout")]).to_pylist()


def _jsonable(record: dict) -> dict:
    return {k: v for k, v in record.items() if not isinstance(v, bytes)}


@pytest.fixture(scope="module")
def corpus() -> dict:
    """Real records per format (cutout bytes dropped)."""
    rubin = DATA / "rubin"
    ztf = DATA / "ztf"
    out = {
        "atlas": [d for p in sorted((DATA / "atlas").glob("*.json.gz")) for d in _json_docs(p)],
        "lasair": [d for p in sorted((DATA / "lasair").glob("*.json*")) for d in _json_docs(p)],
        "rubin": _avro(rubin / "fink_lsst_part-2-918301_subset.avro")
        + _parquet(rubin / "rubin_sample_data_10_0_subset.parquet")
        + _parquet(rubin / "elasticc_sample_seed0_subset.parquet")
        + _parquet(rubin / "elasticc_early_schema.parquet")[:4],
        "ztf": _avro(ztf / "ZTF19acihgng.avro") + _avro(ztf / "fink_ztf_part-3-305711_subset.avro")
        + _parquet(ztf / "fink_alerts_subset.parquet"),
    }
    out = {fmt: [_jsonable(r) for r in recs] for fmt, recs in out.items()}
    assert {fmt: len(v) for fmt, v in out.items()} == {"atlas": 3, "lasair": 69, "rubin": 13,
                                                       "ztf": 8}
    return out


# --------------------------------------------------------------------------------------------
# The mutator: copies only the containers on the way to the place it changes.

def _junk(rng: random.Random, depth_max: int = 1500):
    choice = rng.randrange(13)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice(["", "abc", "1e5", "NaN", "\udcff", "g", "x" * 5000, "-", "t"])
    if choice == 2:
        return [rng.choice([None, 1, "a", {}, [], 1.5])] * rng.randrange(0, 4)
    if choice == 3:
        return {rng.choice(["a", "diaSourceId", "psfFlux", "jd", "mag"]): rng.choice([1, None])}
    if choice == 4:
        return math.nan
    if choice == 5:
        return rng.choice([10 ** 400, -10 ** 400, 2 ** 64, 1e308, -1e308, math.inf, -math.inf])
    if choice == 6:
        return rng.choice([True, False])
    if choice == 7:
        return rng.choice([0, -1, 1, 2 ** 63 - 1, 2 ** 63, -2 ** 63])
    if choice == 8:
        return rng.uniform(-1e6, 1e6)
    if choice == 9:  # deep nesting
        value: object = 1
        for _ in range(rng.choice([2, 50, 900, depth_max])):
            value = [value] if rng.random() < 0.5 else {"a": value}
        return value
    if choice == 10:
        return b"\x00\xff"
    if choice == 11:
        return [[1, 2], [3, 4]]
    return rng.choice(["o", "c", "Y", "u", "i", 1, 2, 3, "f", "0"])


def _places(node, path=()):
    """Every (path, value) of a record, lists sampled (at most 4 entries each)."""
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _places(v, path + (k,))
    elif isinstance(node, list) and node:
        idx = sorted({0, len(node) - 1, len(node) // 2, zlib.crc32(repr(path).encode()) % len(node)})
        for i in idx:
            yield from _places(node[i], path + (i,))


def _copy_along(record, path):
    """A copy of ``record`` sharing everything except the containers along ``path``, and the
    container holding the place; None when an earlier mutation changed the way there."""
    top = dict(record)
    node = top
    for key in path[:-1]:
        try:
            child = node[key]
        except (KeyError, IndexError, TypeError):
            return None
        if isinstance(child, dict):
            child = dict(child)
        elif isinstance(child, list):
            child = list(child)
        else:
            return None
        node[key] = child
        node = child
    return top, node


def mutate(record: dict, rng: random.Random, places: list) -> dict:
    out = record
    for _ in range(rng.choice([1, 1, 2, 3])):
        path, value = rng.choice(places)
        if not path:
            continue
        copied = _copy_along(out, path)
        if copied is None:
            continue
        out, parent = copied
        key = path[-1]
        try:
            parent[key]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this place
        op = rng.randrange(6)
        if op == 0 and isinstance(parent, dict):
            del parent[key]
        elif op == 1 and isinstance(value, list):
            parent[key] = rng.choice([[], [None], value + [_junk(rng)], value[::-1] * 2])
        elif op == 2 and isinstance(value, dict):
            parent[key] = {k: _junk(rng) if rng.random() < 0.3 else v for k, v in value.items()}
        else:
            parent[key] = _junk(rng)
    return out


# --------------------------------------------------------------------------------------------
# What every light curve must satisfy.

def assert_sane(lc: LightCurve, fmt: str) -> None:
    assert isinstance(lc, LightCurve)
    survey = {"lasair": "lsst", "rubin": "lsst"}.get(fmt, fmt)
    assert lc.survey == survey
    assert isinstance(lc.object_id, str) and lc.object_id
    assert isinstance(lc.alert_id, str)
    for ident in (lc.object_id, lc.alert_id):
        ident.encode("utf-8")  # storable and printable
    n = len(lc.mjd)
    assert n and lc.is_det.any()
    assert np.isfinite(lc.mjd).all() and (np.diff(lc.mjd) >= 0).all()
    assert set(lc.band.tolist()) <= SURVEY_BANDS[survey]
    for name in ("mag", "magerr", "flux", "fluxerr", "band", "is_det", "ra", "dec", "rb",
                 "saturated"):
        assert len(getattr(lc, name)) == n, name
    assert math.isfinite(lc.t0)
    for value in (lc.context.catalogue_class, lc.context.tns_name):
        assert isinstance(value, str)
        value.encode("utf-8")
    assert all(isinstance(v, float) for v in lc.context.extra.values())


def test_mutated_records_give_a_light_curve_or_a_specific_input_error(corpus):
    rng = random.Random(SEED)
    t0 = time.perf_counter()
    counts = {}
    for fmt in FORMATS:
        reader = {"atlas": atlas, "lasair": lasair, "rubin": rubin, "ztf": ztf}[fmt]
        records = corpus[fmt]
        places = [list(_places(r)) for r in records]
        n_lc = n_err = 0
        for _ in range(N_RECORD_CASES):
            i = rng.randrange(len(records))
            case = mutate(records[i], rng, places[i])
            try:  # the format module itself, as the adapters call it (no catch-all around it)
                lc = reader.from_record(case)
            except InputError as exc:
                message = str(exc)
                assert message and len(message) < 300, message
                n_err += 1
            else:
                assert_sane(lc, fmt)
                n_lc += 1
        counts[fmt] = (n_lc, n_err)
    # the mutator is neither toothless nor all-destroying: both outcomes are common
    for n_lc, n_err in counts.values():
        assert n_lc > N_RECORD_CASES // 10 and n_err > N_RECORD_CASES // 10, counts
    assert time.perf_counter() - t0 < 60


def test_records_without_a_format_are_sniffed_or_skipped(corpus):
    rng = random.Random(SEED + 1)
    cases = []
    for fmt in FORMATS:
        places = [list(_places(r)) for r in corpus[fmt]]
        for _ in range(50):
            i = rng.randrange(len(corpus[fmt]))
            cases.append(mutate(corpus[fmt][i], rng, places[i]))
    res = read(cases)  # format sniffed record by record
    assert len(res.items) == len(cases)
    assert [x.source for x in res.skips] == [
        f"<record {i}>" for i, x in enumerate(res.items) if isinstance(x, Skip)]
    for lc in res.lightcurves:
        assert_sane(lc, "rubin" if lc.survey == "lsst" else lc.survey)
    assert len(res.lightcurves) > len(cases) // 10


def _serialise(records: list, rng: random.Random) -> tuple[bytes, str]:
    layout = rng.choice(["array", "lines", "avro"])
    if layout == "avro":
        schema = {"type": "record", "name": "a", "fields": [
            {"name": "objectId", "type": "string"}, {"name": "candid", "type": "long"},
            {"name": "candidate", "type": {"type": "map", "values": ["null", "double", "long",
                                                                     "string"]}}]}
        recs = [{"objectId": "ZTF" + str(i), "candid": i + 1,
                 "candidate": {"jd": 2459000.5 + i, "fid": 1, "magpsf": 18.0, "sigmapsf": 0.1,
                               "isdiffpos": "t", "ra": 1.0, "dec": 2.0}} for i in range(8)]
        buf = io.BytesIO()
        fastavro.writer(buf, fastavro.parse_schema(schema), recs, sync_interval=64)
        return buf.getvalue(), "ztf"
    if layout == "array":
        data = json.dumps(records).encode()
    else:
        data = b"".join(json.dumps(r).encode() + b"\n" for r in records)
    return data, "auto"


def _damage(data: bytes, rng: random.Random) -> bytes:
    for _ in range(rng.choice([1, 1, 2])):
        op = rng.randrange(5)
        pos = rng.randrange(len(data) + 1)
        if op == 0:
            data = data[:pos]  # truncated
        elif op == 1 and data:
            pos = min(pos, len(data) - 1)
            data = data[:pos] + bytes([rng.choice([0xff, 0xc3, 0x00, 0x22, 0x7b, 0x5d])]) \
                + data[pos + 1:]
        elif op == 2:
            depth = rng.choice([10, 1100])
            data = data[:pos] + b"[" * depth + b"]" * depth + data[pos:]
        elif op == 3:
            data = data[:pos] + b'{"a": ' * 1100 + b"1" + b"}" * 1100 + b"\n" + data[pos:]
        else:
            data = data[:pos] + b"\n" + data[pos:]
    return data


def test_damaged_bytes_give_light_curves_or_skips_never_an_exception(corpus):
    rng = random.Random(SEED + 2)
    small = []
    for fmt in ("lasair", "ztf"):
        for r in corpus[fmt]:
            try:
                text = json.dumps(r)
            except TypeError:  # bytes inside (ZTF Avro stamps)
                continue
            if len(text) < 60000:
                small.append(r)
    assert len(small) >= 10
    for case in range(N_BYTE_CASES):
        records = rng.sample(small, rng.randrange(1, 4))
        data, fmt = _serialise(records, rng)
        damaged = _damage(data, rng)
        if rng.random() < 0.3:
            whole = gzip.compress(damaged)
            damaged = whole[:rng.randrange(len(whole) + 1)] if rng.random() < 0.5 else whole
        res = read(damaged, fmt)
        assert res.items, case
        for item in res.items:
            if isinstance(item, Skip):
                assert item.source.startswith("<bytes>") and item.reason
                item.reason.encode("utf-8")
            else:
                assert_sane(item, "rubin" if item.survey == "lsst" else item.survey)
        assert len(res.lightcurves) <= max(len(records), 8)
