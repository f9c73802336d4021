"""Build the labelled sets of tests/data/labelled/ (maintainers; run once by hand, never by the
tests): ``python tests/data/labelled/make_labelled.py /path/to/shared/data``.

* ``s82_rrlyrae_window.jsonl.gz``: all 483 SDSS Stripe 82 RR Lyrae (Sesar et al. 2010) as
  Rubin-schema alert packets, one per star. Per band the flux (nJy, 31.4 zero point) minus its
  median over the whole light curve is the difference flux; epochs where it is at least 5 sigma
  are diaSources, the others forced photometry. Only the VRA's window is kept: from 100 days
  before the first detection's night to 16 days after it (the day-1 and day-N features see
  nothing else); the packet's alert is the last detection in that window.
* ``labels.csv`` (``object_id,type,source``), the labels of every labelled alert used to train
  and judge the provisional LSST scorers, over files already in tests/data:

  - ``elasticc``: the 318 ELAsTiCC SN Ia of ``../oracle_labelled/elasticc_earlysnia.parquet``
    (SNANA truth GENTYPE 10) -> ``good``;
  - ``s82``: the 483 RR Lyrae above -> ``galactic``;
  - ``lsst-real``: the real Rubin alerts of ``../fink/`` and ``../lasair/``: a known solar-system
    object or a Rubin ``reliability`` below 0.5 -> ``garbage`` (a proxy label: nobody eyeballed
    them); the others stay unlabelled;
  - ``ztf-tns``: the Fink ZTF alerts whose ``tns`` column names a TNS classification
    (``../fink/ztf_few_SLSN_alerts.parquet``, ``../fink/fink_ztf_part-3-305711.avro``) and the 30
    ALeRCE supernovae (``../oracle_labelled/alerce_sne.jsonl.gz``) -> ``good``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
ZP = 31.4
MAGERR = 2.5 / math.log(10.0)
LSST_REAL = ("fink/rubin_sample_data_10_0.parquet", "fink/fink_lsst_part-2-918301.avro",
             "lasair/20260202_102448_subset.json", "lasair/20260205_073301.json.gz")
ZTF_TNS = ("fink/ztf_few_SLSN_alerts.parquet", "fink/fink_ztf_part-3-305711.avro")
RELIABILITY_BOGUS = 0.5
#: diaObjectId of star Num: a range no Rubin / ELAsTiCC id in these files uses.
RRL_ID_BASE = 8_200_000_000


def rrlyrae_packet(num: int, rows: np.ndarray) -> dict | None:
    t, mag, err = rows["time"], rows["mag"], rows["magerr"]
    band = rows["band"]
    flux = 10.0 ** (-0.4 * (mag - ZP))
    sigma = flux * err / MAGERR
    diff = np.empty_like(flux)
    for b in np.unique(band):
        sel = band == b
        diff[sel] = flux[sel] - np.median(flux[sel])
    det = np.abs(diff) >= 5.0 * sigma
    if not det.any():
        return None
    night0 = math.floor(t[det].min())
    win = (t >= night0 - 100.0) & (t < night0 + 16.0)
    order = np.argsort(t[win], kind="stable")
    idx = np.flatnonzero(win)[order]
    oid = RRL_ID_BASE + num
    sources, forced = [], []
    for k, i in enumerate(idx):
        point = {"midpointMjdTai": float(t[i]), "band": str(band[i]),
                 "psfFlux": float(diff[i]), "psfFluxErr": float(sigma[i])}
        if det[i]:
            sources.append(dict(point, diaSourceId=oid * 1000 + k, diaObjectId=oid))
        else:
            forced.append(dict(point, diaForcedSourceId=oid * 1000 + k, diaObjectId=oid))
    if not sources:
        return None
    trigger = sources[-1]
    later = [f for f in forced if f["midpointMjdTai"] <= trigger["midpointMjdTai"]]
    return {"alertId": trigger["diaSourceId"], "diaObject": {"diaObjectId": oid},
            "diaSource": trigger, "prvDiaSources": sources[:-1], "prvDiaForcedSources": later}


def build_rrlyrae(shared: Path) -> list:
    folder = shared / "lightcurve_testdata_rrlyrae_ztf_snia" / "RRLyrae"
    nums = [int(line.split(",")[0]) for line in
            (folder / "periods.csv").read_text().splitlines()[1:] if line.strip()]
    out = []
    for num in nums:
        rows = np.genfromtxt(folder / "light-curves" / f"{num}.csv", delimiter=",",
                             names=True, dtype=None, encoding="utf-8")
        ok = np.isfinite(rows["mag"]) & np.isfinite(rows["magerr"]) & (rows["magerr"] > 0)
        packet = rrlyrae_packet(num, rows[ok])
        if packet is not None:
            out.append(packet)
    path = HERE / "s82_rrlyrae_window.jsonl.gz"
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        for p in out:
            gz.write((json.dumps(p, separators=(",", ":"), allow_nan=False) + "\n").encode())
    return out


def build_labels(rrlyrae: list) -> list:
    sys.path.insert(0, str(TESTS.parent / "src"))
    import vra_filters as vra

    rows = []
    for o in sorted({str(r["object_id"]) for r in csv.DictReader(
            open(TESTS / "oracle_labelled" / "elasticc_earlysnia_labels.csv"))}):
        rows.append((o, "good", "elasticc"))
    rows += [(str(p["diaObject"]["diaObjectId"]), "galactic", "s82") for p in rrlyrae]
    seen = set()
    for rel in LSST_REAL:
        for lc in vra.read(TESTS / rel).lightcurves:
            if lc.object_id in seen:
                continue
            seen.add(lc.object_id)
            if lc.context.solar_system or lc.context.rb < RELIABILITY_BOGUS:
                rows.append((lc.object_id, "garbage", "lsst-real"))
    for rel in ZTF_TNS:
        for lc in vra.read(TESTS / rel).lightcurves:
            if lc.context.tns_name and lc.object_id not in seen:
                seen.add(lc.object_id)
                rows.append((lc.object_id, "good", "ztf-tns"))
    for r in csv.DictReader(open(TESTS / "oracle_labelled" / "alerce_sne_labels.csv")):
        if r["object_id"] not in seen:
            seen.add(r["object_id"])
            rows.append((r["object_id"], "good", "ztf-tns"))
    with open(HERE / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["object_id", "type", "source"])
        w.writerows(rows)
    return rows


def main(argv: list) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    rrl = build_rrlyrae(Path(argv[1]))
    rows = build_labels(rrl)
    counts: dict = {}
    for _, lab, src in rows:
        counts[(src, lab)] = counts.get((src, lab), 0) + 1
    print(counts)
    for name in ("s82_rrlyrae_window.jsonl.gz", "labels.csv"):
        print(hashlib.sha256((HERE / name).read_bytes()).hexdigest(), name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
