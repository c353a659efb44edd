"""Checkpoints: weights in safetensors plus a JSON sidecar; no pickle anywhere.

Layout for ``model.safetensors``:

* ``model.safetensors`` - the model's ``state_dict`` (parameters and buffers); a training checkpoint
  adds optimiser tensors under the prefix ``__optimizer__/``.
* ``model.json`` - ``format``, ``arch`` and ``config`` (to rebuild the model through
  :mod:`shared.architectures`), ``sha256`` of the model tensors (:func:`state_sha256`), ``training_state``
  (step, optimiser/scheduler/convergence state as JSON), ``versions`` and free ``extra`` metadata.

Both files are written atomically. Loading checks every sidecar field it uses (type and bounds), builds the
architecture on the ``meta`` device and compares its tensor names, shapes and dtypes with the weights file's header
before any tensor or weight is allocated, then verifies the hash and refuses a tampered or truncated file.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.torch
import torch

from shared.architectures import ARCH_NAME, build_model, model_shapes
from shared.atomic import atomic_path, write_json_atomic
from shared.errors import CheckpointError, ConfigError
from shared.untrusted import parse_json, read_bounded

FORMAT = "amt-dnnsec-checkpoint/1"
OPTIMIZER_PREFIX = "__optimizer__/"
MAX_SIDECAR_BYTES = 16 * 2**20
MAX_DATASET_CHARS = 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")
_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
           "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
           "BOOL": torch.bool}


def state_sha256(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the raw tensor bytes in sorted name order, with each name, dtype and shape.

    Two state dicts have the same hash exactly when every tensor is bit-identical.
    """
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(json.dumps(list(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def sidecar_path(path: str | Path) -> Path:
    """The JSON sidecar of a ``.safetensors`` checkpoint."""
    return Path(path).with_suffix(".json")


def package_versions() -> dict[str, str]:
    """Versions of the packages a checkpoint depends on."""
    out = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__}
    for dist in ("amt-dnnsec", "safetensors"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "unknown"
    return out


def save_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    *,
    arch: str,
    config: dict[str, Any],
    training_state: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    extra_tensors: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``model`` (all parameters and buffers) and its sidecar atomically.

    Parameters
    ----------
    path
        Target ``.safetensors`` file; the sidecar goes to ``path.with_suffix(".json")``.
    model
        The model; its ``state_dict`` is saved.
    arch, config
        Registered architecture name and builder keywords (JSON-serialisable).
    training_state
        Optional JSON-serialisable training state (step, scheduler, convergence monitor).
    extra
        Optional JSON-serialisable metadata (metrics, data provenance).
    extra_tensors
        Optional tensors saved beside the weights (e.g. optimiser moments); their names must not
        collide with the model's. They are not part of the model hash.

    Returns
    -------
    pathlib.Path
        The ``.safetensors`` path.
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(f"{path}: checkpoint files must end in .safetensors")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors = dict(state)
    for k, v in (extra_tensors or {}).items():
        if k in tensors:
            raise CheckpointError(f"{path}: extra tensor {k!r} collides with a model tensor")
        tensors[k] = v.detach().cpu().contiguous()
    sidecar = {
        "format": FORMAT,
        "arch": arch,
        "config": config,
        "sha256": state_sha256(state),
        "training_state": training_state,
        "versions": package_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "extra": extra or {},
    }
    try:
        json.dumps(sidecar)
    except TypeError as exc:
        raise CheckpointError(f"{path}: config/metadata is not JSON-serialisable: {exc}") from exc
    # safetensors refuses tensors sharing memory; clone those that do.
    seen: set[int] = set()
    for k, v in tensors.items():
        ptr = v.untyped_storage().data_ptr() if v.numel() else -1
        if ptr in seen:
            tensors[k] = v.clone()
        seen.add(ptr)
    with atomic_path(path) as tmp:
        safetensors.torch.save_file(tensors, str(tmp), metadata={"format": FORMAT, "arch": arch})
    write_json_atomic(sidecar_path(path), sidecar)
    return path


def _sidecar_error(side: Path, field: str, problem: str) -> CheckpointError:
    return CheckpointError(f"{side}: sidecar field {field!r} {problem}")


def check_sidecar(meta: Any, side: str | Path) -> dict[str, Any]:
    """Check the type and bounds of every field a loader uses; return ``meta``.

    ``format`` must be :data:`FORMAT`; ``arch`` a plain architecture name (:data:`shared.architectures.ARCH_NAME`);
    ``config`` a JSON object (checked against the builder when the model is built); ``sha256`` 64 lowercase hex
    digits; ``extra`` and ``training_state`` objects or null; ``extra.dataset``, if present, text of at most
    :data:`MAX_DATASET_CHARS` printable characters.
    """
    side = Path(side)
    if not isinstance(meta, dict):
        raise CheckpointError(f"{side}: sidecar is not a JSON object but {type(meta).__name__}")
    if meta.get("format") != FORMAT:
        raise _sidecar_error(side, "format", f"is {meta.get('format')!r:.60}, not {FORMAT!r}")
    for key in ("arch", "config", "sha256"):
        if key not in meta:
            raise CheckpointError(f"{side}: sidecar lacks {key!r}")
    if not isinstance(meta["arch"], str) or not ARCH_NAME.fullmatch(meta["arch"]):
        raise _sidecar_error(side, "arch", f"is not a plain architecture name: {meta['arch']!r:.80}")
    if not isinstance(meta["config"], dict):
        raise _sidecar_error(side, "config", f"must be a JSON object, not {type(meta['config']).__name__} "
                             f"{meta['config']!r:.60}")
    if not isinstance(meta["sha256"], str) or not _SHA256.fullmatch(meta["sha256"]):
        raise _sidecar_error(side, "sha256", f"must be 64 lowercase hex digits, not {meta['sha256']!r:.80}")
    for key in ("extra", "training_state"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            raise _sidecar_error(side, key, f"must be a JSON object, not {type(meta[key]).__name__}")
    dataset = (meta.get("extra") or {}).get("dataset")
    if dataset is not None and (not isinstance(dataset, str) or not 0 < len(dataset) <= MAX_DATASET_CHARS
                                or not dataset.isprintable()):
        raise _sidecar_error(side, "extra.dataset", f"must be a data set name or file of at most "
                             f"{MAX_DATASET_CHARS} printable characters, not {dataset!r:.80}")
    return meta


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """Read and check a checkpoint's JSON sidecar (at most 16 MiB; fields as in :func:`check_sidecar`)."""
    side = sidecar_path(path)
    if not side.is_file():
        raise CheckpointError(f"{path}: sidecar {side.name} is missing; cannot tell the architecture")
    raw = read_bounded(side, MAX_SIDECAR_BYTES, CheckpointError, "checkpoint sidecar")
    return check_sidecar(parse_json(raw, side, CheckpointError, "checkpoint sidecar"), side)


def tensor_shapes(path: str | Path) -> dict[str, tuple[torch.dtype, tuple[int, ...]]]:
    """Dtype and shape of every tensor of a safetensors file, read from its header alone (no tensor is loaded)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with safetensors.safe_open(str(path), "pt") as fh:
            out = {}
            for k in fh.keys():
                piece = fh.get_slice(k)
                out[k] = (_DTYPES.get(piece.get_dtype()), tuple(piece.get_shape()))
            return out
    except (safetensors.SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file (truncated or corrupt): {exc}") from exc


def check_fits(expected: dict[str, tuple[torch.dtype | None, tuple[int, ...]]],
               found: dict[str, tuple[torch.dtype | None, tuple[int, ...]]], source: str, what: str) -> None:
    """Raise CheckpointError unless ``found`` tensors have the names, shapes and dtypes of ``expected``.

    A dtype given as None on both sides is not compared (:func:`load_into` checks names and shapes only).
    """
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    shapes = sorted(k for k in set(expected) & set(found) if expected[k][1] != found[k][1])
    dtypes = sorted(k for k in set(expected) & set(found) if expected[k][0] != found[k][0] and k not in shapes)
    if missing or unexpected or shapes or dtypes:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}")
        if shapes:
            parts.append("shape mismatch " + ", ".join(f"{k}: {found[k][1]} vs model {expected[k][1]}"
                                                       for k in shapes[:5]))
        if dtypes:
            parts.append("dtype mismatch " + ", ".join(f"{k}: {found[k][0]} vs model {expected[k][0]}"
                                                       for k in dtypes[:5]))
        raise CheckpointError(f"{source}: weights do not fit {what}: " + "; ".join(parts))


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Read every tensor of a safetensors file, with a clear error for missing or corrupt files."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        return safetensors.torch.load_file(str(path))
    except (safetensors.SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file (truncated or corrupt): {exc}") from exc


def load_state(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, Any]]:
    """Load model tensors, extra tensors and sidecar; verify the model hash.

    Returns
    -------
    (model_state, extra_tensors, meta)

    Raises
    ------
    CheckpointError
        If a file is missing, corrupt or truncated, or the weights' SHA-256 differs from the sidecar's
        (the weights were changed after saving).
    """
    meta = read_sidecar(path)
    tensors = load_tensors(path)
    extra = {k: v for k, v in tensors.items() if k.startswith(OPTIMIZER_PREFIX)}
    state = {k: v for k, v in tensors.items() if not k.startswith(OPTIMIZER_PREFIX)}
    digest = state_sha256(state)
    if digest != meta["sha256"]:
        raise CheckpointError(
            f"{path}: weights do not match the sidecar's sha256 (file {digest[:12]}..., "
            f"sidecar {meta['sha256'][:12]}...): the checkpoint was tampered with or corrupted"
        )
    return state, extra, meta


def load_checkpoint(path: str | Path, *, expected_arch: str | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild a model from its sidecar and load its verified weights.

    Parameters
    ----------
    path
        The ``.safetensors`` file.
    expected_arch
        If given, refuse a checkpoint of any other architecture.

    Returns
    -------
    (model, meta)
        The model in eval mode and the sidecar dict.
    """
    meta = read_sidecar(path)
    if expected_arch is not None and meta["arch"] != expected_arch:
        raise CheckpointError(f"{path}: checkpoint holds architecture {meta['arch']!r}, expected {expected_arch!r}")
    side = str(sidecar_path(path))
    try:
        shapes = model_shapes(meta["arch"], meta["config"], source=side)
    except ConfigError as exc:
        raise CheckpointError(f"{path}: cannot rebuild the model: {exc}") from exc
    found = {k: v for k, v in tensor_shapes(path).items() if not k.startswith(OPTIMIZER_PREFIX)}
    check_fits(shapes, found, str(path), f"architecture {meta['arch']!r} with the sidecar's config")
    state, _, meta = load_state(path)
    model = build_model(meta["arch"], meta["config"], source=side)
    load_into(model, state, source=str(path))
    model.eval()
    return model, meta


def load_into(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str = "state") -> None:
    """Load ``state`` into ``model`` strictly, naming missing, unexpected or mis-shaped tensors."""
    own = model.state_dict()
    check_fits({k: (None, tuple(v.shape)) for k, v in own.items()},
               {k: (None, tuple(v.shape)) for k, v in state.items()}, source, type(model).__name__)
    model.load_state_dict(state, strict=True)
