"""Labelled VRA data for training and evaluation: feature tables or alerts, joined to eyeball
labels, split by object and balanced as the ATLAS VRA paper does.

Labels (one per object, or per row of a feature table) are the eyeballers' verdicts:

==============  ==============================  =======  ======
label           meaning                         real     gal
==============  ==============================  =======  ======
``good``        extragalactic transient         1        0
``galactic``    real galactic source            1        1
``pm``          proper-motion star (artefact)   0        1
``garbage``     bogus                           0        --
``auto-garbage`` binned by the VRA policies     0        --
``agn``         AGN (kept, not trained on)      --       --
==============  ==============================  =======  ======

(-- = not used by that scorer.) Two stages: **day 1** (one row per object: its first-night
alert) and **day N** (one row per later visit, days 2-15 after phase zero). A row carries the
features of :mod:`vra_filters.features` in their canonical order. numpy only (no pandas).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import features as F
from .registry import sha256_file

STAGES = ("day1", "dayN")
LABELS = ("good", "galactic", "pm", "garbage", "auto-garbage", "agn")
#: The label groups the paper balances (auto-garbage is garbage for this purpose).
BALANCE_GROUPS = {"good": "good", "galactic": "galactic", "pm": "pm", "garbage": "garbage",
                  "auto-garbage": "garbage"}
ALIASES = {"proper-motion": "pm", "autogarbage": "auto-garbage", "bogus": "garbage",
           "auto-garbaged": "auto-garbage"}
ID_COLUMNS = ("object_id", "ATLAS_ID", "objectId", "diaObjectId", "id", "oid")
LABEL_COLUMNS = ("type", "label")
#: The day-N training window (phase, days): visits on days 2-15.
DAYN_PHASES = (1.0, 15.0)

PathLike = Union[str, Path]


def feature_names(stage: str) -> Tuple[str, ...]:
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    return F.DAY1_FEATURES if stage == "day1" else F.DAYN_FEATURES


def normalise_label(text: Any) -> str:
    """A label in the vocabulary above (case, spaces and underscores do not matter)."""
    key = str(text).strip().lower().replace("_", "-").replace(" ", "-")
    key = ALIASES.get(key, key)
    if key not in LABELS:
        raise ValueError(f"unknown label {text!r}; expected one of {', '.join(LABELS)}")
    return key


def targets(labels: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
    """(real, gal) targets of each label: 1.0 / 0.0, NaN where that scorer does not use it."""
    real_of = {"good": 1.0, "galactic": 1.0, "pm": 0.0, "garbage": 0.0, "auto-garbage": 0.0}
    gal_of = {"good": 0.0, "galactic": 1.0, "pm": 1.0}
    real = np.array([real_of.get(x, math.nan) for x in labels])
    gal = np.array([gal_of.get(x, math.nan) for x in labels])
    return real, gal


@dataclass
class LabelledSet:
    """Labelled feature rows of one stage: ``X`` (n, n_features) in :func:`feature_names`
    order, the object ``ids`` and ``labels`` of each row, ``order`` (the visit's day or time,
    to sort an object's rows), and where they came from (``sources``: file -> sha256).
    ``sso`` / ``tns`` mark rows whose alert is a known solar-system object / has a TNS match
    (known only for alerts; the policies' context rules use them)."""

    stage: str
    X: np.ndarray
    ids: np.ndarray
    labels: np.ndarray
    order: np.ndarray
    sources: Dict[str, str] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    sso: Optional[np.ndarray] = None
    tns: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        n = len(self.ids)
        self.sso = np.zeros(n, dtype=bool) if self.sso is None else np.asarray(self.sso, bool)
        self.tns = np.zeros(n, dtype=bool) if self.tns is None else np.asarray(self.tns, bool)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def names(self) -> Tuple[str, ...]:
        return feature_names(self.stage)

    def column(self, name: str) -> np.ndarray:
        return self.X[:, self.names.index(name)]

    def subset(self, rows: np.ndarray) -> LabelledSet:
        return LabelledSet(self.stage, self.X[rows], self.ids[rows], self.labels[rows],
                           self.order[rows], dict(self.sources), list(self.notes),
                           self.sso[rows], self.tns[rows])

    def counts(self) -> Dict[str, int]:
        found, n = np.unique(self.labels, return_counts=True)
        return {str(k): int(v) for k, v in zip(found, n)}


def sha256_of(path: PathLike) -> str:
    return sha256_file(Path(path))


# ------------------------------------------------------------------ feature tables

def parse_cell(text: str, where: str) -> float:
    t = text.strip()
    low = t.lower()
    if low in ("", "nan", "none", "null", "na", "n/a"):
        return math.nan
    if low in ("true", "false"):
        return 1.0 if low == "true" else 0.0
    try:
        return float(t)
    except ValueError:
        raise ValueError(f"{where}: not a number: {text!r}") from None


def read_csv(path: PathLike) -> Tuple[List[str], List[List[str]]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = [r for r in csv.reader(fh) if r]
    if not rows:
        raise ValueError(f"{path}: empty file (a header row is required)")
    header = [h.strip() for h in rows[0]]
    for i, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise ValueError(f"{path}, line {i}: {len(r)} fields, header has {len(header)}")
    return header, rows[1:]


def id_column(header: Sequence[str], path: PathLike, names: Sequence[str] = ()) -> int:
    for name in ID_COLUMNS:
        if name in header:
            return list(header).index(name)
    if header and header[0] not in names:
        return 0
    raise ValueError(f"{path}: no id column (one of {', '.join(ID_COLUMNS)})")


def read_labels(path: PathLike) -> Tuple[List[str], List[str]]:
    """(ids, labels) of a labels CSV: an id column and a ``type`` (or ``label``) column."""
    header, rows = read_csv(path)
    idc = id_column(header, path)
    lab = next((header.index(c) for c in LABEL_COLUMNS if c in header), None)
    if lab is None:
        raise ValueError(f"{path}: no label column ({' or '.join(LABEL_COLUMNS)})")
    ids, labels = [], []
    for line, row in enumerate(rows, start=2):
        try:
            labels.append(normalise_label(row[lab]))
        except ValueError as exc:
            raise ValueError(f"{path}, line {line}: {exc}") from None
        ids.append(row[idc].strip())
    return ids, labels


def read_feature_table(features: PathLike, labels: PathLike, stage: str) -> LabelledSet:
    """A labelled set from a features CSV (an id column and the stage's features, as the
    ATLAS samples) and a labels CSV. Labels join row by row when both files list the same ids
    in the same order (day-N tables: one label per visit), else by id (one label per object).
    """
    names = feature_names(stage)
    header, rows = read_csv(features)
    idc = id_column(header, features, names)
    missing = [n for n in names if n not in header]
    if missing:
        raise ValueError(f"{features}: missing {stage} feature column(s): {', '.join(missing)}")
    cols = [header.index(n) for n in names]
    X = np.array([[parse_cell(r[c], f"{features}, line {i}, column {header[c]!r}") for c in cols]
                  for i, r in enumerate(rows, start=2)], dtype=float).reshape(len(rows),
                                                                              len(names))
    ids = [r[idc].strip() for r in rows]
    lab_ids, labs = read_labels(labels)
    if lab_ids == ids:
        joined = labs
    else:
        by_id: Dict[str, str] = {}
        for i, lab in zip(lab_ids, labs):
            if by_id.get(i, lab) != lab:
                raise ValueError(f"{labels}: object {i} has two labels ({by_id[i]}, {lab}) and "
                                 f"the rows do not line up with {features}")
            by_id[i] = lab
        unlabelled = [i for i in ids if i not in by_id]
        if unlabelled:
            raise ValueError(f"{labels}: no label for {len(unlabelled)} row(s) of {features} "
                             f"(e.g. {unlabelled[0]})")
        joined = [by_id[i] for i in ids]
    order = X[:, names.index("dayN")] if stage == "dayN" else np.zeros(len(ids))
    return LabelledSet(stage, X, np.array(ids, dtype=object), np.array(joined, dtype=object),
                       order, {str(features): sha256_of(features),
                               str(labels): sha256_of(labels)})


# ------------------------------------------------------------------ alerts

def _label_map(path: PathLike) -> Dict[str, str]:
    ids, labels = read_labels(path)
    out: Dict[str, str] = {}
    for i, lab in zip(ids, labels):
        if out.get(i, lab) != lab:
            raise ValueError(f"{path}: object {i} has two labels ({out[i]}, {lab})")
        out[i] = lab
    return out


def from_alerts(sources: Iterable[PathLike], labels: PathLike, fmt: str = "auto",
                ebv: Optional[float] = None, quiet: bool = True) -> Dict[str, LabelledSet]:
    """Day-1 and day-N labelled sets from alerts in any format the readers take, joined to
    the labels by object id. Each object's latest alert is replayed visit by visit (its
    packet history, or the ATLAS nights): the first visit on the first night is its day-1 row,
    every visit on days 2-15 a day-N row. E(B-V) comes from the alert, else ``ebv``, else the
    shipped dust map. Alerts of unlabelled objects are left out (counted in ``notes``)."""
    from .history import visits
    from .lightcurve import LightCurveBatch
    from .options import progress
    from .readers import Skip, iter_read

    sources = [str(s) for s in sources]
    wanted = _label_map(labels)
    latest: Dict[str, Any] = {}
    n_skip = n_unlabelled = 0
    for item in iter_read(sources, fmt):
        if isinstance(item, Skip):
            n_skip += 1
            continue
        if item.object_id not in wanted:
            n_unlabelled += 1
            continue
        best = latest.get(item.object_id)
        if best is None or item.alert_mjd > best.alert_mjd:
            latest[item.object_id] = item
    if not latest:
        raise ValueError(f"no alert of {', '.join(sources)} has a label in {labels} "
                         f"({n_skip} skipped, {n_unlabelled} of unlabelled objects)")
    rows: Dict[str, List[Tuple[str, Any]]] = {"day1": [], "dayN": []}
    for oid, lc in progress(latest.items(), "replaying visits", total=len(latest),
                            quiet=quiet):
        for k, v in enumerate(visits(lc)):
            phase = v.alert_mjd - v.t0
            if k == 0 and phase < 1.0:
                rows["day1"].append((oid, v))
            elif DAYN_PHASES[0] <= phase < DAYN_PHASES[1]:
                rows["dayN"].append((oid, v))
    out: Dict[str, LabelledSet] = {}
    for stage in STAGES:
        pairs = rows[stage]
        lcs = _with_ebv([v for _, v in pairs], ebv)
        feats = F.compute(LightCurveBatch.from_lightcurves(lcs)) if lcs else None
        X = np.zeros((0, len(feature_names(stage))))
        keep = np.zeros(0, dtype=bool)
        if feats is not None:
            X = feats.day1 if stage == "day1" else feats.dayN
            keep = ~feats.dayN_empty if stage == "dayN" else np.ones(len(lcs), dtype=bool)
        ids = np.array([o for o, _ in pairs], dtype=object)
        order = np.array([v.alert_mjd for _, v in pairs], dtype=float)
        labs = np.array([wanted[o] for o in ids], dtype=object)
        sso = np.array([v.context.solar_system for _, v in pairs], dtype=bool)
        tns = np.array([bool(v.context.tns_name) for _, v in pairs], dtype=bool)
        out[stage] = LabelledSet(stage, X[keep], ids[keep] if len(ids) else ids,
                                 labs[keep] if len(labs) else labs,
                                 order[keep] if len(order) else order,
                                 {s: sha256_of(s) for s in sources if Path(s).is_file()},
                                 [f"{len(latest)} labelled objects; {n_skip} alert(s) skipped by "
                                  f"the readers; {n_unlabelled} alert(s) of unlabelled objects "
                                  "left out"], sso[keep] if len(sso) else sso,
                                 tns[keep] if len(tns) else tns)
        out[stage].sources[str(labels)] = sha256_of(labels)
    return out


def _with_ebv(lcs: List[Any], ebv: Optional[float]) -> List[Any]:
    """The light curves with E(B-V) filled in where the alert had none (copies)."""
    from dataclasses import replace

    missing = [i for i, lc in enumerate(lcs) if math.isnan(lc.context.ebv)]
    if not missing:
        return lcs
    if ebv is not None:
        values, source = np.full(len(missing), float(ebv)), "--ebv"
    else:
        from .dust import default_map
        dust = default_map()
        values = dust(np.array([lcs[i].context.ra for i in missing]),
                      np.array([lcs[i].context.dec for i in missing]))
        source = dust.name
    out = list(lcs)
    for i, v in zip(missing, values):
        lc = lcs[i]
        out[i] = replace(lc, context=replace(lc.context, ebv=float(v), ebv_source=source,
                                             extra=dict(lc.context.extra)))
    return out


def concat(sets: Sequence[LabelledSet]) -> LabelledSet:
    """One labelled set of the rows of several of the same stage (sources and notes merged)."""
    sets = [s for s in sets if s is not None]
    if not sets:
        raise ValueError("no labelled rows")
    stages = {s.stage for s in sets}
    if len(stages) != 1:
        raise ValueError(f"cannot merge rows of stages {sorted(stages)}")
    sources: Dict[str, str] = {}
    notes: List[str] = []
    for s in sets:
        sources.update(s.sources)
        notes += [n for n in s.notes if n not in notes]
    return LabelledSet(sets[0].stage, np.concatenate([s.X for s in sets]),
                       np.concatenate([s.ids for s in sets]),
                       np.concatenate([s.labels for s in sets]),
                       np.concatenate([s.order for s in sets]), sources, notes,
                       np.concatenate([s.sso for s in sets]),
                       np.concatenate([s.tns for s in sets]))


# ------------------------------------------------------------------ split and balance

def split_objects(data: LabelledSet, fraction: float, seed: int = 42) -> np.ndarray:
    """Boolean mask of the held-out rows: ``fraction`` of the objects of each label (an
    object's label = its first row's), every row of an object on the same side."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    uniq, first = np.unique(data.ids.astype(str), return_index=True)
    obj_label = data.labels[first]
    held = set()
    for lab in sorted(set(obj_label.tolist())):
        members = uniq[obj_label == lab]
        n = int(round(fraction * len(members)))
        if n:
            held.update(rng.choice(members, size=n, replace=False).tolist())
    return np.array([i in held for i in data.ids.astype(str)], dtype=bool)


def balance(labels: np.ndarray, seed: int = 42) -> np.ndarray:
    """Row indices subsampled so every label group (good, galactic, pm, garbage) has as many
    rows as the smallest one (the paper's balancing); AGN rows are left out."""
    rng = np.random.default_rng(seed)
    groups = np.array([BALANCE_GROUPS.get(x, "") for x in labels], dtype=object)
    present = sorted(set(groups.tolist()) - {""})
    if not present:
        return np.zeros(0, dtype=np.int64)
    n = min(int((groups == g).sum()) for g in present)
    picked = [np.sort(rng.choice(np.flatnonzero(groups == g), size=n, replace=False))
              for g in present]
    return np.sort(np.concatenate(picked))
