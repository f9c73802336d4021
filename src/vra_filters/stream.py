"""The stream driver: dedupe -> load prior -> score -> commit, one transaction per chunk.

``vra score`` and the broker consumers (Kafka) all drive the pure :class:`~vra_filters.Scorer`
through this: for each chunk of alerts it

1. loads the prior states of the chunk's objects and looks up the alerts of the objects the
   store knows: one scored before **by the same models and settings**
   (``Scorer.fingerprint``) is re-emitted as it was, status ``duplicate``; one scored before
   with other settings is scored again (status ``rescored``, no new visit counted: it keeps
   the visit number it had, its tier reflects the object's history as it is now);
2. scores the rest (:meth:`Scorer.score`);
3. commits the new states and annotations in one transaction -- nothing of a chunk is saved
   unless all of it is -- after checking each can be stored (an id that cannot be encoded
   makes that alert a skip, not a crash);
4. hands the results, in input order, to the sink.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any, Dict, Iterable, Iterator, List, Optional, Union

from .annotations import Annotation
from .lightcurve import LightCurve
from .readers import Duplicate, Skip
from .scorer import Scorer
from .state import StateError

Result = Union[Annotation, Skip]


class Stream:
    """Drives a :class:`Scorer` over a stream of alerts with a state store and a sink.

    ``store``: a :class:`~vra_filters.state.StateStore` (None: nothing remembered between
    chunks, as a stateless host). ``history``: ``"store"`` (the store is the object's past)
    or ``"packet"`` (each alert's own history is replayed; the store, if any, still
    dedupes). ``counts`` tallies what happened: scored, duplicate, rescored, skipped, the
    tiers, and ``duplicate_in_input`` (records the reader left out as duplicates of others in
    the same input; they pass through as :class:`~vra_filters.readers.Duplicate` skips and
    are not counted in ``skipped``).
    """

    def __init__(self, scorer: Scorer, store: Any = None, sink: Any = None,
                 history: str = "store", chunk_size: int = 4096) -> None:
        if history not in ("store", "packet"):
            raise ValueError(f"history must be 'store' or 'packet', got {history!r}")
        self.scorer = scorer
        self.store = store
        self.sink = sink
        self.history = history
        self.chunk_size = int(chunk_size)
        self.counts: Counter = Counter()

    def run(self, items: Iterable[Union[LightCurve, Skip]]) -> Iterator[Result]:
        """Results for a stream of light curves (or skips), in input order, chunk by chunk."""
        it = iter(items)
        while True:
            chunk = list(itertools.islice(it, self.chunk_size))
            if not chunk:
                return
            yield from self.process(chunk)

    def process(self, chunk: List[Union[LightCurve, Skip]]) -> List[Result]:
        """One chunk: see the module docstring."""
        results: List[Optional[Result]] = [None] * len(chunk)
        fresh: List[int] = []
        rescore: Dict[int, Any] = {}  # input index -> the visit it was
        keys = [(it.survey, it.object_id, it.alert_id) if isinstance(it, LightCurve) else None
                for it in chunk]
        stored: Dict = {}
        prior: Dict = {}
        if self.store is not None:
            # Objects first: only an object the store knows can have alerts stored (a chunk of
            # new objects costs one query, not two).
            usable = [k for k in keys if k is not None and _storable(k)]
            prior = self.store.load(list(dict.fromkeys(k[:2] for k in usable)))
            known = [k for k in usable if k[:2] in prior]
            stored = self.store.lookup(known) if known else {}
        for i, (item, key) in enumerate(zip(chunk, keys)):
            if key is None:
                results[i] = item if isinstance(item, Skip) else Skip(
                    f"item {i}", f"not a light curve: {type(item).__name__}")
                continue
            old = stored.get(key)
            if old is not None and old.settings == self.scorer.fingerprint:
                results[i] = Annotation.from_dict(old.annotation, status="duplicate")
                continue
            if old is not None:
                rescore[i] = old.annotation.get("visit")
            fresh.append(i)

        history = "packet" if self.history == "packet" else "given"
        out = self.scorer.score([chunk[i] for i in fresh], prior, history=history)
        new_states = dict(out.states)
        rows = []
        for i, res in zip(fresh, out.results):
            if isinstance(res, Annotation) and i in rescore and res.status != "duplicate":
                visit = rescore[i] if isinstance(rescore[i], int) else res.visit
                res = res.replace(status="rescored", visit=visit)
            if isinstance(res, Annotation) and self.store is not None:
                problem = (None if _storable(res.key) else
                           "object or alert id is not valid Unicode (a lone surrogate?): "
                           "it cannot be stored") or _unencodable(res)
                if problem:
                    res = Skip(f"{res.survey}:{res.object_id!r}:{res.alert_id!r}", problem)
                    new_states.pop((keys[i][0], keys[i][1]), None)
                elif res.status != "duplicate":
                    rows.append((res.key, self.scorer.fingerprint, res.to_json()))
            results[i] = res
        if self.store is not None:
            try:
                self.store.commit(new_states, rows)
            except StateError:  # one state cannot be encoded: keep the others (rare)
                bad = [k for k, st in new_states.items() if not _encodes(st)]
                for k in bad:
                    new_states.pop(k)
                self.store.commit(new_states, rows)
        final: List[Result] = [r if r is not None else Skip(f"item {i}", "not scored")
                               for i, r in enumerate(results)]
        for r in final:
            if isinstance(r, Duplicate):
                self.counts["duplicate_in_input"] += 1
            elif isinstance(r, Skip):
                self.counts["skipped"] += 1
            else:
                self.counts[r.status] += 1
                self.counts["tier:" + r.tier] += 1
            if self.sink is not None and isinstance(r, Annotation):
                self.sink.write(r)
        return final


def _encodes(state) -> bool:
    try:
        state.to_bytes()
    except StateError:
        return False
    return True


def _storable(key) -> bool:
    """Whether the strings of a key can be stored (valid Unicode: no lone surrogates)."""
    try:
        for part in key:
            part.encode("utf-8")
    except (UnicodeEncodeError, AttributeError):
        return False
    return True


def _unencodable(ann: Annotation) -> Optional[str]:
    """Why an annotation cannot be stored, or None."""
    try:
        ann.to_json().encode("utf-8")
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        return f"annotation cannot be stored: {type(exc).__name__}: {exc}"
    return None

