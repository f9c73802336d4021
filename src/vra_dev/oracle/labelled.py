"""Build the small labelled ORACLE evaluation sets in tests/data/oracle_labelled/ (maintainers).

Run once by hand, from a source checkout, with the shared data folder (never by the tests)::

    python -m vra_dev.oracle.labelled /path/to/shared/data

Three sets, each a file of alert packets the package's readers take plus a ``*_labels.csv``
(``object_id,label``; labels as in :data:`vra_filters.oracle.taxonomy.LABEL_TABLE`):

* ``elasticc_earlysnia.parquet``: the Fink ELAsTiCC alerts joined with SNANA truth (all
  GENTYPE 10, SN Ia), the latest alert of each of the 318 objects, the packet columns only
  (Fink scores, truth and cutouts dropped; the truth GENTYPE is the label).
* ``alerce_sne.jsonl.gz``: the 30 ALeRCE-labelled ZTF supernovae as ZTF alert packets (JSON
  lines), rebuilt from ALeRCE's detection and non-detection tables: for each object the alerts
  of its last detection before +1, +2, ..., +1024 d after the first one and of its last
  detection (at most 12 per object, the ones an evaluation at those phases needs), each with
  the candidate fields of that detection (the BTS model's metadata) and every earlier
  detection and upper limit as ``prv_candidates``.
* ``s82_rrlyrae.jsonl.gz``: 30 SDSS Stripe 82 RR Lyrae (seeded choice of the 483) as Rubin-schema
  packets (JSON lines), one per star: SDSS ugriz magnitudes -> nJy, the difference flux against
  a per-band median template (what difference imaging would measure), a detection (diaSource)
  where |difference| >= 5 sigma, forced photometry (prvDiaForcedSources) elsewhere.

Plus ``elasticc_snana_HEAD.FITS.gz`` / ``_PHOT.FITS.gz``: the first 8 objects of the ELAsTiCC
set written as an SNANA FITS pair (needs astropy, maintainer side only), the fixture for the
package's own numpy SNANA reader (:mod:`vra_filters.evaluation.oracle_snana`).

Prints the sha256 of every file written; PROVENANCE.md in the folder records them.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import sys
from pathlib import Path

import numpy as np

from vra_filters.registry import sha256_file

OUT = Path(__file__).resolve().parents[3] / "tests" / "data" / "oracle_labelled"
DAYS = tuple(2.0 ** k for k in range(11))
MAGERR_FACTOR = 2.5 / math.log(10.0)
NJY_ZEROPOINT = 31.4
N_RRLYRAE = 30
RRLYRAE_SEED = 82
ELASTICC_COLUMNS = ("alertId", "diaSource", "prvDiaSources", "prvDiaForcedSources",
                    "prvDiaNondetectionLimits", "diaObject")
ZTF_BASIC = ("jd", "fid", "magpsf", "sigmapsf", "ra", "dec", "rb", "drb", "diffmaglim")


def sha256(path: Path) -> str:
    return sha256_file(path)


def write_labels(path: Path, rows) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["object_id", "label"])
        w.writerows(rows)


def write_jsonl_gz(path: Path, records) -> None:
    # mtime 0: the bytes depend on the content only
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        for rec in records:
            gz.write((json.dumps(rec, separators=(",", ":"), allow_nan=False) + "\n").encode())


def elasticc(shared: Path) -> list:
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = (shared / "fink" / "fink-science" / "fink_science" / "data" / "alerts"
           / "elasticc_parquet" / "test_elasticc_earlysnia.parquet")
    table = pq.read_table(src)
    obj = np.array([d["diaObjectId"] for d in table.column("diaObject").to_pylist()])
    t = np.array([s["midPointTai"] for s in table.column("diaSource").to_pylist()])
    latest = {}
    for i, (o, tt) in enumerate(zip(obj, t)):
        if o not in latest or tt > t[latest[o]]:
            latest[o] = i
    rows = sorted(latest.values())
    sub = table.select(list(ELASTICC_COLUMNS)).take(pa.array(rows))
    out = OUT / "elasticc_earlysnia.parquet"
    pq.write_table(sub, out, compression="zstd")
    gentype = table.column("GENTYPE").to_pylist()
    snid = table.column("SNID").to_pylist()
    labels = OUT / "elasticc_earlysnia_labels.csv"
    write_labels(labels, [(str(snid[i]), str(gentype[i])) for i in rows])
    return [out, labels]


def _clean(value):
    """JSON-able value of a CSV cell (None for empty / NaN)."""
    if value in ("", None):
        return None
    try:
        x = float(value)
    except ValueError:
        return value
    if not math.isfinite(x):
        return None
    return int(x) if x == int(x) and abs(x) < 2**53 else x


def alerce(shared: Path) -> list:
    from vra_filters.oracle.inputs import BTS_META_STATIC

    root = shared / "alerce_lc_classifier_examples"
    with open(root / "30_sne_labels.csv") as fh:
        labels = list(csv.DictReader(fh))
    with open(root / "30_sne_detections_corr.csv") as fh:
        dets = list(csv.DictReader(fh))
    with open(root / "30_sne_non_detections.csv") as fh:
        nondets = list(csv.DictReader(fh))
    fields = ZTF_BASIC + tuple(f for f in BTS_META_STATIC if f not in ZTF_BASIC)
    packets = []
    for lab in labels:
        oid = lab["objectId"]
        mine = sorted((d for d in dets if d["objectId"] == oid), key=lambda d: float(d["mjd"]))
        limits = sorted((n for n in nondets if n["objectId"] == oid),
                        key=lambda n: float(n["jd"]))
        entries = []
        for d in mine:
            e = {k: _clean(d.get(k)) for k in fields if k != "jd"}
            e["jd"] = float(d["mjd"]) + 2400000.5
            e["candid"] = int(d["candid"])
            e["isdiffpos"] = "t" if float(d["isdiffpos"]) > 0 else "f"
            entries.append({k: v for k, v in e.items() if v is not None})
        lim = [{"jd": float(n["jd"]), "fid": int(n["fid"]), "diffmaglim": float(n["diffmaglim"])}
               for n in limits if _clean(n["diffmaglim"]) is not None]
        t_first = entries[0]["jd"]
        picks = sorted({max(i for i, e in enumerate(entries) if e["jd"] < t_first + d)
                        for d in DAYS} | {len(entries) - 1})
        for i in picks:
            cand = entries[i]
            prv = [{k: v for k, v in e.items() if k in ZTF_BASIC + ("candid", "isdiffpos")}
                   for e in entries[:i]] + [x for x in lim if x["jd"] < cand["jd"]]
            prv.sort(key=lambda e: e["jd"])
            packets.append({"objectId": oid, "candid": cand["candid"], "candidate": cand,
                            "prv_candidates": prv})
    out = OUT / "alerce_sne.jsonl.gz"
    write_jsonl_gz(out, packets)
    lab_out = OUT / "alerce_sne_labels.csv"
    write_labels(lab_out, [(r["objectId"], r["classALeRCE"]) for r in labels])
    return [out, lab_out]


def rrlyrae(shared: Path) -> list:
    root = shared / "lightcurve_testdata_rrlyrae_ztf_snia" / "RRLyrae"
    with open(root / "periods.csv") as fh:
        stars = sorted(int(r["Num"]) for r in csv.DictReader(fh))
    chosen = sorted(np.random.default_rng(RRLYRAE_SEED).choice(stars, N_RRLYRAE, replace=False))
    packets = []
    for num in chosen:
        with open(root / "light-curves" / f"{num}.csv") as fh:
            rows = [r for r in csv.DictReader(fh)]
        t = np.array([float(r["time"]) for r in rows])
        mag = np.array([float(r["mag"]) for r in rows])
        err = np.array([float(r["magerr"]) for r in rows])
        band = np.array([r["band"] for r in rows])
        ok = np.isfinite(t) & np.isfinite(mag) & np.isfinite(err) & (err > 0)
        t, mag, err, band = t[ok], mag[ok], err[ok], band[ok]
        order = np.argsort(t, kind="stable")
        t, mag, err, band = t[order], mag[order], err[order], band[order]
        flux = 10.0 ** (-0.4 * (mag - NJY_ZEROPOINT))
        sigma = flux * err / MAGERR_FACTOR
        diff = flux.copy()
        for b in np.unique(band):
            diff[band == b] -= np.median(flux[band == b])
        det = np.abs(diff) >= 5 * sigma
        src, forced = [], []
        for k in range(len(t)):
            rec = {"midpointMjdTai": round(float(t[k]), 6), "band": str(band[k]),
                   "psfFlux": round(float(diff[k]), 2), "psfFluxErr": round(float(sigma[k]), 2)}
            if det[k]:
                rec = {"diaSourceId": int(num) * 10000 + k, "diaObjectId": int(num), **rec}
                src.append(rec)
            else:
                forced.append({"diaObjectId": int(num), **rec})
        packets.append({"alertId": src[-1]["diaSourceId"], "diaObject": {"diaObjectId": int(num)},
                        "diaSource": src[-1], "prvDiaSources": src[:-1],
                        "prvDiaForcedSources": forced})
    out = OUT / "s82_rrlyrae.jsonl.gz"
    write_jsonl_gz(out, packets)
    lab_out = OUT / "s82_rrlyrae_labels.csv"
    write_labels(lab_out, [(str(n), "RRL") for n in chosen])
    return [out, lab_out]


def snana(n_objects: int = 8) -> list:
    """The first ``n_objects`` of the shipped ELAsTiCC set as an SNANA HEAD/PHOT FITS pair."""
    from astropy.io import fits

    from vra_filters.lightcurve import LightCurve
    from vra_filters.oracle.inputs import ELASTICC_STATIC_NAMES, FLUXCAL_PER_NJY
    from vra_filters.readers import read

    lcs = [x for x in read(OUT / "elasticc_earlysnia.parquet") if isinstance(x, LightCurve)]
    lcs = lcs[:n_objects]
    rows, head = [], {k: [] for k in ("SNID", "RA", "DEC", "PTROBS_MIN", "PTROBS_MAX",
                                      "SIM_TYPE_INDEX") + ELASTICC_STATIC_NAMES}
    for lc in lcs:
        head["SNID"].append(lc.object_id)
        head["RA"].append(lc.context.ra)
        head["DEC"].append(lc.context.dec)
        head["PTROBS_MIN"].append(len(rows) + 1)
        for k in range(len(lc)):
            if np.isfinite(lc.flux[k]) and np.isfinite(lc.fluxerr[k]):
                band = "Y" if lc.band[k] == "y" else str(lc.band[k])
                rows.append((lc.mjd[k], band, lc.flux[k] * FLUXCAL_PER_NJY,
                             lc.fluxerr[k] * FLUXCAL_PER_NJY, 4096 if lc.is_det[k] else 0))
        head["PTROBS_MAX"].append(len(rows))
        rows.append((-777.0, "-", 0.0, 0.0, 0))
        head["SIM_TYPE_INDEX"].append(10)
        for name in ELASTICC_STATIC_NAMES:
            head[name].append(lc.context.extra.get(name, -9.0))
    cols = [fits.Column(name="SNID", format="16A", array=head["SNID"])]
    for name in ("RA", "DEC"):
        cols.append(fits.Column(name=name, format="D", array=head[name]))
    for name in ("PTROBS_MIN", "PTROBS_MAX", "SIM_TYPE_INDEX"):
        cols.append(fits.Column(name=name, format="J", array=head[name]))
    for name in ELASTICC_STATIC_NAMES:
        cols.append(fits.Column(name=name, format="E", array=head[name]))
    mjd, band, flux, err, flag = zip(*rows)
    phot = [fits.Column(name="MJD", format="D", array=mjd),
            fits.Column(name="BAND", format="2A", array=band),
            fits.Column(name="PHOTFLAG", format="J", array=flag),
            fits.Column(name="FLUXCAL", format="E", array=flux),
            fits.Column(name="FLUXCALERR", format="E", array=err)]
    out = []
    for suffix, columns in (("HEAD", cols), ("PHOT", phot)):
        path = OUT / f"elasticc_snana_{suffix}.FITS.gz"
        hdus = fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(columns)])
        raw = OUT / f"elasticc_snana_{suffix}.FITS"
        hdus.writeto(raw, overwrite=True)
        with open(raw, "rb") as src, open(path, "wb") as dst, \
                gzip.GzipFile(fileobj=dst, mode="wb", mtime=0) as gz:
            gz.write(src.read())
        raw.unlink()
        out.append(path)
    return out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__)
        return 2
    shared = Path(argv[0])
    OUT.mkdir(parents=True, exist_ok=True)
    for path in elasticc(shared) + alerce(shared) + rrlyrae(shared) + snana():
        print(f"{sha256(path)}  {path.stat().st_size:>8}  {path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
