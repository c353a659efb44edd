"""Checkpoints: weights in safetensors plus a JSON sidecar; no pickle anywhere.

Layout for ``model.safetensors``:

* ``model.safetensors`` - the model's ``state_dict`` (parameters and buffers); a training checkpoint
  adds optimiser tensors under the prefix ``__optimizer__/``.
* ``model.json`` - ``format``, ``arch`` and ``config`` (to rebuild the model through
  :mod:`shared.architectures`), ``sha256`` of the model tensors (:func:`state_sha256`), ``training_state``
  (step, optimiser/scheduler/convergence state as JSON), ``versions`` and free ``extra`` metadata.

Both files are written atomically; loading verifies the hash and refuses a tampered or truncated file.
"""

from __future__ import annotations

import hashlib
import json
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.torch
import torch

from shared.architectures import build_model
from shared.atomic import atomic_path, write_json_atomic
from shared.errors import CheckpointError, ConfigError

FORMAT = "amt-dnnsec-checkpoint/1"
OPTIMIZER_PREFIX = "__optimizer__/"


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


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """Read and check a checkpoint's JSON sidecar."""
    side = sidecar_path(path)
    if not side.is_file():
        raise CheckpointError(f"{path}: sidecar {side.name} is missing; cannot tell the architecture")
    try:
        meta = json.loads(side.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{side}: sidecar is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{side}: not a {FORMAT} sidecar (format={meta.get('format')!r})")
    for key in ("arch", "config", "sha256"):
        if key not in meta:
            raise CheckpointError(f"{side}: sidecar lacks {key!r}")
    return meta


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
    state, _, meta = load_state(path)
    try:
        model = build_model(meta["arch"], meta["config"])
    except ConfigError as exc:
        raise CheckpointError(f"{path}: cannot rebuild the model: {exc}") from exc
    load_into(model, state, source=str(path))
    model.eval()
    return model, meta


def load_into(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str = "state") -> None:
    """Load ``state`` into ``model`` strictly, naming missing, unexpected or mis-shaped tensors."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}")
        if shapes:
            parts.append(
                "shape mismatch "
                + ", ".join(f"{k}: {tuple(state[k].shape)} vs model {tuple(own[k].shape)}" for k in shapes[:5])
            )
        raise CheckpointError(f"{source}: weights do not fit {type(model).__name__}: " + "; ".join(parts))
    model.load_state_dict(state, strict=True)
