"""Rebuild the Slack test samples in this folder from the repository's real alert data.

    python tests/data/slack/make_slack_samples.py

* ``atlas_2020tjh_host_distance.json.gz``: the real ATLAS object 1000005291314656200
  (SN 2020tjh, ``tests/data/atlas/1000005291314656200_sn.json.gz``) with one field added: the
  first Sherlock crossmatch's ``distance`` (Mpc), which the original leaves null, set from
  that same crossmatch's photometric redshift by the Hubble law (d = c z / H0, H0 = 70
  km/s/Mpc). No sample in the repository has a host distance, and the fast-track tier needs
  one.
* ``fast_track_400mpc.toml``: the default policy with the fast-track distance cut raised to
  400 Mpc, so the object's first visits (rank >= 7, phase < 15 d) are fast-track alerts.
* ``atlas_2020tjh_annotations.jsonl``: ``vra score`` of that object with that policy.
* ``lasair_20260205_annotations.jsonl``: ``vra score`` of the real Lasair LSST alerts in
  ``tests/data/lasair/20260205_073301.json.gz`` (default policy, ORACLE by the registry's
  routing: elasticc-lite for these packets without host galaxy magnitudes).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent
C_KM_S = 299792.458
H0 = 70.0


def main() -> int:
    with gzip.open(DATA / "atlas" / "1000005291314656200_sn.json.gz", "rt") as fh:
        obj = json.load(fh)
    host = obj["sherlock_crossmatches"][0]
    host["distance"] = round(C_KM_S * float(host["photoz"]) / H0, 1)
    atlas = HERE / "atlas_2020tjh_host_distance.json.gz"
    with gzip.GzipFile(atlas, "wb", mtime=0) as fh:
        fh.write(json.dumps(obj).encode())
    policy = HERE / "fast_track_400mpc.toml"
    policy.write_text("# The default policy with the fast-track distance cut at 400 Mpc "
                      "(see make_slack_samples.py).\n[fast_track]\ndistance_mpc = 400.0\n")
    runs = [
        ([str(atlas), "--policy", str(policy)], "atlas_2020tjh_annotations.jsonl"),
        ([str(DATA / "lasair" / "20260205_073301.json.gz")], "lasair_20260205_annotations.jsonl"),
    ]
    for args, out in runs:
        subprocess.run([sys.executable, "-m", "vra_filters.cli", "score", *args, "--quiet",
                        "--state", ":memory:", "--out", str(HERE / out)], check=True)
        print(f"wrote {out} (host distance {host['distance']} Mpc)" if "atlas" in out
              else f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
