"""Rebuild the Fink adapter's samples in tests/data/fink/ from the shared Fink data.

Run once by hand (the tests read only tests/data/):

    python tests/data/fink/make_fink_samples.py /path/to/shared/data/fink

Every sample is a whole real file with its image cutouts emptied (Avro: the cutout bytes /
``stampData`` set to b"" under the original writer schema and codec, with a fixed sync marker;
Parquet: the cutout columns set to null, ZTF ``stampData`` to b""), so the files stay small and
the schema and every alert are unchanged. Prints the sha256 of every file written
(PROVENANCE.md lists them).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

AVRO = {  # source (under the shared fink folder) -> file here
    "fink-client/datatest/lsst/part-2-918301.avro": "fink_lsst_part-2-918301.avro",
    "fink-client/datatest/ztf/part-3-305711.avro": "fink_ztf_part-3-305711.avro",
}
PARQUET = {
    "fink-science/fink_science/data/alerts/hostless_detection/rubin_sample_data_10_0.parquet":
        "rubin_sample_data_10_0.parquet",
    "fink-filters/fink_filters/data/few_SLSN_alerts.parquet": "ztf_few_SLSN_alerts.parquet",
    "fink-filters/datatest/regular/part-00000-836b2d5e-4f86-423e-8093-c16225c1fb1f-c000"
    ".snappy.parquet": "ztf_fink_filters_regular.parquet",
}


def _empty(record: dict) -> dict:
    for key in ("cutoutDifference", "cutoutScience", "cutoutTemplate"):
        value = record.get(key)
        if isinstance(value, dict):
            value["stampData"] = b""
        elif value is not None:
            record[key] = b""
    return record


def avro(src: Path, dst: Path) -> None:
    import fastavro

    with open(src, "rb") as fh:
        reader = fastavro.reader(fh)
        schema, codec = reader.writer_schema, reader.codec
        records = [_empty(r) for r in reader]
    with open(dst, "wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(schema), records, codec=codec,
                        sync_marker=b"vra_fink_samples")


def parquet(src: Path, dst: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(src)
    for idx, name in enumerate(table.column_names):
        if not name.startswith("cutout"):
            continue
        field = table.schema.field(idx)
        if pa.types.is_struct(field.type):
            col = table.column(idx).combine_chunks()
            names = [f.name for f in col.type]
            children = [col.field(i) for i in range(len(names))]
            k = names.index("stampData")
            children[k] = pa.array([b""] * len(col), type=children[k].type)
            table = table.set_column(idx, field, pa.StructArray.from_arrays(
                children, fields=list(col.type), mask=col.is_null()))
        else:
            table = table.set_column(idx, field, pa.nulls(table.num_rows, field.type))
    pq.write_table(table, dst, compression="snappy")


def main(shared: Path) -> None:
    for rel, name in AVRO.items():
        avro(shared / rel, HERE / name)
    for rel, name in PARQUET.items():
        parquet(shared / rel, HERE / name)
    for name in list(AVRO.values()) + list(PARQUET.values()):
        path = HERE / name
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        print(f"{digest}  {path.stat().st_size:>9}  {name}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
