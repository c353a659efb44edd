"""Owner identity for protected-model packages: Ed25519 key pairs (RFC 8032) in PEM files, and pinning.

A package is verified only against an owner public key obtained out of band: a file the user names, or the
entry ``<owner>.pub`` of a local keyring folder (env ``DNNSEC_KEYRING``, default ``~/.config/dnnsec/owners``).
A key carried inside a package is never trusted.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from dnnsec.errors import DnnsecError
from shared.atomic import write_bytes_atomic


class OwnerKeyError(DnnsecError):
    """An owner key file is missing, unreadable, not Ed25519, or its password is wrong."""


def keyring_dir() -> Path:
    """The folder of pinned owner public keys (``<owner>.pub``)."""
    return Path(os.environ.get("DNNSEC_KEYRING", Path.home() / ".config" / "dnnsec" / "owners"))


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """sha256 (hex) of the raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def generate_owner_keys(private_path: str | os.PathLike, public_path: str | os.PathLike,
                        password: str | None = None) -> str:
    """Create an Ed25519 key pair as PEM files (private 0600, optionally password-encrypted); return the fingerprint."""
    private = Ed25519PrivateKey.generate()
    enc = (serialization.BestAvailableEncryption(password.encode()) if password
           else serialization.NoEncryption())
    write_bytes_atomic(private_path, private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc), mode=0o600)
    write_bytes_atomic(public_path, private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return fingerprint(private.public_key())


def load_private_key(path: str | os.PathLike, password: str | None = None) -> Ed25519PrivateKey:
    """Load an Ed25519 private key from a PEM file."""
    path = Path(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password.encode() if password else None)
    except OSError as exc:
        raise OwnerKeyError(f"{path}: cannot read owner private key ({exc.strerror})") from exc
    except (ValueError, TypeError) as exc:
        raise OwnerKeyError(f"{path}: not a readable PEM private key, or wrong/missing password ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise OwnerKeyError(f"{path}: owner private key is not Ed25519")
    return key


def load_public_key(path: str | os.PathLike) -> Ed25519PublicKey:
    """Load a pinned Ed25519 public key from a PEM file."""
    path = Path(path)
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise OwnerKeyError(f"{path}: cannot read owner public key ({exc.strerror})") from exc
    except ValueError as exc:
        raise OwnerKeyError(f"{path}: not a PEM public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise OwnerKeyError(f"{path}: owner public key is not Ed25519")
    return key


def pinned_public_key(owner: str, keyring: Path | None = None) -> Ed25519PublicKey:
    """The public key pinned for ``owner`` in the keyring folder; OwnerKeyError if none is pinned."""
    folder = keyring or keyring_dir()
    if not owner or "/" in owner or "\\" in owner or owner.startswith("."):
        raise OwnerKeyError(f"owner name {owner!r} cannot name a keyring entry")
    path = folder / f"{owner}.pub"
    if not path.is_file():
        raise OwnerKeyError(f"no public key pinned for owner {owner!r}: {path} does not exist "
                            "(pin it there, or pass the owner's public key file)")
    return load_public_key(path)
