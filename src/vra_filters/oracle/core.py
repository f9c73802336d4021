"""The public ORACLE entry point: :class:`Oracle` (load once, classify or update many).

Runtimes ("variants") all expose the same two operations -- continue GRU sequences from given
states, and apply the head -- so the full and the incremental paths, and every variant, share the
preprocessing, the taxonomy post-processing and the result format:

========================  ============================================================  ========
variant                   what runs                                                     needs
========================  ============================================================  ========
``numpy-float32``         numpy GRU + head over the float32 ``.npz`` weights            numpy
``numpy-int8``            same code over int8 weights (per-column scales), dequantized  numpy
``float32``               LiteRT, float32 ``.tflite`` (one-step GRU + head signatures)  LiteRT
``dynamic-int8``          LiteRT, dynamic-range int8 ``.tflite`` (int8 weights)         LiteRT
``int8``                  LiteRT, full-integer int8 ``.tflite`` (int8 activations too)  LiteRT
========================  ============================================================  ========

Results are plain dicts of JSON-able Python values; :func:`annotation_fields` turns one into the
``oracle`` block of a VRA annotation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..history import object_rounds
from . import inputs as inp
from . import taxonomy as tx
from .batched import host_missing_many, rows_many
from .incremental import OracleState, plan_many
from .weights import MODELS, OracleWeights

#: Carried in every annotation: the outputs derive from the ORACLE-1 weights and their licence.
LICENCE_SHORT = ("ORACLE-1 weights (c) 2025 Ved Shah, Modified MIT License with Non-Military Use "
                 "Restriction; see models/oracle/*/LICENSE-ORACLE")

#: The runtimes. The Keras model (parity checks, benchmarks) is maintainer code:
#: ``vra_dev.oracle.load_oracle(model, "keras")``.
VARIANTS = ("numpy-float32", "numpy-int8", "float32", "dynamic-int8", "int8")
#: The variant deployed by default (see models/oracle/README.md for the measurements behind it):
#: int8 weights on LiteRT -- 11x Keras float per alert on the incremental path, 0.32x the float
#: bytes, same top class as float for 100 % / 100 % / 99.2 % (level 1 / 2 / leaf) of our curves.
DEFAULT_VARIANT = "dynamic-int8"
#: Used when LiteRT is not installed: the very same int8 weights, evaluated by numpy.
FALLBACK_VARIANT = "numpy-int8"
DEFAULT_THRESHOLD = 0.5


def default_variant() -> str:
    """DEFAULT_VARIANT if the LiteRT runtime is importable, else FALLBACK_VARIANT."""
    import importlib.util

    try:
        have = importlib.util.find_spec("ai_edge_litert") is not None
    except (ImportError, ValueError):
        have = False
    return DEFAULT_VARIANT if have else FALLBACK_VARIANT


def load_backend(model: str, variant: str, checkpoint: str = "f1", threads: int = 1,
                 check: bool = True):
    """The runtime object for a variant (imports TensorFlow/LiteRT only when asked for)."""
    if variant in ("numpy-float32", "numpy-int8"):
        from .numpy_runtime import NumpyOracle

        prec = "float32" if variant == "numpy-float32" else "int8"
        return NumpyOracle(OracleWeights.load(model, checkpoint, prec, check=check))
    if variant in ("float32", "dynamic-int8", "int8"):
        from .tflite import LiteRTOracle

        return LiteRTOracle.load(model, variant, checkpoint, threads=threads, check=check)
    raise ValueError(f"unknown ORACLE variant {variant!r}; choose one of {VARIANTS}")


class Oracle:
    """ORACLE-1 classifier for one model/checkpoint/variant/convention, loaded once.

    ``classify`` recomputes from the whole light curve; ``update``/``update_many`` continue a
    per-object :class:`OracleState` with only the new rows (equal to ``classify`` to ~1e-6).
    """

    def __init__(self, backend, model: str, checkpoint: str, variant: str, convention: str,
                 threshold: float = DEFAULT_THRESHOLD, batch_size: int = 256) -> None:
        self.backend = backend
        self.model = model
        self.checkpoint = checkpoint
        self.variant = variant
        self.convention = convention
        self.threshold = float(threshold)
        self.batch_size = int(batch_size)
        self.taxonomy = tx.for_model(model)
        self.sha256 = backend.sha256
        self.static_size = backend.static_size

    @classmethod
    def load(cls, model: str = "elasticc", variant: str | None = None,
             convention: str | None = None, checkpoint: str = "f1", threads: int = 1,
             threshold: float = DEFAULT_THRESHOLD, batch_size: int = 256,
             check: bool = True) -> Oracle:
        """Load once per process. ``variant`` None = :func:`default_variant` (LiteRT int8, or the
        same int8 weights in numpy without LiteRT); ``convention`` None =
        :data:`~vra_filters.oracle.inputs.DEFAULT_CONVENTION` (names: ``inputs.CONVENTIONS``;
        ``"upstream"`` reproduces upstream's output for the same packet); ``threads`` is the
        LiteRT thread count (numpy variants use whatever BLAS is configured for); ``check``
        verifies the file's sha256 against the manifest."""
        variant = variant or default_variant()
        if model not in MODELS:
            raise ValueError(f"unknown ORACLE model {model!r}; choose one of {MODELS}")
        convention = inp.convention(convention).name
        backend = load_backend(model, variant, checkpoint, threads=threads, check=check)
        return cls(backend, model, checkpoint, variant, convention, threshold, batch_size)

    # -- metadata ------------------------------------------------------------------------------
    def info(self) -> dict:
        return {"model": self.model, "checkpoint": self.checkpoint, "variant": self.variant,
                "convention": self.convention, "sha256": self.sha256}

    def host_missing(self, lightcurves) -> np.ndarray:
        """(N,) bool, vectorised: whether each light curve's packet lacks the host-galaxy
        description this model was trained with (host magnitudes or shape; E(B-V), a host
        redshift or a separation alone do not count) -- every Rubin/Fink LSST packet and
        Lasair's (E(B-V), sometimes Sherlock's redshift and separation), on which the ELAsTiCC
        model does far worse than ``elasticc-lite`` (models/oracle/README.md, "Routing"). An
        ELAsTiCC hostless object, whose packet gives sentinels, is not missing its host
        values: the model was trained on such packets. Always False for the other models
        (no host input) and for light curves the model cannot read; no rows are built."""
        return host_missing_many(list(lightcurves), self.model, self.convention)

    # -- low level -----------------------------------------------------------------------------
    def logits_from_inputs(self, ts_list: Sequence[np.ndarray],
                           static: np.ndarray | None = None) -> np.ndarray:
        """Logits (N, n_nodes) for prepared network inputs (SPEC §6/§7 arrays)."""
        n = len(ts_list)
        out = np.zeros((n, len(self.taxonomy)), dtype=np.float32)
        for lo in range(0, n, self.batch_size):
            hi = min(n, lo + self.batch_size)
            _, h2 = self.backend.run(list(ts_list[lo:hi]))
            st = None if static is None else np.asarray(static, np.float32)[lo:hi]
            out[lo:hi] = self.backend.head(h2, st)
        return out

    def _result(self, object_id: str, status: str, reason: str = "", logits=None,
                n_rows: int = 0, t0: float = math.nan, extra: dict | None = None,
                domain: dict | None = None, summary: dict | None = None) -> dict:
        """One result dict; ``domain`` (:func:`~vra_filters.oracle.inputs.domain`) gives the
        ``n_detections`` and ``warnings`` (None / [] when the light curve was not read).
        ``summary``: :func:`~vra_filters.oracle.taxonomy.summarize` of ``logits`` when the
        caller computed it for a whole batch (``logits`` is then already a list)."""
        res = dict(self.info(), object_id=object_id, status=status, reason=reason,
                   n_rows=int(n_rows), t0=None if math.isnan(t0) else float(t0),
                   threshold=self.threshold,
                   n_detections=None if domain is None else int(domain["n_detections"]),
                   warnings=[] if domain is None else list(domain["warnings"]))
        if logits is not None and summary is None:
            _, marg = self.taxonomy.probabilities(logits)
            summary = tx.summarize(self.taxonomy, marg, self.threshold)
            logits = np.asarray(logits, np.float64).tolist()
        if summary is not None:
            res.update(summary)
            res["logits"] = logits
        else:
            res.update(probabilities=None, top=None, most_specific=None)
        if extra:
            res.update(extra)
        return res

    # -- full recomputation --------------------------------------------------------------------
    def build_inputs(self, lightcurves) -> list:
        return [inp.build_input(lc, self.model, self.convention) for lc in lightcurves]

    def classify_inputs(self, inputs: Sequence[inp.OracleInput]) -> list:
        ok = [i for i, x in enumerate(inputs) if x.status == "ok"]
        results: list = [None] * len(inputs)
        if ok:
            static = (np.stack([inputs[i].static for i in ok]) if self.static_size
                      else None)
            logits = self.logits_from_inputs([inputs[i].ts for i in ok], static)
            for j, i in enumerate(ok):
                x = inputs[i]
                results[i] = self._result(x.object_id, "ok", logits=logits[j],
                                          n_rows=len(x.ts), t0=x.t0, domain=x.domain)
        for i, x in enumerate(inputs):
            if results[i] is None:
                results[i] = self._result(x.object_id, x.status, x.reason, n_rows=0, t0=x.t0,
                                          domain=x.domain)
        return results

    def classify(self, lightcurves) -> list:
        """One result dict per light curve, from the whole light curve (no state)."""
        return self.classify_inputs(self.build_inputs(lightcurves))

    # -- incremental ---------------------------------------------------------------------------
    def new_state(self) -> OracleState:
        return OracleState(self.model, self.checkpoint, self.convention, self.sha256)

    def update(self, state: OracleState | None, lightcurve) -> tuple:
        """``(result, new_state)`` for one alert; ``state`` None starts a new object."""
        results, states = self.update_many([state], [lightcurve])
        return results[0], states[0]

    def update_many(self, states: Sequence[OracleState | None], lightcurves) -> tuple:
        """Incremental update of many objects at once (their new rows share GRU batches).

        Returns ``(results, new_states)``. An object whose light curve the model cannot read
        (wrong survey) keeps its old state and gets status ``unsupported``.
        """
        lightcurves = list(lightcurves)
        results: list = [None] * len(lightcurves)
        new_states: list = list(states)
        rows_of, domains = rows_many(lightcurves, self.model, self.convention)
        readable = []
        for i, rows in enumerate(rows_of):
            if isinstance(rows, str):  # the model cannot read this light curve
                oid = str(getattr(lightcurves[i], "object_id", ""))
                results[i] = self._result(oid, "unsupported", rows)
            else:
                readable.append(i)
        fresh = self.new_state()  # the planner copies it, never changes it
        plans = dict(zip(readable, plan_many([states[i] for i in readable],
                                             [rows_of[i] for i in readable], fresh)))
        # similar lengths share a GRU batch (less padding); each object's rows are its own
        run = sorted((i for i in plans if plans[i].ready), key=lambda i: len(plans[i].ts))
        for lo in range(0, len(run), self.batch_size):
            chunk = run[lo:lo + self.batch_size]
            h1 = _stack([plans[i].state.h1 for i in chunk])
            h2 = _stack([plans[i].state.h2 for i in chunk])
            h1, h2 = self.backend.run([plans[i].ts for i in chunk], h1, h2)
            static = (_stack([rows_of[i].static for i in chunk]) if self.static_size
                      else None)
            logits = self.backend.head(h2, static)
            _, marg = self.taxonomy.probabilities(logits)
            summaries = tx.summarize_many(self.taxonomy, marg, self.threshold)
            logit_lists = np.asarray(logits, np.float64).tolist()
            for j, i in enumerate(chunk):
                st = plans[i].state
                st.h1, st.h2 = h1[j].copy(), h2[j].copy()
                results[i] = self._result(rows_of[i].object_id, "ok", logits=logit_lists[j],
                                          n_rows=st.n_rows, t0=st.t0,
                                          extra={"new_rows": int(len(plans[i].ts)),
                                                 "rebuilt": plans[i].rebuilt},
                                          domain=domains[i], summary=summaries[j])
        for i, plan in plans.items():
            new_states[i] = plan.state
            if results[i] is None:
                status = "no_detection" if len(rows_of[i]) else "no_rows"
                results[i] = self._result(rows_of[i].object_id, status,
                                          "no detection yet" if len(rows_of[i]) else
                                          "no usable rows",
                                          extra={"new_rows": 0, "rebuilt": plan.rebuilt},
                                          domain=domains[i])
        return results, new_states


    # -- pipeline glue ------------------------------------------------------------------------
    @property
    def state_name(self) -> str:
        """Name of this classifier's per-object state in :attr:`ObjectState.oracle`."""
        return f"oracle:{self.model}:{self.checkpoint}:{self.variant}:{self.convention}"

    def annotate(self, lightcurves, states=None) -> tuple:
        """``(blocks, new_states)``: the ``oracle`` annotation block of each light curve, and
        each object's state after them. Pure: nothing is read or written elsewhere.

        ``states`` maps ``(survey, object_id)`` to the object's :class:`OracleState` (missing
        or None: a new object, or stateless use -- the result then equals :meth:`classify`).
        Several alerts of one object are applied in order, each continuing the state the
        previous one left. Re-delivering an alert adds no rows, so nothing changes.
        """
        lcs = list(lightcurves)
        keys = [(str(lc.survey), str(lc.object_id)) for lc in lcs]
        current = dict(states or {})
        blocks: list = [None] * len(lcs)
        new_states: dict = {}
        for idx in object_rounds(keys):  # the r-th alert of every object in round r
            res, new = self.update_many([current.get(keys[i]) for i in idx],
                                        [lcs[i] for i in idx])
            for i, r, st in zip(idx, res, new):
                blocks[i] = annotation_fields(r)
                if st is not None:
                    current[keys[i]] = st
                    new_states[keys[i]] = st
        return blocks, new_states


def _stack(arrays: list) -> np.ndarray:
    """np.stack, without its overhead for the common single-object update."""
    return arrays[0][None] if len(arrays) == 1 else np.stack(arrays)


def warnings_text(block) -> str:
    """An ``oracle`` block's ``warnings`` as one comma-separated string ("" when there are
    none, or no block): how the broker outputs carry the caveats in a flat field."""
    return ",".join(str(w) for w in (block or {}).get("warnings") or [])


def annotation_fields(result: dict) -> dict:
    """The ``oracle`` block of an annotation (JSON-able): model identity and convention, the
    domain flags (``n_detections``; ``warnings``: caveats such as ``too_few_points`` or
    ``missing_metadata``, see :data:`~vra_filters.oracle.inputs.WARNINGS`) and, when the object
    could be classified, marginal probabilities by node, top class per level and the most
    specific class over the threshold; otherwise ``status``/``reason`` say why not. The
    Scorer adds ``routed`` (e.g. ``"no host galaxy magnitudes: elasticc-lite"``) to the
    blocks of alerts it sent to a survey's fallback model
    (``Scorer.load(oracle_without_metadata=...)``)."""
    keys = ("model", "checkpoint", "variant", "convention", "sha256", "status", "reason",
            "n_rows", "n_detections", "warnings", "probabilities", "top", "most_specific",
            "threshold")
    block = {k: result.get(k) for k in keys}
    block["licence"] = LICENCE_SHORT
    return block
