"""Load the sferic CNN from a protected package with the user's key: the one place where ``amt`` uses ``dnnsec``.

An owner distributes a sferic model as a signed, AdvParams-encrypted package plus one key file per user
(``field_examples/sferic_owner.py``; Xue et al., "AdvParams: An Active DNN Intellectual Property Protection
Technique via Adversarial Perturbation Based Parameter Encryption", IEEE TETC 2023). :func:`load_detector` verifies
the package against the owner key pinned out of band exactly as ``dnnsec`` does (the file given, else the keyring
entry ``<owner>.pub`` of ``$DNNSEC_KEYRING``, default ``~/.config/dnnsec/owners``;
:func:`dnnsec.package.protected.package_owner_key`), decrypts it in memory with the key file
(:func:`dnnsec.package.protected.load_protected`: the key must be the one the owner signed into the package and the
restored weights must hash to the signed original) and returns a :class:`~amt.sferic.inference.SfericDetector` with
the input convention and thresholds the owner signed in the header. Plain weights are never written anywhere.

Refusals name the files and the problem (:class:`ProtectedModelError`, or ``dnnsec``'s ``PackageError``,
``OwnerKeyError`` for a tampered package or an unpinned owner): a package without a key, a key without a package, a
key issued for another package (another user's copy), an altered key file.
See ``docs/acceptance.md#protected-sferic-distribution``.
"""

from __future__ import annotations

import os
from pathlib import Path

from amt.errors import AmtError
from amt.sferic.inference import SfericDetector
from dnnsec.package.container import MAGIC, MAGIC_V1
from dnnsec.package.protected import load_protected, package_owner_key
from dnnsec.protect.key import KeyFileError

#: Environment variable holding a sealed key file's password (the one ``dnnsec decrypt`` reads).
PASSWORD_ENV = "DNNSEC_KEY_PASSWORD"


class ProtectedModelError(AmtError):
    """A protected sferic model cannot be used: no key, a key for another package, or not a sferic model."""


def is_package(path: str | os.PathLike) -> bool:
    """True if ``path`` is a file that starts like a ``dnnsec`` protected package (any format version)."""
    path = Path(path)
    if not path.is_file():
        return False
    with path.open("rb") as f:
        head = f.read(len(MAGIC))
    return head in (MAGIC, MAGIC_V1)


def load_detector(
    model: str | os.PathLike | None = None,
    key: str | os.PathLike | None = None,
    *,
    owner_key: str | os.PathLike | None = None,
    password: str | None = None,
) -> SfericDetector:
    """The sferic detector of a plain checkpoint, of a protected package opened with ``key``, or the shipped one.

    Parameters
    ----------
    model
        A checkpoint (``.safetensors`` with its ``.json``), a protected package, or None for the shipped weights.
    key
        The user's key file; required for a package, refused for anything else.
    owner_key
        The owner's public key file (PEM); default: the keyring entry of the owner the package names.
    password
        Password of a sealed key file (default: ``$DNNSEC_KEY_PASSWORD``).

    Raises
    ------
    ProtectedModelError
        A package without a key, a key without a package, a key that does not open this package, or a package
        holding another architecture.
    dnnsec.package.PackageError, dnnsec.package.OwnerKeyError
        A tampered or truncated package, one signed by someone other than the pinned owner, no pinned owner key.
    """
    if key is None:
        if model is not None and is_package(model):
            raise ProtectedModelError(
                f"{model}: is a protected (encrypted) sferic model; give the key file issued to you with --key"
            )
        return SfericDetector.from_checkpoint(model)
    if model is None:
        raise ProtectedModelError(f"--key {key} given without --model: name the protected package the key opens")
    if not is_package(model):
        raise ProtectedModelError(f"{model}: not a protected model package (a plain checkpoint needs no --key)")
    pinned = package_owner_key(model, owner_key)
    try:
        net, header = load_protected(
            model,
            key_path=key,
            owner_key=pinned,
            password=password if password is not None else os.environ.get(PASSWORD_ENV),
        )
    except KeyFileError as exc:
        raise ProtectedModelError(
            f"{model}: the key file {key} does not open this package (a key issued for "
            f"another copy, or an altered key file): {exc}"
        ) from None
    if header["arch"] != "sferic_unet":
        raise ProtectedModelError(f"{model}: holds a {header['arch']!r} model, not the sferic CNN (sferic_unet)")
    return SfericDetector.from_model(net, header["meta"].get("source_extra") or {})
