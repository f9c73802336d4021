"""Per-object ORACLE state for incremental (one-GRU-step-per-new-point) classification.

The GRU is causal and the head reads only the top-layer state (plus static values), so keeping
``(h1, h2)`` per object and feeding only the rows an alert adds gives the same logits as running
the whole light curve again (SPEC §9), at the cost of one step per new row instead of T steps.

Bookkeeping the state carries, and why:

* ``t0``: the time origin (MJD). On the inference convention it is the first detection, unknown
  until one arrives; rows before it are kept in a small **buffer** (their times are undefined until
  then) and fed in order once the first detection arrives.
* ``last_mjd`` / ``n_seen``: the newest model row consumed and how many rows were consumed (run or
  buffered). Rows of a later alert with ``mjd > last_mjd`` are new. If an alert carries *more* rows
  at or before ``last_mjd`` than were seen, an older point arrived late: the state is rebuilt from
  the whole light curve (the only exact answer). Fewer (a packet whose history window no longer
  reaches back to the start) is fine: the state already holds those rows.
* ``weights_sha256`` / ``convention``: a state is only continued by the same weights and
  convention; otherwise it is rebuilt.

Serialisation (:meth:`OracleState.to_bytes`) is a small fixed binary layout, no pickle: magic
``b"VRAORC1\\0"``, a little-endian uint32 header length, a UTF-8 JSON header, then ``h1`` and ``h2``
(100 float32 each, little endian) and the buffer (``n_buffer`` float64 MJDs, then ``n_buffer`` x 4
float32 features). About 1 KB per object.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field

import numpy as np

from .inputs import convention
from .weights import HIDDEN

MAGIC = b"VRAORC1\x00"


@dataclass
class OracleState:
    """What one object needs for its next incremental update (see module docstring)."""

    model: str
    checkpoint: str
    convention: str
    weights_sha256: str
    h1: np.ndarray = field(default_factory=lambda: np.zeros(HIDDEN, np.float32))
    h2: np.ndarray = field(default_factory=lambda: np.zeros(HIDDEN, np.float32))
    t0: float = math.nan
    last_mjd: float = math.nan
    n_rows: int = 0
    n_seen: int = 0
    buffer_mjd: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    buffer_feats: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))

    @property
    def started(self) -> bool:
        """True once the time origin is known and rows have gone through the GRU."""
        return not math.isnan(self.t0)

    def to_bytes(self) -> bytes:
        hb = json.dumps(_header(self), sort_keys=True).encode("utf-8")
        parts = [MAGIC, struct.pack("<I", len(hb)), hb,
                 np.asarray(self.h1, "<f4").tobytes(), np.asarray(self.h2, "<f4").tobytes(),
                 np.asarray(self.buffer_mjd, "<f8").tobytes(),
                 np.asarray(self.buffer_feats, "<f4").reshape(-1, 4).tobytes()]
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, blob: bytes) -> OracleState:
        blob = bytes(blob)
        if blob[:8] != MAGIC:
            raise ValueError("not an ORACLE state blob (bad magic)")
        (n,) = struct.unpack("<I", blob[8:12])
        header = json.loads(blob[12:12 + n].decode("utf-8"))
        pos = 12 + n
        h1 = np.frombuffer(blob, "<f4", HIDDEN, pos).astype(np.float32)
        pos += 4 * HIDDEN
        h2 = np.frombuffer(blob, "<f4", HIDDEN, pos).astype(np.float32)
        pos += 4 * HIDDEN
        nb = int(header["n_buffer"])
        bm = np.frombuffer(blob, "<f8", nb, pos).astype(np.float64)
        pos += 8 * nb
        bf = np.frombuffer(blob, "<f4", 4 * nb, pos).astype(np.float32).reshape(nb, 4)
        pos += 16 * nb
        if pos != len(blob):
            raise ValueError(f"ORACLE state blob has {len(blob) - pos} trailing bytes")
        t0 = header["t0"]
        last = header["last_mjd"]
        return cls(header["model"], header["checkpoint"], header["convention"],
                   header["weights_sha256"], h1, h2,
                   math.nan if t0 is None else float(t0),
                   math.nan if last is None else float(last),
                   int(header["n_rows"]), int(header["n_seen"]), bm, bf)


def _header(state: OracleState) -> dict:
    """The JSON header of a state blob, as a dict (what :meth:`OracleState.from_bytes` reads)."""
    return {
        "model": state.model, "checkpoint": state.checkpoint, "convention": state.convention,
        "weights_sha256": state.weights_sha256,
        "t0": None if math.isnan(state.t0) else state.t0,
        "last_mjd": None if math.isnan(state.last_mjd) else state.last_mjd,
        "n_rows": int(state.n_rows), "n_seen": int(state.n_seen),
        "n_buffer": int(len(state.buffer_mjd)),
    }


def state_to_bytes(state: OracleState) -> bytes:
    return state.to_bytes()


def state_from_bytes(blob: bytes) -> OracleState:
    return OracleState.from_bytes(blob)


@dataclass
class StepPlan:
    """What :func:`plan_update` decided for one object: rows to feed, and the state to feed them
    into (already updated apart from ``h1``/``h2``, which the caller fills after the GRU run)."""

    state: OracleState
    ts: np.ndarray
    rebuilt: bool
    ready: bool


def plan_update(state: OracleState | None, rows, fresh: OracleState) -> StepPlan:
    """Decide which rows of ``rows`` (:class:`~vra_filters.oracle.inputs.ModelRows`, the whole
    current light curve) are new for ``state`` and build their network input.

    ``fresh`` is an empty state with the right model/checkpoint/convention/weights; it replaces
    ``state`` when that is absent, belongs to other weights or a late point forces a rebuild.
    """
    rebuilt = False
    st = state
    if (st is None or st.weights_sha256 != fresh.weights_sha256
            or st.convention != fresh.convention or st.model != fresh.model):
        rebuilt = st is not None
        st = fresh
    elif st.n_seen and int(np.count_nonzero(rows.mjd <= st.last_mjd)) > st.n_seen:
        st, rebuilt = fresh, True
    if st.n_seen:
        new = rows.mjd > st.last_mjd
        new_mjd, new_feats = rows.mjd[new], rows.feats[new]
    else:  # everything is new (read only below: the state never holds these arrays)
        new_mjd, new_feats = rows.mjd, rows.feats
    # a new state object: the caller's stays valid if the update is abandoned
    st = OracleState(st.model, st.checkpoint, st.convention, st.weights_sha256,
                     st.h1.copy(), st.h2.copy(), st.t0, st.last_mjd, st.n_rows, st.n_seen,
                     st.buffer_mjd, st.buffer_feats)
    if len(new_mjd):
        st.last_mjd = float(new_mjd[-1])
        st.n_seen += len(new_mjd)
    if st.started:
        ts = _timeseries(new_mjd, new_feats, st.t0)
        st.n_rows += len(ts)
        return StepPlan(st, ts, rebuilt, True)
    if len(st.buffer_mjd):
        cand_mjd = np.concatenate([st.buffer_mjd, new_mjd])
        cand_feats = np.concatenate([st.buffer_feats, new_feats])
    else:
        cand_mjd, cand_feats = new_mjd, new_feats
    det = cand_feats[:, 3] > 0  # no output before a detection, any convention
    if not det.any():
        # copies: the buffer outlives the caller's rows
        st.buffer_mjd = np.array(cand_mjd, np.float64)
        st.buffer_feats = np.array(cand_feats, np.float32)
        return StepPlan(st, np.zeros((0, 5), np.float32), rebuilt, False)
    first = 0 if _from_first_observation(st.convention) else int(np.argmax(det))
    st.t0 = t0 = float(cand_mjd[first])
    st.buffer_mjd = np.zeros(0, np.float64)
    st.buffer_feats = np.zeros((0, 4), np.float32)
    ts = _timeseries(cand_mjd, cand_feats, t0)
    st.n_rows += len(ts)
    return StepPlan(st, ts, rebuilt, True)


def plan_many(states, rows, fresh: OracleState) -> list:
    """:func:`plan_update` of each ``(states[i], rows[i])``, the same plans; the objects that
    start afresh (no state, or one of other weights / convention) are planned together:
    their time origins and network inputs are a few numpy calls for the whole batch."""
    plans: list = [None] * len(rows)
    starting = []
    for i, (st, r) in enumerate(zip(states, rows)):
        if (st is None or st.weights_sha256 != fresh.weights_sha256
                or st.convention != fresh.convention or st.model != fresh.model):
            starting.append(i)
        else:
            plans[i] = plan_update(st, r, fresh)
    if starting:
        new = _plan_starts([rows[i] for i in starting], fresh,
                           [states[i] is not None for i in starting])
        for i, plan in zip(starting, new):
            plans[i] = plan
    return plans


def _plan_starts(rows: list, fresh: OracleState, rebuilt: list) -> list:
    """Plans of objects without a usable state: every row is new (SPEC §9 from scratch)."""
    n = len(rows)
    lens = np.fromiter((len(r.mjd) for r in rows), np.int64, n)
    at = np.zeros(n + 1, np.int64)
    np.cumsum(lens, out=at[1:])
    mjd = np.concatenate([r.mjd for r in rows]).astype(np.float64, copy=False)
    feats = (np.concatenate([r.feats for r in rows]).astype(np.float32, copy=False) if at[-1]
             else np.zeros((0, 4), np.float32))
    det = feats[:, 3] > 0  # no output before a detection, any convention
    det_at = np.zeros(len(det) + 1, np.int64)
    np.cumsum(det, out=det_at[1:])
    started = np.diff(det_at[at]) > 0
    origin = at[:-1].copy()  # first row ...
    if not _from_first_observation(fresh.convention) and det.any():
        idx = np.flatnonzero(det)  # ... or first detection
        seg = np.repeat(np.arange(n), lens)[idx]
        first = np.r_[True, seg[1:] != seg[:-1]]
        origin[seg[first]] = idx[first]
    t0 = np.full(n, np.nan)
    t0[started] = mjd[origin[started]]
    ts = np.empty((len(mjd), 5), dtype=np.float32)
    with np.errstate(invalid="ignore"):
        ts[:, 0] = (mjd - np.repeat(t0, lens)).astype(np.float32)
    ts[:, 1:] = feats
    last = np.full(n, np.nan)
    last[lens > 0] = mjd[at[1:][lens > 0] - 1]
    plans = []
    for j, (a, b, go, t, m) in enumerate(zip(at[:-1].tolist(), at[1:].tolist(), started.tolist(),
                                             t0.tolist(), last.tolist())):
        h1, h2 = fresh.h1.copy(), fresh.h2.copy()
        if go:
            st = OracleState(fresh.model, fresh.checkpoint, fresh.convention,
                             fresh.weights_sha256, h1, h2, t, m, b - a, b - a)
            plans.append(StepPlan(st, ts[a:b], rebuilt[j], True))
        else:  # buffered until a detection arrives (copies: the buffer outlives the batch)
            st = OracleState(fresh.model, fresh.checkpoint, fresh.convention,
                             fresh.weights_sha256, h1, h2, math.nan, m, 0, b - a,
                             mjd[a:b].copy(), feats[a:b].copy())
            plans.append(StepPlan(st, np.zeros((0, 5), np.float32), rebuilt[j], False))
    return plans


_FIRST_OBS: dict = {}


def _from_first_observation(name: str) -> bool:
    if name not in _FIRST_OBS:
        _FIRST_OBS[name] = convention(name).from_first_observation
    return _FIRST_OBS[name]


def _timeseries(mjd: np.ndarray, feats: np.ndarray, t0: float) -> np.ndarray:
    out = np.empty((len(mjd), 5), dtype=np.float32)
    out[:, 0] = (mjd - t0).astype(np.float32)
    out[:, 1:] = feats
    return out
