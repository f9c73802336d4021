"""Portable, pickle-free ORACLE-1 weights: one ``.npz`` of plain arrays plus a JSON sidecar.

Why a format of our own: the upstream weights are PyTorch state dicts (zip + pickle), which a
broker host without torch cannot read and should not unpickle. The converter
(``tools/oracle_convert.py``, a maintainer step that needs torch once) writes every tensor under a
*role* name in a framework-neutral layout; the numpy, Keras and TFLite code all read this.

Layout (all float32 unless stated; ``x @ kernel`` convention, i.e. kernels are (in, out)):

* ``gru1.wx`` (5, 300), ``gru1.wh`` (100, 300), ``gru1.bx`` (300,), ``gru1.bh`` (300,): the
  first GRU layer; the 300 columns are three blocks of 100 in gate order **r, z, n** (reset,
  update, candidate) -- the order of the equations in SPEC §2.1, not Keras' z, r, h order.
* ``gru2.*``: the second layer, ``gru2.wx`` is (100, 300).
* ``<dense>.kernel`` (in, out) and ``<dense>.bias`` (out,) for each head layer; the sidecar's
  ``head`` entry lists which layers form the GRU branch, the static branch and the trunk, with
  their activations, so one interpreter serves ELAsTiCC, ELAsTiCC-lite and BTS.

The int8 files hold, for every 2-D kernel with at least :data:`QUANT_MIN_ELEMENTS` elements,
``<key>.q`` (int8, same shape) and ``<key>.scale`` (float32, one per output column) with
``w ~= q * scale`` (symmetric, zero point 0, round to nearest: the scheme TFLite uses for
per-channel weights); smaller tensors, all biases and :data:`KEEP_FLOAT` stay float32.

Files are found through the model registry (:mod:`vra_filters.registry`): the artifact
``oracle/<model>/<checkpoint>/<variant>`` (e.g. ``oracle/elasticc/f1/numpy-int8``) lists its files
with their sha256 in ``registry.json``; loading checks them, so an annotation's ``sha256`` names
the bytes used.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from .. import registry
from ..registry import sha256_file

FORMAT_VERSION = 1

#: Model keys accepted by the public API -> folder name under models/oracle.
MODELS = ("elasticc", "elasticc-lite", "bts")
#: Checkpoint keys: "f1" = upstream ``best_model_f1.pth`` (upstream's inference default),
#: "best" = ``best_model.pth`` (lowest validation loss).
CHECKPOINTS = ("f1", "best")

#: Kernels smaller than this stay float32 in int8 files (TFLite's dynamic-range default too:
#: tiny tensors save nothing and lose accuracy).
QUANT_MIN_ELEMENTS = 1024

#: Kept float32 in int8 files: the first GRU layer's input kernel multiplies the raw, unscaled
#: inputs (FLUXCAL up to ~1e5, days up to ~1e3), so its rounding error is amplified into every
#: gate; quantizing it flips the level-2 top class of 2/44 reference curves and the leaf of 7/44,
#: keeping it float (6 KB) flips none.
KEEP_FLOAT = ("gru1.wx",)

HIDDEN = 100
GATES = ("r", "z", "n")

LICENCE_NOTICE = (
    "ORACLE-1 weights (c) 2025 Ved Shah, from https://github.com/dev-ved30/Oracle, released under "
    "the Modified MIT License (with Non-Military Use Restriction). This software may not be used "
    "by any person or organization for any military purposes, including but not limited to the "
    "development, production, maintenance, or use of weapons, military systems, or activities "
    "supporting combat operations. See LICENSE-ORACLE next to this file for the full text."
)


class ModelFileError(RuntimeError):
    """A model file is missing, altered (sha256 mismatch) or of an unknown format."""


def artifact(model: str, checkpoint: str, variant: str) -> registry.Artifact:
    """The registry entry of one ORACLE file set, e.g. ``("elasticc", "f1", "numpy-int8")``."""
    if model not in MODELS:
        raise ValueError(f"unknown ORACLE model {model!r}; choose one of {MODELS}")
    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"unknown checkpoint {checkpoint!r}; choose one of {CHECKPOINTS}")
    name = f"oracle/{model}/{checkpoint}/{variant}"
    try:
        return registry.get(name)
    except KeyError:
        have = sorted(a.meta.get("variant", "") for a in registry.artifacts()
                      if a.meta.get("model") == model and a.meta.get("checkpoint") == checkpoint)
        raise ModelFileError(f"no ORACLE artifact {name} in the registry (checkpoint "
                             f"{checkpoint} of {model} ships: {', '.join(have) or 'nothing'})"
                             ) from None


def model_dir(model: str) -> Path:
    """The folder holding an ORACLE model's files (and its card and licence)."""
    return artifact(model, "f1", "numpy-float32").path


def verified_path(model: str, filename: str, check: bool = True) -> tuple[Path, str]:
    """Path of a model file and its sha256, checked against the registry (raises if altered)."""
    if model not in MODELS:
        raise ValueError(f"unknown ORACLE model {model!r}; choose one of {MODELS}")
    for art in registry.artifacts():
        if art.meta.get("model") == model and filename in art.files:
            try:
                return art.file(filename, check=check), art.files[filename]
            except FileNotFoundError as exc:
                raise ModelFileError(f"ORACLE model file not found: {exc}") from None
    raise ModelFileError(f"{filename} is not a registered file of ORACLE model {model} "
                         f"({registry.models_dir() / registry.MANIFEST})")


def weights_filename(checkpoint: str, precision: str) -> str:
    """``weights_f1.float32.npz`` etc.; precision is ``float32`` or ``int8``."""
    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"unknown checkpoint {checkpoint!r}; choose one of {CHECKPOINTS}")
    if precision not in ("float32", "int8"):
        raise ValueError(f"unknown weight precision {precision!r}")
    return f"weights_{checkpoint}.{precision}.npz"


class OracleWeights:
    """Float32 arrays by role name plus the sidecar metadata (taxonomy, head layout, provenance).

    For int8 files the arrays are dequantized once at load (``q * scale`` in float32), so the
    arithmetic is float32 over int8-representable weights: the on-disk size shrinks ~4x while the
    runtime code stays the one float path.
    """

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict, sha256: str = "",
                 path: Path | None = None) -> None:
        self.arrays = arrays
        self.meta = meta
        self.sha256 = sha256
        self.path = path

    # -- convenience views -------------------------------------------------------------------
    @property
    def node_names(self) -> list[str]:
        return list(self.meta["taxonomy"]["names"])

    @property
    def static_size(self) -> int:
        return int(self.meta.get("static_size", 0))

    @property
    def head(self) -> dict:
        return self.meta["head"]

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]

    # -- io --------------------------------------------------------------------------------
    @classmethod
    def load(cls, model: str, checkpoint: str = "f1", precision: str = "float32",
             check: bool = True) -> OracleWeights:
        name = weights_filename(checkpoint, precision)
        path, sha = verified_path(model, name, check=check)
        verified_path(model, path.with_suffix(".json").name, check=check)
        return cls.from_files(path, sha256=sha)

    @classmethod
    def from_files(cls, npz_path: Path, sha256: str = "") -> OracleWeights:
        npz_path = Path(npz_path)
        meta_path = npz_path.with_suffix(".json")
        with open(meta_path, encoding="utf-8") as fh:
            meta = json.load(fh)
        if meta.get("format_version") != FORMAT_VERSION:
            raise ModelFileError(f"{meta_path}: format_version {meta.get('format_version')} "
                                 f"is not {FORMAT_VERSION}")
        with np.load(npz_path, allow_pickle=False) as data:
            raw = {k: data[k] for k in data.files}
        return cls(dequantize(raw), meta, sha256=sha256 or sha256_file(npz_path), path=npz_path)

    def save(self, npz_path: Path, arrays: dict[str, np.ndarray] | None = None) -> str:
        """Write ``arrays`` (default: ``self.arrays``) + sidecar JSON; returns the npz sha256.

        ``np.savez`` stamps each zip entry with the current time, so the bytes (and the sha256
        in the manifest) would change on every run; :func:`write_npz_deterministic` does not.
        """
        npz_path = Path(npz_path)
        write_npz_deterministic(npz_path, self.arrays if arrays is None else arrays)
        with open(npz_path.with_suffix(".json"), "w", encoding="utf-8") as fh:
            json.dump(self.meta, fh, indent=1, sort_keys=True)
            fh.write("\n")
        return sha256_file(npz_path)


def write_npz_deterministic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An ``.npz`` (zip of ``.npy``) whose bytes depend only on the arrays (fixed zip dates)."""
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def quantize_per_column(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per output column: ``scale = max|w| / 127``, ``q = round(w / scale)``."""
    w = np.asarray(w, dtype=np.float32)
    amax = np.max(np.abs(w), axis=0)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return q, scale


def quantize_arrays(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The int8 file content for a float32 role dict (see module docstring)."""
    out: dict[str, np.ndarray] = {}
    for key, w in arrays.items():
        if w.ndim == 2 and w.size >= QUANT_MIN_ELEMENTS and key not in KEEP_FLOAT:
            q, scale = quantize_per_column(w)
            out[key + ".q"] = q
            out[key + ".scale"] = scale
        else:
            out[key] = np.asarray(w, dtype=np.float32)
    return out


def dequantize(raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Inverse of :func:`quantize_arrays` (identity for float files)."""
    out: dict[str, np.ndarray] = {}
    for key, arr in raw.items():
        if key.endswith(".scale"):
            continue
        if key.endswith(".q"):
            base = key[:-2]
            out[base] = (raw[key].astype(np.float32) * raw[base + ".scale"]).astype(np.float32)
        else:
            out[key] = np.asarray(arr, dtype=np.float32)
    return out
