"""Owner identity for protected-model packages: Ed25519 key pairs (RFC 8032), their files, and pinning.

A package is verified only against an owner public key obtained out of band: a file the user names, or the
entry ``<owner>.pub`` of a local keyring folder (env ``DNNSEC_KEYRING``, default ``~/.config/dnnsec/owners``).
A key carried inside a package is never trusted.

The public key is a PEM SubjectPublicKeyInfo file. The private key is a PKCS#8 PEM file when it has no password;
with a password it is a small JSON file (``format: dnnsec-owner-key``) holding the raw 32-byte Ed25519 private key
sealed by :mod:`dnnsec.protect.sealing` (scrypt n = 2**17, r = 8, p = 1, about 0.5 s and 128 MiB; AES-256-GCM
with the public key as associated data), instead of PKCS#8's PBKDF2 at 2,048 iterations. Password-encrypted PKCS#8
files written by earlier versions still load.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from dnnsec.errors import DnnsecError
from dnnsec.package.outputs import OutputError, check_outputs, check_plain_name
from dnnsec.protect import sealing
from shared.atomic import atomic_path
from shared.untrusted import parse_json, read_bounded

OWNER_KEY_FORMAT = "dnnsec-owner-key"
OWNER_KEY_VERSION = 1
#: Largest owner key file read, bytes.
MAX_KEY_FILE_BYTES = 64 * 1024
_SEALED_FIELDS = {"format", "version", "algorithm", "public_key", "kdf", "cipher", "nonce", "ciphertext"}


class OwnerKeyError(DnnsecError):
    """An owner key file is missing, unreadable, not Ed25519, or its password is wrong."""


def keyring_dir() -> Path:
    """The folder of pinned owner public keys (``<owner>.pub``)."""
    return Path(os.environ.get("DNNSEC_KEYRING", Path.home() / ".config" / "dnnsec" / "owners"))


def keyring_entry(owner: str, keyring: Path | None = None) -> Path:
    """The keyring file of ``owner``; OwnerKeyError unless ``owner`` is a plain name (no path parts)."""
    try:
        check_plain_name(owner, "owner name")
    except OutputError as exc:
        raise OwnerKeyError(f"{exc}; it cannot name a keyring entry") from None
    return (keyring or keyring_dir()) / f"{owner}.pub"


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """sha256 (hex) of the raw 32-byte public key."""
    return hashlib.sha256(_raw_public(public_key)).hexdigest()


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _associated_data(public_raw: bytes) -> bytes:
    return f"{OWNER_KEY_FORMAT}/{OWNER_KEY_VERSION}\0".encode() + public_raw


def private_key_bytes(private: Ed25519PrivateKey, password: str | None = None, *,
                      scrypt_n: int = sealing.SCRYPT_N) -> bytes:
    """The private key file's bytes: PKCS#8 PEM without a password, else the scrypt-sealed JSON container."""
    if not password:
        return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    public_raw = _raw_public(private.public_key())
    raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    doc = {"format": OWNER_KEY_FORMAT, "version": OWNER_KEY_VERSION, "algorithm": "Ed25519",
           "public_key": base64.b64encode(public_raw).decode(),
           **sealing.seal(raw, password, _associated_data(public_raw), n=scrypt_n)}
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


def generate_owner_keys(private_path: str | os.PathLike, public_path: str | os.PathLike,
                        password: str | None = None, *, force: bool = False) -> str:
    """Create an Ed25519 key pair (private 0600, sealed when ``password`` is given); return the fingerprint.

    Raises
    ------
    OutputError
        If either file exists and ``force`` is false, or both paths are the same file.
    """
    check_outputs([private_path, public_path], force=force)
    private = Ed25519PrivateKey.generate()
    blob = private_key_bytes(private, password)
    public = private.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    with atomic_path(public_path) as pub_tmp, atomic_path(private_path, mode=0o600) as priv_tmp:
        priv_tmp.write_bytes(blob)
        pub_tmp.write_bytes(public)
    return fingerprint(private.public_key())


def _read(path: Path, what: str) -> bytes:
    return read_bounded(path, MAX_KEY_FILE_BYTES, OwnerKeyError, f"owner {what} key")


def _public_field(value: object) -> bytes | None:
    """The raw 32-byte public key of a base64 field (44 characters), or None."""
    if not isinstance(value, str) or len(value) != 44:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        return None
    return raw if len(raw) == 32 else None


def _open_sealed(raw: bytes, password: str | None, path: Path) -> Ed25519PrivateKey:
    doc = parse_json(raw, path, OwnerKeyError, "owner private key")
    if not isinstance(doc, dict) or doc.get("format") != OWNER_KEY_FORMAT:
        raise OwnerKeyError(f"{path}: not an owner private key (format is not {OWNER_KEY_FORMAT!r})")
    if doc.get("version") != OWNER_KEY_VERSION or doc.get("algorithm") != "Ed25519":
        raise OwnerKeyError(f"{path}: owner key version {doc.get('version')!r:.20} / algorithm "
                            f"{doc.get('algorithm')!r:.20} is not supported")
    unknown = sorted(set(doc) - _SEALED_FIELDS)
    if unknown:
        raise OwnerKeyError(f"{path}: unknown field(s) {unknown!r:.120} in the owner private key")
    if not password:
        raise OwnerKeyError(f"{path}: owner private key is password-protected; set DNNSEC_SIGN_KEY_PASSWORD")
    public_raw = _public_field(doc.get("public_key"))
    if public_raw is None:
        raise OwnerKeyError(f"{path}: field 'public_key' is not a base64 32-byte Ed25519 public key")
    try:
        raw_private = sealing.open_seal(doc, password, _associated_data(public_raw), str(path))
    except sealing.SealError as exc:
        raise OwnerKeyError(str(exc)) from None
    if len(raw_private) != 32:
        raise OwnerKeyError(f"{path}: sealed private key is {len(raw_private)} bytes, not 32")
    key = Ed25519PrivateKey.from_private_bytes(raw_private)
    if _raw_public(key.public_key()) != public_raw:
        raise OwnerKeyError(f"{path}: sealed private key does not match its public key")
    return key


def load_private_key(path: str | os.PathLike, password: str | None = None) -> Ed25519PrivateKey:
    """Load an Ed25519 private key: the sealed JSON container, or a PKCS#8 PEM file (old encrypted ones too)."""
    path = Path(path)
    raw = _read(path, "private")
    if raw.lstrip().startswith(b"{"):
        return _open_sealed(raw, password, path)
    try:
        key = serialization.load_pem_private_key(raw, password.encode() if password else None)
    except (ValueError, TypeError) as exc:
        raise OwnerKeyError(f"{path}: not a readable PEM private key, or wrong/missing password ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise OwnerKeyError(f"{path}: owner private key is not Ed25519")
    return key


def load_public_key(path: str | os.PathLike) -> Ed25519PublicKey:
    """Load a pinned Ed25519 public key from a PEM file."""
    path = Path(path)
    raw = _read(path, "public")
    try:
        key = serialization.load_pem_public_key(raw)
    except (ValueError, TypeError) as exc:
        raise OwnerKeyError(f"{path}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise OwnerKeyError(f"{path}: owner public key is not Ed25519")
    return key


def pinned_public_key(owner: str, keyring: Path | None = None) -> Ed25519PublicKey:
    """The public key pinned for ``owner`` in the keyring folder; OwnerKeyError if none is pinned."""
    path = keyring_entry(owner, keyring)
    if not path.is_file():
        raise OwnerKeyError(f"no public key pinned for owner {owner!r}: {path} does not exist "
                            "(pin it there, or pass the owner's public key file)")
    return load_public_key(path)
