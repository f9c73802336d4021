#!/usr/bin/env python3
"""Build ANTARES-shaped LSST loci (``DevKitLocus`` dicts) from the real Rubin alerts in
``tests/data/rubin`` and write ``lsst_loci_from_rubin.json.gz``.

ANTARES publishes no multi-alert LSST locus, so each Rubin alert packet here (a diaSource with
its ``prvDiaSources``) becomes one locus holding one ANTARES alert per diaSource, oldest first,
with the properties ANTARES gives LSST alerts (``shared/research/antares.md`` section 3.3 and the
real example ``lsst_alert_properties_example.json``):

* ``lsst_diaSource_<column>`` for every non-null diaSource column (values unchanged: the flux
  keeps its sign; ``isNegative`` is Rubin's own flag);
* ``lsst_diaObject_diaObjectId``/``ra``/``dec`` on every alert, the whole ``diaObject`` on the
  newest one (the only one whose diaObject the packet shows);
* ``lsst_observation_reason`` / ``lsst_target_name`` when the packet has them;
* ``ant_survey`` = 4, ``ant_mjd`` = ``midpointMjdTai``, ``ant_ra``/``ant_dec`` from the source,
  ``ant_passband`` = ``band``, ``ant_mag`` = 31.4 - 2.5 log10|psfFlux|, ``ant_magerr`` =
  1.0857 psfFluxErr/|psfFlux|, ``ant_maglim`` = ``ant_mag`` (as in the real example).

The packet's ``prvDiaForcedSources`` (Rubin column names) go to the newest alert's
``non_persistent_properties["lsst_fp_hists"]``, where ANTARES says LSST forced photometry is
visible to filters (its exact shape there is not published; this is the packet's own list).
Alert ids ``lsst_placeholder:<diaSourceId>`` and locus ids ``ANT_PLACEHOLDER_LSST_<diaObjectId>``
are invented placeholders, as in ``lsst_single_alert_locus_derived.json``.

    python tests/data/antares/make_lsst_loci.py        # needs fastavro + pyarrow (the readers)
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUBIN = HERE.parent / "rubin"
OUT = HERE / "lsst_loci_from_rubin.json.gz"
#: (file, record index): the real Rubin alerts with a multi-source history.
SOURCES = (
    ("fink_lsst_part-2-918301_subset.avro", 0),       # 346 diaSources, 395 forced sources
    ("rubin_sample_data_10_0_subset.parquet", 2),     # 17 diaSources
    ("rubin_sample_data_10_0_subset.parquet", 3),     # 23 diaSources
)


def _clean(value):
    """JSON-safe plain value (bytes and NaN do not occur in the columns kept)."""
    if hasattr(value, "item"):
        value = value.item()
    return value


def _ant_alert(src: dict, dia_object: dict, newest: bool, packet: dict) -> dict:
    flux, err = float(src["psfFlux"]), float(src["psfFluxErr"])
    props = {f"lsst_diaSource_{k}": _clean(v) for k, v in src.items() if v is not None}
    obj = dia_object if newest else {k: dia_object[k] for k in ("diaObjectId", "ra", "dec")}
    props.update({f"lsst_diaObject_{k}": _clean(v) for k, v in obj.items() if v is not None})
    for key in ("observation_reason", "target_name"):
        if packet.get(key) is not None:
            props[f"lsst_{key}"] = packet[key]
    mag = 31.4 - 2.5 * math.log10(abs(flux)) if flux else float("nan")
    props.update({
        "ant_survey": 4, "ant_mjd": src["midpointMjdTai"], "ant_ra": src["ra"],
        "ant_dec": src["dec"], "ant_passband": src["band"], "ant_mag": mag,
        "ant_magerr": 2.5 / math.log(10.0) * err / abs(flux) if flux else float("nan"),
        "ant_maglim": mag,
    })
    return {"id": f"lsst_placeholder:{src['diaSourceId']}", "mjd": src["midpointMjdTai"],
            "properties": props, "grav_wave_events": []}


def locus_from_packet(packet: dict, origin: str) -> dict:
    sources = list(packet.get("prvDiaSources") or []) + [packet["diaSource"]]
    sources.sort(key=lambda s: s["midpointMjdTai"])
    dia_object = {k: v for k, v in packet["diaObject"].items() if v is not None}
    alerts = [_ant_alert(s, dia_object, i == len(sources) - 1, packet)
              for i, s in enumerate(sources)]
    forced = [{k: _clean(v) for k, v in f.items() if v is not None}
              for f in packet.get("prvDiaForcedSources") or []]
    if forced:
        alerts[-1]["non_persistent_properties"] = {"lsst_fp_hists": forced}
    oid = str(packet["diaSource"]["diaObjectId"])
    return {
        "id": f"ANT_PLACEHOLDER_LSST_{oid}", "ra": dia_object["ra"], "dec": dia_object["dec"],
        "alerts": alerts, "catalog_objects": {},
        "internal_properties": {"num_alerts": len(alerts), "num_mag_values": len(alerts),
                                "survey": {"lsst": {"dia_object_id": [oid],
                                                    "ss_object_id": []}}},
        "user_properties": {}, "user_tags": [], "grav_wave_events_metadata": {},
        "_origin": origin,
    }


def main() -> None:
    from vra_filters.readers import rubin

    loci = []
    for name, index in SOURCES:
        records = list(rubin.iter_records(RUBIN / name))
        loci.append(locus_from_packet(records[index].data, f"tests/data/rubin/{name}#{index}"))
    text = json.dumps(loci, sort_keys=True, allow_nan=True)
    with gzip.GzipFile(OUT, "wb", compresslevel=9, mtime=0) as fh:
        fh.write(text.encode("utf-8"))
    for locus in loci:
        print(locus["id"], len(locus["alerts"]), "alerts from", locus["_origin"])


if __name__ == "__main__":
    main()
