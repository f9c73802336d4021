"""Rebuild the reader test samples in tests/data/{lasair,rubin,ztf}/ and the demo sample.

Run once by hand (not by the tests, which read only tests/data/):

    python tests/data/make_reader_samples.py /path/to/shared/data

Every sample is a subset of a real file (provenance in each folder's PROVENANCE.md). Subsets
keep records verbatim; the only edits are dropped records/rows and emptied image cutouts
(Avro: ``stampData``/cutout bytes set to b""; Parquet: cutout columns set to null), so the
files stay small while the schema is unchanged. Prints the sha256 of every file written.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEMO = HERE.parents[1] / "src" / "vra_filters" / "data" / "demo"

LASAIR_SUBSET = (0, 1, 9, 12, 38)  # no-alert + trailing comma, negative flux, 2 SN, 87 sources
RUBIN_AVRO_SUBSET = (0, 4)  # long history + negative trigger flux; a solar-system alert
RUBIN_PARQUET_SUBSET = (0, 9, 14, 21)  # single source, SSO, 16 and 22 previous sources
ELASTICC_SEED0_SUBSET = (0, 2, 8)  # forced photometry; 130 prv / 217 forced
ZTF_AVRO_SUBSET = (3, 13, 25)  # SN Ia (g, r, i); isdiffpos '0'; SN II with isdiffpos '1'
ZTF_PARQUET_SUBSET = (0, 1, 27, 30)  # candidate isdiffpos t / f, negative prv detections


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def report(path: Path) -> None:
    print(f"{sha256(path)}  {path.stat().st_size:>9}  {path.relative_to(HERE.parents[1])}")


def top_level_chunks(text: str) -> list:
    """The verbatim text of each record of a pretty-printed JSON array whose records start
    with ``{`` at column 0 (nested objects are indented)."""
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith("{")]
    ends = starts[1:] + [max(i for i, line in enumerate(lines) if line.startswith("]"))]
    chunks = []
    for start, end in zip(starts, ends):
        body = "\n".join(lines[start:end]).rstrip()
        chunks.append(body[:-1] if body.endswith(",") else body)
    return chunks


def lasair(shared: Path) -> None:
    out = HERE / "lasair"
    out.mkdir(exist_ok=True)
    text = (shared / "lasair" / "20260202_102448.json").read_text()
    chunks = top_level_chunks(text)
    subset = out / "20260202_102448_subset.json"
    subset.write_text("[\n" + ",\n".join(chunks[i] for i in LASAIR_SUBSET) + "\n]\n")
    report(subset)
    src = shared / "lasair" / "20260205_073301.json"
    dst = out / "20260205_073301.json.gz"
    dst.write_bytes(gzip.compress(src.read_bytes(), compresslevel=9, mtime=0))
    report(dst)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def demo(shared: Path) -> None:
    DEMO.mkdir(parents=True, exist_ok=True)
    records = json.loads((shared / "lasair" / "20260202_102448_orig_f75c85c.json").read_text())
    kept = [r for r in records if "alert" in r]
    lines = [json.dumps(r, separators=(",", ":")) for r in kept]
    assert all(_same(json.loads(line), r) for line, r in zip(lines, kept))
    dst = DEMO / "lasair_lsst_sample.jsonl.gz"
    dst.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=9, mtime=0))
    print(len(kept), "demo records")
    report(dst)


def _avro_subset(src: Path, dst: Path, indices, empty_cutouts) -> None:
    import fastavro

    with open(src, "rb") as fh:
        reader = fastavro.reader(fh)
        schema = reader.writer_schema
        codec = reader.codec
        records = list(reader)
    chosen = [empty_cutouts(copy.deepcopy(records[i])) for i in indices]
    with open(dst, "wb") as fh:
        # A fixed sync marker makes the file reproducible byte for byte.
        fastavro.writer(fh, fastavro.parse_schema(schema), chosen, codec=codec,
                        sync_marker=b"vra_filters_test")
    report(dst)


def _parquet_subset(src: Path, dst: Path, indices, null_cutouts: bool = True) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(src).take(list(indices))
    if null_cutouts:
        for name in table.column_names:
            if name.startswith("cutout"):
                idx = table.column_names.index(name)
                field = table.schema.field(idx)
                if pa.types.is_struct(field.type):  # ZTF {fileName, stampData}: empty the stamp
                    col = table.column(idx).combine_chunks()
                    children = [col.field(i) for i in range(col.type.num_fields)]
                    names = [col.type.field(i).name for i in range(col.type.num_fields)]
                    stamp = names.index("stampData")
                    children[stamp] = pa.array([b""] * len(col), type=children[stamp].type)
                    empty = pa.StructArray.from_arrays(children, fields=list(col.type))
                    table = table.set_column(idx, field, empty)
                else:
                    table = table.set_column(idx, field, pa.nulls(table.num_rows, field.type))
    pq.write_table(table, dst, compression="snappy")
    report(dst)


def _empty_lsst_cutouts(rec: dict) -> dict:
    for key in ("cutoutDifference", "cutoutScience", "cutoutTemplate"):
        if rec.get(key) is not None:
            rec[key] = b""
    return rec


def _empty_ztf_cutouts(rec: dict) -> dict:
    for key in ("cutoutDifference", "cutoutScience", "cutoutTemplate"):
        if isinstance(rec.get(key), dict):
            rec[key]["stampData"] = b""
    return rec


def rubin(shared: Path) -> None:
    out = HERE / "rubin"
    out.mkdir(exist_ok=True)
    fink = shared / "fink"
    _avro_subset(fink / "fink-client/datatest/lsst/part-2-918301.avro",
                 out / "fink_lsst_part-2-918301_subset.avro", RUBIN_AVRO_SUBSET,
                 _empty_lsst_cutouts)
    src = fink / "fink-client/datatest/elasticc/alert_mjd60674.0512_obj747_src1494043.avro.gz"
    dst = out / src.name
    dst.write_bytes(src.read_bytes())
    report(dst)
    alerts = fink / "fink-science/fink_science/data/alerts"
    _parquet_subset(alerts / "hostless_detection/rubin_sample_data_10_0.parquet",
                    out / "rubin_sample_data_10_0_subset.parquet", RUBIN_PARQUET_SUBSET)
    _parquet_subset(alerts / "elasticc_sample_seed0.parquet",
                    out / "elasticc_sample_seed0_subset.parquet", ELASTICC_SEED0_SUBSET)
    src = alerts / "elasticc_parquet/part-00000-9f78a16f-73f6-45b5-8ebb-567c3a1e6b01-c000.snappy.parquet"
    dst = out / "elasticc_early_schema.parquet"
    dst.write_bytes(src.read_bytes())
    report(dst)


def ztf(shared: Path) -> None:
    out = HERE / "ztf"
    out.mkdir(exist_ok=True)
    fink = shared / "fink"
    src = fink / "fink-client/datatest/ZTF19acihgng.avro"
    dst = out / src.name
    dst.write_bytes(src.read_bytes())
    report(dst)
    _avro_subset(fink / "fink-client/datatest/ztf/part-3-305711.avro",
                 out / "fink_ztf_part-3-305711_subset.avro", ZTF_AVRO_SUBSET, _empty_ztf_cutouts)
    _parquet_subset(shared / "fink_science_alert_samples/alerts__alerts.parquet",
                    out / "fink_alerts_subset.parquet", ZTF_PARQUET_SUBSET)


def main(argv: list) -> None:
    shared = Path(argv[1] if len(argv) > 1 else "/work/shared/data")
    lasair(shared)
    demo(shared)
    rubin(shared)
    ztf(shared)


if __name__ == "__main__":
    main(sys.argv)
