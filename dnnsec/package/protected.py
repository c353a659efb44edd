"""Encrypt a shared-core checkpoint into a signed package plus a key file, and decrypt it back exactly.

The model is encrypted by AdvParams (Xue et al., "AdvParams: An Active DNN Intellectual Property Protection
Technique via Adversarial Perturbation Based Parameter Encryption", IEEE TETC 2023; see
:mod:`dnnsec.protect.advparams`). The protection is empirical, not cryptographic: without the key the model's
accuracy is near chance, but nothing but measurement says an attacker cannot repair it (see the attack benchmark).
"""

from __future__ import annotations

import os
import platform
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import cryptography
import safetensors
import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from dnnsec.errors import ModelError
from dnnsec.package.container import Package, PackageError, package_bytes, read_package
from dnnsec.protect.advparams import Decisions, classifier_decisions, search_perturbations
from dnnsec.protect.key import KeyEntry, ProtectionKey, float_bits, key_to_bytes, read_key, restore_state
from shared.architectures import build_model
from shared.atomic import write_bytes_atomic
from shared.checkpoint import load_checkpoint, save_checkpoint, state_sha256

PAPER = ("Xue et al., AdvParams: An Active DNN Intellectual Property Protection Technique via Adversarial "
         "Perturbation Based Parameter Encryption, IEEE TETC")


@dataclass(frozen=True)
class EncryptReport:
    """What :func:`encrypt_checkpoint` did; accuracies are fractions on the search batch."""

    package: Path
    key: Path
    package_id: str
    n_encrypted: int
    n_parameters: int
    accuracy_before: float
    accuracy_after: float
    seconds: float

    @property
    def fraction_encrypted(self) -> float:
        """Encrypted positions over all parameter values (dimensionless)."""
        return self.n_encrypted / self.n_parameters


def _versions() -> dict[str, str]:
    return {"torch": torch.__version__, "safetensors": safetensors.__version__,
            "cryptography": cryptography.__version__, "python": platform.python_version()}


def encrypt_model(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, n_params: int = 50,
                  candidates: int = 8, progress: bool = True, decisions: Decisions = classifier_decisions
                  ) -> tuple[dict[str, torch.Tensor], list[KeyEntry], str, object]:
    """Encrypt ``model`` in place; return (encrypted state, key entries, protected hash, search result).

    ``decisions`` maps the model's output and ``y`` to per-decision logits and targets (see
    :func:`dnnsec.protect.advparams.search_perturbations`).
    """
    protected_sha256 = state_sha256(model.state_dict())
    result = search_perturbations(model, x, y, n_params=n_params, candidates=candidates, progress=progress,
                                  decisions=decisions)
    entries = [KeyEntry(p.name, p.index, float_bits(torch.tensor(p.original, dtype=torch.float32)))
               for p in result.perturbations]
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return state, entries, protected_sha256, result


def encrypt_checkpoint(checkpoint: str | os.PathLike, *, package_out: str | os.PathLike,
                       key_out: str | os.PathLike, signer: Ed25519PrivateKey, owner: str,
                       x: torch.Tensor, y: torch.Tensor, n_params: int = 50, candidates: int = 8,
                       password: str | None = None, progress: bool = True,
                       decisions: Decisions = classifier_decisions) -> EncryptReport:
    """Encrypt a checkpoint into a signed package and a key file (both written atomically).

    Parameters
    ----------
    checkpoint : path
        A shared-core checkpoint (``shared.checkpoint.save_checkpoint``).
    package_out, key_out : path
        Where to write the package and the key file.
    signer : Ed25519PrivateKey
        The owner's signing key.
    owner : str
        Owner name recorded in the package metadata (and used to find the pinned key in a keyring).
    x, y : torch.Tensor
        Search batch (training samples and labels) that guides the perturbation.
    n_params : int
        Largest number of encrypted positions.
    password : str, optional
        Seal the key file with scrypt + AES-GCM.
    decisions : callable
        Maps the model's output and ``y`` to per-decision logits (M, classes) and targets (M,):
        :func:`~dnnsec.protect.advparams.classifier_decisions` (default) or
        :func:`~dnnsec.protect.advparams.binary_segmenter_decisions` for a per-sample binary segmenter (such as
        the 1-D sferic CNN); the report's accuracies are then per-sample accuracies.
    """
    model, meta = load_checkpoint(checkpoint)
    state, entries, protected_sha256, result = encrypt_model(model, x, y, n_params=n_params,
                                                             candidates=candidates, progress=progress,
                                                             decisions=decisions)
    if not entries:
        raise ModelError(f"{checkpoint}: no parameter perturbation lowered the model's accuracy on the search batch")
    package_id = uuid.uuid4().hex
    header = {
        "package_id": package_id, "arch": meta["arch"], "config": meta.get("config", {}),
        "meta": {"owner": owner, "created": datetime.now(UTC).isoformat(timespec="seconds"),
                 "method": {"name": "advparams", "paper": PAPER, "n_encrypted": len(entries),
                            "bounds_percentile": [1.0, 99.0]},
                 "versions": _versions(), "source_checkpoint": Path(checkpoint).name,
                 "dataset": (meta.get("extra") or {}).get("dataset")},
    }
    blob = package_bytes(header, state, signer)
    key = ProtectionKey(package_id, state_sha256(state), protected_sha256, tuple(entries))
    restore_state(state, key)  # self-check: the key must reproduce the protected hash
    key_blob = key_to_bytes(key, password)
    package_path = write_bytes_atomic(package_out, blob)
    try:
        key_path = write_bytes_atomic(key_out, key_blob, mode=0o600)
    except BaseException:
        package_path.unlink(missing_ok=True)
        raise
    return EncryptReport(package_path, key_path, package_id, len(entries),
                         sum(p.numel() for p in model.parameters()), result.accuracy[0], result.accuracy[-1],
                         result.seconds)


def open_package(package: Package, key: ProtectionKey, source: str = "key") -> torch.nn.Module:
    """Build the decrypted model from a verified package and its key (hash-checked)."""
    key.check_opens(package.package_id, package.encrypted_sha256, source)
    restored = restore_state(package.state, key, source)
    model = build_model(package.header["arch"], package.header["config"])
    model.load_state_dict(restored, strict=True)
    return model


def decrypt_package(package_path: str | os.PathLike, *, key_path: str | os.PathLike, out: str | os.PathLike,
                    owner_key: Ed25519PublicKey, password: str | None = None) -> Path:
    """Verify a package against the pinned owner key, decrypt it with its key file, write a checkpoint.

    Raises PackageError or KeyFileError, naming the file and problem, before anything is written.
    """
    package = read_package(package_path, owner_key)
    key = read_key(key_path, password)
    model = open_package(package, key, str(key_path))
    return save_checkpoint(Path(out), model, arch=package.header["arch"], config=package.header["config"],
                           extra={"decrypted_from": package.package_id})


def describe(package: Package) -> dict:
    """A JSON-able summary of a verified package."""
    n_values = sum(t.numel() for t in package.state.values())
    return {**package.header, "tensors": len(package.state), "tensor_values": n_values}


__all__ = ["EncryptReport", "PackageError", "decrypt_package", "describe", "encrypt_checkpoint",
           "encrypt_model", "open_package"]
