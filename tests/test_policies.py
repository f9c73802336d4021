"""Score formulas, policy thresholds and the policy config file."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from vra_filters.policies import ObjectHistory, Policy, is_garbage, load_policy, tier
from vra_filters.score import galactic_candidate, vra_score

REF = json.loads((Path(__file__).parent / "data" / "atlas" / "reference_scores.json").read_text())

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


def test_vra_score_eq2_matches_reference_values():
    for example in REF["examples"].values():
        for run in example["runs"]:
            for stage in ("day1", "dayN_full_json"):
                r = run[stage]
                assert vra_score(r["p_real"], r["p_gal"]) == pytest.approx(r["vra_score"],
                                                                           abs=1e-12)
                assert bool(galactic_candidate(r["p_real"], r["p_gal"])) == r["is_gal_cand"]


def test_vra_score_corners():
    assert vra_score(1.0, 0.0) == pytest.approx(10.0)
    assert vra_score(0.0, 1.0) == pytest.approx(0.0)
    assert vra_score(1.0, 1.0) == pytest.approx(10 * (math.sqrt(1.25) - 0.5) / math.sqrt(1.25))


def test_galactic_candidate_boundary():
    # exactly on the circle is inside (<=)
    assert galactic_candidate(0.6, 1.0)
    assert not galactic_candidate(0.59, 1.0)
    assert galactic_candidate(1.0, 1 - 0.4 / 0.9 + 1e-12)


def history(*ranks, start=60000.0):
    h = ObjectHistory()
    for i, r in enumerate(ranks):
        h.add_visit(r, start + i)
    return h


@pytest.mark.parametrize("ranks,garbage", [
    ((0.9,), True),            # day 1: best < 1
    ((1.5,), False),
    ((1.5, 1.9), True),        # two visits, best < 2
    ((1.5, 2.1), False),
    ((2.5, 2.5, 2.9), True),   # three visits, mean < 3
    ((2.5, 2.5, 4.1), False),  # mean 3.03
    ((9.0, 0.5), False),       # best of all visits counts
])
def test_auto_garbage_rules(ranks, garbage):
    assert is_garbage(history(*ranks), Policy()) is garbage


def test_tiers():
    pol = Policy()
    h = history(8.0)
    assert tier(8.0, False, 50.0, h, 60000.0, pol) == "fast_track"
    assert tier(8.0, False, 150.0, h, 60000.0, pol) == "extragalactic"
    assert tier(8.0, False, math.nan, h, 60000.0, pol) == "extragalactic"
    assert tier(5.0, True, math.nan, h, 60000.0, pol) == "galactic"
    assert tier(5.0, False, math.nan, h, 60000.0, pol) == "purgatory"
    assert tier(8.0, False, 50.0, h, 60015.5, pol) == "purgatory"  # undecided > 15 days
    assert tier(8.0, False, 50.0, h, 60000.0, pol, phase=15.5) == "purgatory"  # past the window
    assert tier(8.0, False, 50.0, h, 60000.0, pol, phase=14.5) == "fast_track"
    h.garbage = True
    assert tier(8.0, False, 50.0, h, 60000.0, pol) == "garbage"


def test_default_file_equals_built_in_defaults():
    assert load_policy("default") == Policy()
    path = Path(__import__("vra_filters").__file__).parent / "data" / "policy" / "default.toml"
    from_file = Policy.from_mapping(tomllib.loads(path.read_text()), name="default")
    assert from_file == Policy()


def test_galactic_preset_and_custom_file(tmp_path):
    gal = load_policy("galactic")
    assert gal.name == "galactic" and gal.gal_radius == 0.45 and not gal.gal_below_threshold_only
    assert gal.eyeball_threshold == Policy().eyeball_threshold  # untouched keys keep defaults
    f = tmp_path / "mine.toml"
    f.write_text("[eyeball]\nthreshold = 6.5\n[fast_track]\ndistance_mpc = 40\n")
    mine = load_policy(f)
    assert mine.eyeball_threshold == 6.5 and mine.fast_track_distance_mpc == 40.0
    assert mine.garbage_day1_max == 1.0


@pytest.mark.parametrize("text,message", [
    ("[eyeball]\nthreshhold = 6\n", "unknown key eyeball.threshhold"),
    ("[eyeball]\nthreshold = 'high'\n", "eyeball.threshold must be a number"),
    ("[galactic]\nbelow_threshold_only = 1\n", "must be true or false"),
    ("[eyeball\n", "policy file"),
])
def test_bad_policy_files_say_what_is_wrong(tmp_path, text, message):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_policy(f)


def test_unknown_preset():
    with pytest.raises(ValueError, match="not a preset"):
        load_policy("extragalactic-only")


def test_score_vectorised():
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    out = vra_score(p[:, 0], p[:, 1])
    assert out.shape == (2,) and out[0] == pytest.approx(10.0)
