"""Scoring streams in bounded memory: 20x more alerts, about the same peak (tracemalloc)."""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path

import pytest

import vra_filters as vra
from vra_filters.readers import iter_read, lasair, rubin

DATA = Path(__file__).parent / "data"


def _rubin_jsonl(path: Path, n: int) -> None:
    """The Rubin sample packets as JSON lines, replicated to ``n`` distinct objects."""
    packets = [r.data for r in rubin.iter_records(DATA / "rubin" /
                                                  "rubin_sample_data_10_0_subset.parquet")]
    with open(path, "w") as fh:
        for i in range(n):
            p = json.loads(json.dumps(packets[i % len(packets)], default=str))
            for src in [p["diaSource"]] + list(p.get("prvDiaSources") or []):
                src["diaObjectId"] = 10_000_000 + i
            p["diaSource"]["diaSourceId"] = 20_000_000 + i
            if p.get("diaObject"):
                p["diaObject"]["diaObjectId"] = 10_000_000 + i
            fh.write(json.dumps(p) + "\n")


SCORER = []


def _peak(path: Path, tmp: Path) -> tuple:
    if not SCORER:
        SCORER.append(vra.Scorer.load(oracle="none"))
    scorer = SCORER[0]
    db = tmp / f"{path.stem}.sqlite"
    if db.exists():
        db.unlink()
    with vra.SQLiteStore(db) as store, open(os.devnull, "w") as out:
        stream = vra.Stream(scorer, store, vra.JsonLinesSink(out, owned=False), chunk_size=50)
        tracemalloc.start()
        n = sum(1 for _ in stream.run(iter_read([path], "rubin")))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return n, peak


def test_twenty_times_more_alerts_do_not_raise_peak_memory(tmp_path):
    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    _rubin_jsonl(small, 100)
    _rubin_jsonl(large, 2000)
    _peak(small, tmp_path)  # warm-up: lazily built model tables are not the input's cost
    n_small, peak_small = _peak(small, tmp_path)
    n_large, peak_large = _peak(large, tmp_path)
    assert (n_small, n_large) == (100, 2000)
    # Both runs hold one chunk (50 alerts) at a time: the peak may not grow with the input.
    print(f"peak {peak_small / 1e6:.1f} MB for {n_small} alerts, {peak_large / 1e6:.1f} MB for {n_large}")
    assert peak_large < 1.25 * peak_small + 2e6, (peak_small, peak_large)


def test_lasair_duplicate_check_holds_a_bounded_window():
    raw = [r.data for r in lasair.iter_records(DATA / "lasair" / "20260202_102448_subset.json")]
    full = next(r for r in raw if r.get("alert"))
    lite = {k: v for k, v in full.items() if k != "alert"}
    lite["lastDiaSourceMjdTai"] = max(s["midpointMjdTai"] for s in full["alert"]["diaSourcesList"])
    filler = [(f"f{i}", dict(lite, diaObjectId=1000 + i)) for i in range(30)]
    held = []

    def docs(items):
        for item in items:
            held.append(item[0])
            yield item

    # the lite twin before or after the full record (within the window) is dropped
    for order in (["lite", "full"], ["full", "lite"]):
        items = [(name, lite if name == "lite" else full) for name in order] + filler
        kept = [s for s, _ in lasair.dedupe(items, window=5)]
        assert kept == ["full"] + [f"f{i}" for i in range(30)]
    # streamed: at most `window` records are held back
    held.clear()
    out = lasair.dedupe(docs(filler), window=5)
    first = next(out)
    assert first == filler[0] and len(held) == 6
    with pytest.raises(StopIteration):
        for _ in range(100):
            next(out)
