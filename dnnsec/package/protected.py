"""Encrypt a shared-core checkpoint into a signed package plus a key file, and decrypt it back exactly.

The model is encrypted by AdvParams (Xue et al., "AdvParams: An Active DNN Intellectual Property Protection
Technique via Adversarial Perturbation Based Parameter Encryption", IEEE TETC 2023; see
:mod:`dnnsec.protect.advparams`). The protection is empirical, not cryptographic: without the key the model's
accuracy is near chance, but nothing but measurement says an attacker cannot repair it (see the attack benchmark).

Restoring is authenticated by the owner: the package's signed header holds the original model's hash and the key
file's identity, so :func:`load_protected` (the in-memory loader) and :func:`decrypt_package` refuse a key file
that was altered or belongs elsewhere, and a restored model whose hash differs from the signed one. Outputs never
silently replace existing files (``force``), nor ever an input (:mod:`dnnsec.package.outputs`).
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
from dnnsec.package.container import Package, PackageError, package_bytes, read_header_unverified, read_package
from dnnsec.package.outputs import OutputError, check_outputs, check_plain_name
from dnnsec.package.signing import OwnerKeyError, load_public_key, pinned_public_key
from dnnsec.protect.advparams import Decisions, classifier_decisions, search_perturbations
from dnnsec.protect.key import KeyEntry, ProtectionKey, float_bits, key_to_bytes, read_key, restore_state
from shared.architectures import build_model, model_shapes
from shared.atomic import atomic_path
from shared.checkpoint import check_fits, load_checkpoint, load_into, save_checkpoint, sidecar_path, state_sha256

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
                       decisions: Decisions = classifier_decisions, force: bool = False) -> EncryptReport:
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
    force : bool
        Replace an existing package or key file (an output that is the checkpoint or its sidecar is refused even
        then).
    """
    check_plain_name(owner, "owner name")
    check_outputs([package_out, key_out], [checkpoint, sidecar_path(checkpoint)], force=force)
    model, meta = load_checkpoint(checkpoint)
    state, entries, protected_sha256, result = encrypt_model(model, x, y, n_params=n_params,
                                                             candidates=candidates, progress=progress,
                                                             decisions=decisions)
    if not entries:
        raise ModelError(f"{checkpoint}: no parameter perturbation lowered the model's accuracy on the search batch")
    package_id = uuid.uuid4().hex
    key = ProtectionKey(package_id, state_sha256(state), protected_sha256, tuple(entries))
    restore_state(state, key, protected_sha256)  # self-check: the key must reproduce the protected hash
    extra = meta.get("extra") or {}
    header = {
        "package_id": package_id, "arch": meta["arch"], "config": meta.get("config", {}),
        "plain_sha256": protected_sha256, "key_id": key.key_id,
        "meta": {"owner": owner, "created": datetime.now(UTC).isoformat(timespec="seconds"),
                 "method": {"name": "advparams", "paper": PAPER, "n_encrypted": len(entries),
                            "bounds_percentile": [1.0, 99.0]},
                 "versions": _versions(), "source_checkpoint": Path(checkpoint).name,
                 "dataset": extra.get("dataset"), "source_extra": extra},
    }
    blob = package_bytes(header, state, signer)
    key_blob = key_to_bytes(key, password)
    with atomic_path(package_out) as package_tmp, atomic_path(key_out, mode=0o600) as key_tmp:
        package_tmp.write_bytes(blob)
        key_tmp.write_bytes(key_blob)
    package_path, key_path = Path(package_out), Path(key_out)
    return EncryptReport(package_path, key_path, package_id, len(entries),
                         sum(p.numel() for p in model.parameters()), result.accuracy[0], result.accuracy[-1],
                         result.seconds)


def open_package(package: Package, key: ProtectionKey, *, key_source: str = "key",
                 package_source: str = "package") -> torch.nn.Module:
    """Build the decrypted model from a verified package and its key, authenticated by the owner's signature.

    The key must name the package and its encrypted tensors and have the identity the owner signed
    (``key_id``); the architecture is checked against the package's tensors before any model is built; the
    restored tensors must hash to the signed ``plain_sha256``. Returns the model in eval mode.

    Raises
    ------
    KeyFileError
        The key belongs to another package, was altered, or does not restore the signed model.
    shared.errors.DomainError
        The signed architecture and config do not fit the package's tensors (names ``package_source``).
    """
    key.check_opens(package.package_id, package.encrypted_sha256, package.key_id, f"{key_source}")
    shapes = model_shapes(package.header["arch"], package.header["config"], source=package_source)
    check_fits(shapes, {k: (v.dtype, tuple(v.shape)) for k, v in package.state.items()}, package_source,
               f"architecture {package.header['arch']!r} with the header's config")
    restored = restore_state(package.state, key, package.plain_sha256,
                             f"{key_source} (with package {package_source})")
    model = build_model(package.header["arch"], package.header["config"], source=package_source)
    load_into(model, restored, source=package_source)
    return model.eval()


def package_owner_key(package_path: str | os.PathLike, owner_key_path: str | os.PathLike | None = None
                      ) -> Ed25519PublicKey:
    """The owner public key to verify a package with: the file given, else the keyring entry of the owner the
    package's header names (read unverified only to find the entry; the signature is checked against the key).

    Raises
    ------
    PackageError, OwnerKeyError
        The header names no owner, or no key is pinned for it (naming the package and the keyring file).
    """
    if owner_key_path is not None:
        return load_public_key(owner_key_path)
    owner = read_header_unverified(package_path)["meta"].get("owner")
    if not isinstance(owner, str) or not owner:
        raise PackageError(f"{package_path}: header names no owner; pass the owner's public key")
    try:
        return pinned_public_key(owner)
    except OwnerKeyError as exc:
        raise OwnerKeyError(f"{package_path}: {exc}") from None


def load_protected(package_path: str | os.PathLike, *, key_path: str | os.PathLike, owner_key: Ed25519PublicKey,
                   password: str | None = None) -> tuple[torch.nn.Module, dict]:
    """Verify a package against the pinned owner key and decrypt it in memory with its key file.

    This is the loader for programs that use a protected model without writing it to disk.

    Returns
    -------
    (model, header)
        The restored model in eval mode (its tensors hash to the signed ``plain_sha256``) and the verified header.

    Raises
    ------
    PackageError, KeyFileError, OwnerKeyError
        Naming the file and the problem.
    """
    package = read_package(package_path, owner_key)
    key = read_key(key_path, password)
    return open_package(package, key, key_source=str(key_path), package_source=str(package_path)), package.header


def decrypt_package(package_path: str | os.PathLike, *, key_path: str | os.PathLike, out: str | os.PathLike,
                    owner_key: Ed25519PublicKey, password: str | None = None, force: bool = False,
                    inputs: tuple[str | os.PathLike | None, ...] = ()) -> Path:
    """Verify a package against the pinned owner key, decrypt it with its key file, write a checkpoint.

    The checkpoint's sidecar keeps the source checkpoint's metadata (``extra``: data set, ...) and adds
    ``decrypted_from`` (the package id) and ``owner``. An existing ``out`` (or its sidecar) is replaced only with
    ``force``; ``out`` or its sidecar being the package, the key file or one of ``inputs`` is always refused.
    Raises PackageError, KeyFileError or OutputError, naming the file and problem, before anything is written.
    """
    out = Path(out)
    if out.suffix != ".safetensors":
        raise OutputError(f"{out}: the restored checkpoint's name must end in .safetensors")
    check_outputs([out, sidecar_path(out)], [package_path, key_path, *inputs], force=force)
    model, header = load_protected(package_path, key_path=key_path, owner_key=owner_key, password=password)
    meta = header["meta"]
    extra = {**(meta.get("source_extra") or {}), "decrypted_from": header["package_id"], "owner": meta["owner"]}
    if meta.get("dataset") is not None:
        extra["dataset"] = meta["dataset"]
    return save_checkpoint(out, model, arch=header["arch"], config=header["config"], extra=extra)


def describe(package: Package) -> dict:
    """A JSON-able summary of a verified package."""
    n_values = sum(t.numel() for t in package.state.values())
    return {**package.header, "tensors": len(package.state), "tensor_values": n_values}


__all__ = ["EncryptReport", "PackageError", "decrypt_package", "describe", "encrypt_checkpoint",
           "encrypt_model", "load_protected", "open_package", "package_owner_key"]
