"""The ANTARES filter (adapters/vra_antares) on real loci with the real devkit, offline.

Loci: the devkit's own samples (1 and 3,959 ZTF alerts, upper limits included), the real
ANTARES LSST alert, and LSST loci built from the real Rubin alerts of tests/data/rubin
(tests/data/antares/make_lsst_loci.py). What is pinned: the properties equal the core's
annotation of the same alerts (read by the core's own readers), alert by alert with the
history carried in the locus; outputs are plain str/int/float; bad loci end Skipped with a
reason, never Errored. Runs wherever antares-devkit installs (Python >= 3.9).
"""

from __future__ import annotations

import base64
import copy
import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

with warnings.catch_warnings():  # the devkit's own pydantic deprecations, at import
    warnings.simplefilter("ignore", DeprecationWarning)
    pytest.importorskip("antares_devkit.models")

ROOT = Path(__file__).resolve().parents[1]

import vra_filters as vra  # noqa: E402
from vra_antares import cli as acli  # noqa: E402
from vra_antares import filter as afilter  # noqa: E402
from vra_antares.locus import catalog_context, locus_lightcurve  # noqa: E402
from vra_antares.samples import devkit_locus, first_alerts, read_loci  # noqa: E402
from vra_filters.readers import rubin, ztf  # noqa: E402

DATA = ROOT / "tests" / "data"
ANT = DATA / "antares"
SMALL = read_loci(ANT / "devkit_small_locus.json")[0]
LARGE = read_loci(ANT / "devkit_large_locus.json.gz")[0]
LSST_ONE = read_loci(ANT / "lsst_single_alert_locus_derived.json")[0]
LSST_LOCI = read_loci(ANT / "lsst_loci_from_rubin.json.gz")
#: The Rubin packet each LSST locus was built from (make_lsst_loci.SOURCES).
RUBIN_SOURCES = (("fink_lsst_part-2-918301_subset.avro", 0),
                 ("rubin_sample_data_10_0_subset.parquet", 2),
                 ("rubin_sample_data_10_0_subset.parquet", 3))
PLAIN = (str, int, float)


@pytest.fixture(scope="module")
def flt():
    return afilter.VirtualResearchAssistant()


@pytest.fixture(scope="module")
def core():
    """The core's own stateful path, as ``vra score`` runs it: a Scorer with the filter's
    models and ORACLE routing, driven by the Stream over a memory store."""
    flt = afilter.VirtualResearchAssistant
    variant = flt.ORACLE_VARIANT
    assert variant.startswith("numpy-")
    # the filter routes LSST alerts without host values as the registry does
    assert flt.ORACLE_WITHOUT_METADATA == vra.registry.oracle_without_metadata()
    return vra.Scorer.load(oracle={"lsst": "elasticc", "ztf": "bts"}, oracle_variant=variant,
                           oracle_without_metadata=dict(flt.ORACLE_WITHOUT_METADATA))


def run(flt, data):
    locus = devkit_locus(data)
    return flt.run(locus), locus


def rubin_packet(index: int) -> dict:
    name, record = RUBIN_SOURCES[index]
    return list(rubin.iter_records(DATA / "rubin" / name))[record].data


def ztf_packet(data: dict) -> dict:
    """An independent ZTF packet from a locus's ZTF alerts: every ``ztf_`` property with the
    prefix stripped; upper limits keep only what a prv_candidates non-detection has."""
    entries = []
    for alert in data["alerts"]:
        props = alert["properties"]
        if props.get("ant_survey") not in (1, 2):
            continue
        entry = {k[4:]: v for k, v in props.items() if k.startswith("ztf_")}
        if props["ant_survey"] == 2:
            entry = {k: entry[k] for k in ("jd", "fid", "diffmaglim") if k in entry}
        entries.append(entry)
    cand = entries[-1]
    return {"objectId": cand.get("object_id") or data["id"], "candidate": cand,
            "prv_candidates": entries[:-1]}


def core_annotations(lcs, scorer, context_from=None, store=None):
    """The core over light curves in order, one Stream with one memory store (one object):
    annotation dicts (or Skips)."""
    stream = vra.Stream(scorer, store if store is not None else vra.MemoryStore())
    out = []
    for lc in lcs:
        if context_from is not None:
            catalog_context(lc.context, context_from.get("catalog_objects"),
                            context_from["ra"], context_from["dec"])
        (res,) = stream.run([lc])
        out.append(res.to_dict() if isinstance(res, vra.Annotation) else res)
    return out


def assert_matches(props: dict, ann: dict) -> None:
    """The filter's properties are the core annotation's values, exactly."""
    assert props["vra_p_real"] == ann["p_real"]
    assert props["vra_p_gal"] == ann["p_gal"]
    assert props["vra_score"] == ann["vra_score"]
    assert props["vra_rank"] == ann["rank"]
    assert props["vra_tier"] == ann["tier"]
    assert props["vra_galactic"] == int(ann["galactic"])
    assert props["vra_stage"] == ann["stage"]
    assert props["vra_visits"] == ann["visit"]
    assert props["vra_explanation"] == ann["explanation"]
    for role in ("real", "gal"):
        assert ann["models"][role]["sha256"][:8] in props["vra_model_version"]
    orc = ann["oracle"]
    assert props["vra_oracle_status"] == orc["status"]
    assert props["vra_oracle_warnings"] == ",".join(orc["warnings"] or [])
    if orc["status"] == "ok":
        assert props["vra_oracle_class"] == orc["most_specific"]["class"]
        assert props["vra_oracle_prob"] == orc["most_specific"]["p"]
        for level in ("level1", "level2", "leaf"):
            assert props[f"vra_oracle_{level}_class"] == orc["top"][level]["class"]
            assert props[f"vra_oracle_{level}_prob"] == orc["top"][level]["p"]
        assert orc["sha256"][:8] in props["vra_model_version"]


def assert_plain_outputs(flt, locus) -> None:
    declared = {p["name"]: p["type"] for p in flt.OUTPUT_LOCUS_PROPERTIES}
    ours = {k: v for k, v in locus.user_properties.items() if k in declared}
    assert ours, "no property written"
    for key, value in ours.items():
        assert type(value) in PLAIN, (key, type(value))  # never numpy scalars or None
        assert type(value).__name__ == declared[key], (key, value)
        if isinstance(value, float):
            assert math.isfinite(value), key



# --------------------------------------------------------------------------------------------
# Declarations


def test_declared_outputs_are_typed_and_described(flt):
    props = flt.OUTPUT_LOCUS_PROPERTIES
    names = [p["name"] for p in props]
    assert len(names) == len(set(names))
    assert all(p["type"] in ("str", "int", "float") and len(p["description"]) > 10
               for p in props)
    for needed in ("vra_p_real", "vra_p_gal", "vra_score", "vra_tier", "vra_visits",
                   "vra_model_version", "vra_oracle_class", "vra_oracle_leaf_prob",
                   "vra_state"):
        assert needed in names
    assert {t["name"] for t in flt.OUTPUT_LOCUS_TAGS} == {
        "vra_fast_track", "vra_extragalactic_candidate", "vra_galactic_candidate"}
    assert flt.TRIGGERING_SURVEY == "all" and flt.SLACK_CHANNEL


def test_runs_with_numpy_alone():
    """Importing and running the filter loads no ML runtime, pickle-based model or pandas
    object beyond what the devkit itself imports."""
    code = (
        "import sys;"
        "from antares_devkit.models import DevKitLocus;"
        "before = set(sys.modules);"
        "from vra_antares.filter import VirtualResearchAssistant as F;"
        "from vra_antares.samples import read_loci, devkit_locus;"
        "f = F(); r = f.run(devkit_locus(read_loci(sys.argv[1])[0]));"
        "assert r.status == 'Succeeded', r;"
        "bad = ('sklearn', 'tensorflow', 'tflite_runtime', 'ai_edge_litert', 'onnxruntime',"
        " 'torch', 'joblib', 'xgboost', 'pyarrow', 'fastavro');"
        "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] in bad))")
    out = subprocess.run([sys.executable, "-c", code, str(ANT / "devkit_small_locus.json")],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------------------------
# Real loci: Succeeded, plain outputs, equal to the core


@pytest.mark.parametrize("name,data", [
    ("small_ztf", SMALL), ("large_ztf", LARGE), ("lsst_single", LSST_ONE),
    ("lsst_346", LSST_LOCI[0]), ("lsst_17", LSST_LOCI[1]), ("lsst_23", LSST_LOCI[2]),
])
def test_sample_loci_succeed_with_plain_outputs(flt, name, data):
    result, locus = run(flt, data)
    assert result.status == "Succeeded", (result.reason, result.traceback)
    assert_plain_outputs(flt, locus)
    new_tags = set(locus.tags) - set(data.get("user_tags") or [])
    assert new_tags <= {t["name"] for t in flt.OUTPUT_LOCUS_TAGS}
    props = locus.user_properties
    assert props["vra_visits"] == 1
    assert props["vra_survey"] == ("ztf" if "ztf" in name else "lsst")
    assert props["vra_oracle_status"] == "ok"
    assert 0.0 <= props["vra_p_real"] <= 1.0 and 0.0 <= props["vra_score"] <= 10.0
    saved = json.loads(props["vra_state"])
    assert set(saved) == {props["vra_survey"]}
    state = vra.ObjectState.from_bytes(base64.b64decode(saved[props["vra_survey"]]))
    assert state.survey == props["vra_survey"] and state.n_visits == 1
    assert len(state.oracle) == 1  # the ORACLE GRU state of the survey's model


@pytest.mark.parametrize("index", [0, 1, 2])
def test_lsst_light_curve_equals_the_rubin_reader(index):
    """Same alerts, two routes: ANTARES locus properties vs the Rubin packet itself."""
    mine = locus_lightcurve(devkit_locus(LSST_LOCI[index]))
    core = rubin.from_packet(rubin_packet(index))
    assert mine.object_id == core.object_id and mine.survey == "lsst"
    for name in ("mjd", "mag", "magerr", "flux", "fluxerr", "ra", "dec", "rb"):
        np.testing.assert_array_equal(getattr(mine, name), getattr(core, name), err_msg=name)
    for name in ("band", "is_det", "saturated"):
        assert (getattr(mine, name) == getattr(core, name)).all(), name
    assert mine.alert_mjd == core.alert_mjd and mine.t0 == core.t0
    assert (mine.context.ra, mine.context.dec, mine.context.rb) == \
        (core.context.ra, core.context.dec, core.context.rb)
    if index == 0:  # forced photometry made it through: 395 forced, 51 forced-only epochs
        assert (~mine.is_det).sum() == 51


@pytest.mark.parametrize("index", [0, 1, 2])
def test_lsst_properties_equal_core_annotation(flt, core, index):
    result, locus = run(flt, LSST_LOCI[index])
    assert result.status == "Succeeded"
    (ann,) = core_annotations([rubin.from_packet(rubin_packet(index))], core)
    assert_matches(locus.user_properties, ann)
    # real Rubin alerts carry no host value: ORACLE's light-curve-only model ran
    assert ann["oracle"]["model"] == "elasticc-lite"
    assert "oracle elasticc-lite f1" in locus.user_properties["vra_model_version"]


def test_real_antares_lsst_alert_equals_core_annotation(flt, core):
    """The real ANTARES LSST alert: its ``lsst_diaSource_*`` / ``lsst_diaObject_*`` properties
    as a Rubin packet through the core reader give the filter's numbers."""
    props = json.loads((ANT / "lsst_alert_properties_example.json").read_text())
    assert LSST_ONE["alerts"][0]["properties"] == props
    packet = {"diaSource": {k[15:]: v for k, v in props.items()
                            if k.startswith("lsst_diaSource_")},
              "diaObject": {k[15:]: v for k, v in props.items()
                            if k.startswith("lsst_diaObject_")}}
    (ann,) = core_annotations([rubin.from_packet(packet)], core)
    result, locus = run(flt, LSST_ONE)
    assert result.status == "Succeeded"
    assert_matches(locus.user_properties, ann)
    assert locus.user_properties["vra_stage"] == "day1"


@pytest.mark.parametrize("data", [SMALL, LARGE], ids=["small", "large"])
def test_ztf_properties_equal_core_annotation(flt, core, data):
    """ZTF candidates and upper limits: the core ZTF reader on a packet of the same alerts."""
    result, locus = run(flt, data)
    assert result.status == "Succeeded"
    core_lc = ztf.from_packet(ztf_packet(data))
    mine = locus_lightcurve(devkit_locus(data))
    for name in ("mjd", "mag", "magerr", "flux", "fluxerr", "rb"):
        np.testing.assert_array_equal(getattr(mine, name), getattr(core_lc, name), err_msg=name)
    assert (mine.is_det == core_lc.is_det).all() and (mine.band == core_lc.band).all()
    (ann,) = core_annotations([core_lc], core, context_from=data)
    assert_matches(locus.user_properties, ann)
    if data is LARGE:
        assert (~mine.is_det).sum() == 407  # every upper limit is a non-detection


def test_replay_carries_history_alert_by_alert(flt, core):
    """The 23-alert LSST locus alert by alert, properties carried as ANTARES keeps them:
    every step equals the core scoring the same growing light curve with one state store
    (visits, garbage/purgatory history, incremental ORACLE state)."""
    data = LSST_LOCI[2]
    packet = rubin_packet(2)
    sources = sorted(packet["prvDiaSources"] + [packet["diaSource"]],
                     key=lambda s: s["midpointMjdTai"])
    steps = [rubin.from_packet(dict(packet, diaSource=src, prvDiaSources=sources[:i]))
             for i, src in enumerate(sources)]  # the Rubin alert of each diaSource
    store = vra.MemoryStore()
    expected = core_annotations(steps, core, store=store)
    carried: dict = {}
    scored = 0
    for n in range(1, len(data["alerts"]) + 1):
        step = first_alerts(data, n)
        step["user_properties"] = carried
        result, locus = run(flt, step)
        ann = expected[n - 1]
        if isinstance(ann, vra.Skip):
            assert result.status == "Skipped" and result.reason == ann.reason
            continue
        assert result.status == "Succeeded", result.reason
        assert_matches(locus.user_properties, ann)
        carried = dict(locus.user_properties)
        scored += 1
        assert carried["vra_visits"] == scored
    blob = base64.b64decode(json.loads(carried["vra_state"])["lsst"])
    state = vra.ObjectState.from_bytes(blob)
    assert state.n_visits == scored > 1
    assert state.last_mjd == sources[-1]["midpointMjdTai"]  # exact, not float32
    assert state.oracle, "the ORACLE state is carried"
    # the same bytes as the core's own store holds after the same alerts
    (key,) = {(lc.survey, lc.object_id) for lc in steps}
    assert blob == store.load([key])[key].to_bytes()


def test_redelivered_alert_changes_nothing(flt):
    result, locus = run(flt, LSST_LOCI[1])
    assert result.status == "Succeeded"
    before = dict(locus.user_properties)
    again = flt.run(locus)
    assert again.status == "Skipped" and "re-delivery" in again.reason
    assert locus.user_properties == before


def test_negative_flux_reported_positive_with_is_negative(flt):
    """ANTARES may give |psfFlux| with isNegative: the sign is restored, so the properties
    equal those of Rubin's signed fluxes."""
    data = copy.deepcopy(LSST_LOCI[0])
    flipped = 0
    for alert in data["alerts"]:
        props = alert["properties"]
        if props.get("lsst_diaSource_isNegative") and props["lsst_diaSource_psfFlux"] < 0:
            props["lsst_diaSource_psfFlux"] = -props["lsst_diaSource_psfFlux"]
            flipped += 1
    assert flipped > 100
    _, want = run(flt, LSST_LOCI[0])
    _, got = run(flt, data)
    assert got.user_properties == want.user_properties


def test_mixed_survey_locus_uses_the_trigger_survey(flt):
    """A locus holding ZTF alerts and then LSST alerts scores the LSST ones alone, and keeps
    one history per survey."""
    ztf_alerts = copy.deepcopy(SMALL["alerts"])
    data = copy.deepcopy(LSST_LOCI[1])
    mixed = dict(data, alerts=ztf_alerts + data["alerts"])
    _, alone = run(flt, data)
    result, both = run(flt, mixed)
    assert result.status == "Succeeded"
    for key in ("vra_p_real", "vra_p_gal", "vra_score", "vra_tier", "vra_oracle_leaf_prob"):
        assert both.user_properties[key] == alone.user_properties[key]
    ztf_first = dict(SMALL, user_properties={})
    _, z = run(flt, ztf_first)
    mixed["user_properties"] = {"vra_state": z.user_properties["vra_state"]}
    _, both = run(flt, mixed)
    assert set(json.loads(both.user_properties["vra_state"])) == {"ztf", "lsst"}


def test_catalogue_context_from_sdss_and_tns(flt):
    lc = locus_lightcurve(devkit_locus(SMALL))
    # sdss_gals row: photometric z 0.07286 +- 0.1093 (specObjID 0), 0.67" from the locus
    assert lc.context.photoz == pytest.approx(0.072861, abs=1e-6)
    assert lc.context.photoz_err == pytest.approx(0.109257, abs=1e-6)
    assert lc.context.host_sep_arcsec == pytest.approx(0.6516, abs=1e-3)
    assert math.isnan(lc.context.z) and math.isnan(lc.context.distance_mpc)
    spec = copy.deepcopy(SMALL)
    spec["catalog_objects"]["sdss_gals"][0].update(specObjID=123, z=0.01)
    lc = locus_lightcurve(devkit_locus(spec))
    assert lc.context.z == 0.01 and lc.context.distance_mpc == pytest.approx(42.827494)
    tns = copy.deepcopy(SMALL)
    tns["catalog_objects"]["tns_public_objects"] = [{"name": "2024abc"}]
    result, locus = run(flt, tns)
    assert result.status == "Succeeded"
    assert locus.user_properties["vra_rank"] == 10.0  # a known transient: TNS rank


# --------------------------------------------------------------------------------------------
# Bad loci: Skipped with a reason, never Errored


def _edit(data, fn):
    data = copy.deepcopy(data)
    fn(data)
    return data


def _set_all(key, value, survey=None):
    def fn(data):
        for alert in data["alerts"]:
            if survey is None or alert["properties"].get("ant_survey") == survey:
                alert["properties"][key] = value
    return fn


def _pop_last(key):
    return lambda data: data["alerts"][-1]["properties"].pop(key)


def _last(key, value):
    return lambda data: data["alerts"][-1]["properties"].__setitem__(key, value)


BAD = [
    ("no alerts", LSST_ONE, lambda d: d.__setitem__("alerts", []), "no alerts"),
    ("no ant_survey", LSST_ONE, _pop_last("ant_survey"), "ant_survey"),
    ("decam survey", LSST_ONE, _last("ant_survey", 3), "decat"),
    ("unknown survey", LSST_ONE, _last("ant_survey", 9), "unknown survey code 9"),
    ("lsst NaN flux", LSST_LOCI[1], _set_all("lsst_diaSource_psfFlux", float("nan")),
     "empty history"),
    ("lsst missing flux", LSST_ONE, _pop_last("lsst_diaSource_psfFlux"),
     "lsst_diaSource_psfFlux"),
    ("lsst bad band", LSST_ONE, _last("lsst_diaSource_band", "w"), "unknown band 'w'"),
    ("lsst text flux", LSST_ONE, _last("lsst_diaSource_psfFlux", "bright"), "non-numeric"),
    ("lsst NaN time", LSST_ONE, _last("lsst_diaSource_midpointMjdTai", float("nan")),
     "non-finite time"),
    ("ztf NaN magnitudes", SMALL, _set_all("ztf_magpsf", float("nan"), survey=1),
     "magpsf: missing or non-finite"),
    ("ztf missing magpsf", SMALL, _pop_last("ztf_magpsf"), "ztf_magpsf"),
    ("ztf unknown fid", SMALL, _last("ztf_fid", 7), "unknown ZTF filter id 7"),
    ("ztf upper-limit trigger", LARGE,
     lambda d: d["alerts"].append(next(a for a in d["alerts"]
                                       if a["properties"]["ant_survey"] == 2)),
     "upper limit"),
]


@pytest.mark.parametrize("name,data,edit,reason", BAD, ids=[b[0] for b in BAD])
def test_bad_loci_are_skipped_with_a_reason(flt, name, data, edit, reason):
    locus = devkit_locus(_edit(data, edit)) if name != "no alerts" else \
        devkit_locus(dict(data, alerts=[]))
    before = dict(locus.user_properties)
    result = flt.run(locus)
    assert result.status == "Skipped", (result.status, result.exception_message)
    assert reason in result.reason and result.reason == flt.last_skip_reason
    assert locus.user_properties == before  # nothing written


def test_unreadable_forced_photometry_is_left_out(flt):
    """lsst_fp_hists is optional (its ANTARES shape is unpublished): unreadable values cost the
    upper limits, not the alert; an unknown shape is ignored the same way."""
    data = first_alerts(LSST_LOCI[0], 40)
    _, want = run(flt, dict(data, alerts=[dict(a, non_persistent_properties={})
                                          for a in data["alerts"]]))
    bad = copy.deepcopy(data)
    for row in bad["alerts"][-1]["non_persistent_properties"]["lsst_fp_hists"]:
        row["psfFlux"] = "n/a"
    odd = copy.deepcopy(data)
    odd["alerts"][-1]["non_persistent_properties"] = {"lsst_fp_hists": "binary blob"}
    for edited in (bad, odd):
        result, got = run(flt, edited)
        assert result.status == "Succeeded"
        assert got.user_properties == want.user_properties
    columns = copy.deepcopy(data)  # a dict of columns is read like the list of records
    rows = columns["alerts"][-1]["non_persistent_properties"]["lsst_fp_hists"]
    columns["alerts"][-1]["non_persistent_properties"]["lsst_fp_hists"] = {
        k: [r.get(k) for r in rows] for k in rows[0]}
    _, by_rows = run(flt, data)
    _, by_columns = run(flt, columns)
    assert by_columns.user_properties == by_rows.user_properties != want.user_properties


def test_oracle_without_classes_clears_earlier_ones(flt):
    """Properties persist between alerts: when ORACLE gives no classes, the previous ones are
    cleared (empty class, probability 0) rather than left standing."""
    result, locus = run(flt, LSST_LOCI[1])
    assert result.status == "Succeeded" and locus.user_properties["vra_oracle_class"]

    class NoOracle(afilter.VirtualResearchAssistant):
        ORACLE_MODELS: dict = {}

    step = first_alerts(LSST_LOCI[0], 5)  # a later alert, with this locus's properties
    step["user_properties"] = dict(locus.user_properties)
    result, locus = run(NoOracle(), step)
    assert result.status == "Succeeded"
    props = locus.user_properties
    assert props["vra_oracle_status"] == "not_run" and "oracle" not in props["vra_model_version"]
    assert props["vra_oracle_class"] == props["vra_oracle_leaf_class"] == ""
    assert props["vra_oracle_warnings"] == ""  # not the earlier alert's caveats either
    assert props["vra_oracle_prob"] == props["vra_oracle_level1_prob"] == 0.0


def test_a_bug_is_errored_not_skipped():
    class Broken(afilter.VirtualResearchAssistant):
        def _run(self, locus):
            raise RuntimeError("boom")

    result = Broken().run(devkit_locus(LSST_ONE))
    assert result.status == "Errored" and result.exception_name == "RuntimeError"
    assert "boom" in result.traceback


def _b64(blob: bytes) -> str:
    return base64.b64encode(blob).decode("ascii")


_ZTF_STATE = vra.ObjectState("ztf", "ZTF24x", n_visits=3, first_mjd=60000.0, last_mjd=60001.0)
UNREADABLE = {
    "not json": "not json",
    "not an object": "[1, 2]",
    "not text": '{"lsst": 5}',
    "not base64": '{"lsst": "!!not base64!!"}',
    "not a state": json.dumps({"lsst": _b64(b"junk bytes")}),
    "truncated": json.dumps({"lsst": _b64(_ZTF_STATE.to_bytes()[:-3])}),
    "another survey's": json.dumps({"lsst": _b64(_ZTF_STATE.to_bytes())}),
    "the old v1 layout": '{"v": 1, "lsst": {"n": 1, "first": "60000.0", "last": "60000.0", '
                         '"max": "5.0", "sum": "5.0", "garbage": 0}}',
}


@pytest.mark.parametrize("state", list(UNREADABLE.values()), ids=list(UNREADABLE))
def test_unreadable_state_starts_afresh(flt, state):
    result, locus = run(flt, dict(LSST_LOCI[1], user_properties={"vra_state": state}))
    assert result.status == "Succeeded" and locus.user_properties["vra_visits"] == 1
    fresh = json.loads(locus.user_properties["vra_state"])["lsst"]
    assert vra.ObjectState.from_bytes(base64.b64decode(fresh)).n_visits == 1


def test_state_is_the_locus_whatever_the_object_id(flt):
    """A state saved under another object id of the survey (ZTF may give one locus's alerts
    two ids) is the locus's history: the visit count goes on from it; other surveys' entries
    are kept as they were."""
    _, first = run(flt, LSST_LOCI[1])
    lc = locus_lightcurve(devkit_locus(LSST_LOCI[1]))
    earlier = vra.ObjectState("lsst", "not-" + lc.object_id, n_visits=4,
                              first_mjd=lc.alert_mjd - 30, last_mjd=lc.alert_mjd - 20,
                              max_rank=5.0, sum_rank=12.0)
    ztf_entry = _b64(_ZTF_STATE.to_bytes())
    text = json.dumps({"lsst": _b64(earlier.to_bytes()), "ztf": ztf_entry})
    result, locus = run(flt, dict(LSST_LOCI[1], user_properties={"vra_state": text}))
    assert result.status == "Succeeded"
    props = locus.user_properties
    assert props["vra_visits"] == 5
    saved = json.loads(props["vra_state"])
    assert saved["ztf"] == ztf_entry
    state = vra.ObjectState.from_bytes(base64.b64decode(saved["lsst"]))
    assert (state.object_id, state.n_visits, state.first_mjd) == \
        (lc.object_id, 5, lc.alert_mjd - 30)
    assert state.sum_rank == pytest.approx(12.0 + props["vra_rank"])
    assert first.user_properties["vra_p_real"] == props["vra_p_real"]  # same alert, same scores


# --------------------------------------------------------------------------------------------
# Command line


def _vra(argv):
    import argparse

    parser = argparse.ArgumentParser(prog="vra")
    acli.add_subparser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_run_locus_prints_status_properties_tags_and_time(capsys):
    assert _vra(["antares", "run-locus", str(ANT / "devkit_small_locus.json")]) == 0
    out = capsys.readouterr().out
    assert "ANT2024it80v05etk1n (1 alerts): Succeeded in" in out
    assert "vra_score = " in out and "vra_tier = " in out and "setup:" in out


def test_cli_run_locus_json_replay(capsys):
    assert _vra(["antares", "run-locus", "--json", "--replay",
                 str(ANT / "lsst_single_alert_locus_derived.json")]) == 0
    (line,) = capsys.readouterr().out.strip().splitlines()
    report = json.loads(line)
    assert report["status"] == "Succeeded" and report["ms"] > 0
    assert report["properties"]["vra_visits"] == 1 and report["n_alerts"] == 1


def test_cli_without_action_prints_help(capsys):
    assert _vra(["antares"]) == 2
    assert "run-locus" in capsys.readouterr().out
