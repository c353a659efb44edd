"""The AdvParams key: encrypted positions and their original float32 bit patterns, and its key file.

Decryption overwrites each encrypted position with its original IEEE-754 bit pattern instead of subtracting the
perturbation, because ``(w + d) - d`` need not equal ``w`` in floating point; the restored model is then checked
against the protected model's hash (``shared.checkpoint.state_sha256``: sha256 over raw tensor bytes in sorted
name order with dtype and shape, buffers included).

A key file is JSON. It may be password-protected: the secret part (positions, bit patterns, protected hash) is then
sealed with AES-256-GCM under a key derived by scrypt (n = 2**15, r = 8, p = 1; Percival 2009, RFC 7914), and the
associated data is the package id and the hash of the encrypted tensors, so the key opens only its own package.
Method: Xue et al., "AdvParams: An Active DNN Intellectual Property Protection Technique via Adversarial
Perturbation Based Parameter Encryption", IEEE TETC (2023).
"""

from __future__ import annotations

import base64
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import torch
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from dnnsec.errors import DnnsecError
from shared.atomic import write_bytes_atomic
from shared.checkpoint import state_sha256

KEY_FORMAT = "dnnsec-advparams-key"
KEY_VERSION = 1
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
MIN_SCRYPT_N = 2**15


class KeyFileError(DnnsecError):
    """A key file is unreadable, wrong for its package, or does not restore the protected model."""


@dataclass(frozen=True)
class KeyEntry:
    """One encrypted position: parameter ``name``, flat ``index`` and the original float32 ``bits`` (uint32)."""

    name: str
    index: int
    bits: int


@dataclass(frozen=True)
class ProtectionKey:
    """Everything needed to turn an encrypted model back into the protected one.

    Attributes
    ----------
    package_id : str
        Id of the package this key opens.
    encrypted_sha256 : str
        ``state_sha256`` of the encrypted state dict (what the package holds).
    protected_sha256 : str
        ``state_sha256`` of the original, protected state dict (what decryption must reproduce).
    entries : tuple of KeyEntry
        The encrypted positions.
    """

    package_id: str
    encrypted_sha256: str
    protected_sha256: str
    entries: tuple[KeyEntry, ...]

    def check_opens(self, package_id: str, encrypted_sha256: str, source: str = "key") -> None:
        """Raise KeyFileError unless this key belongs to the package with these id and tensor hash."""
        if self.package_id != package_id:
            raise KeyFileError(f"{source}: key is for package {self.package_id}, not package {package_id}")
        if self.encrypted_sha256 != encrypted_sha256:
            raise KeyFileError(f"{source}: key expects encrypted tensors with sha256 {self.encrypted_sha256[:16]}..., "
                               f"the package holds {encrypted_sha256[:16]}...")


def float_bits(value: torch.Tensor) -> int:
    """IEEE-754 bit pattern of a float32 scalar tensor as an unsigned 32-bit integer."""
    return struct.unpack("<I", struct.pack("<f", float(value)))[0]


def restore_state(state: dict[str, torch.Tensor], key: ProtectionKey, source: str = "key"
                  ) -> dict[str, torch.Tensor]:
    """Return a copy of ``state`` with every key position overwritten by its original bits, hash-checked.

    Raises
    ------
    KeyFileError
        If a position does not exist in ``state`` or the result's hash is not ``key.protected_sha256``.
    """
    restored = {k: v.detach().clone() for k, v in state.items()}
    for e in key.entries:
        t = restored.get(e.name)
        if t is None or t.dtype != torch.float32:
            raise KeyFileError(f"{source}: position {e.name}[{e.index}] names no float32 tensor of the model")
        if not 0 <= e.index < t.numel():
            raise KeyFileError(f"{source}: position {e.name}[{e.index}] is outside the tensor's {t.numel()} values")
        signed = e.bits - (1 << 32) if e.bits >= 1 << 31 else e.bits
        t.view(-1).view(torch.int32)[e.index] = signed
    digest = state_sha256(restored)
    if digest != key.protected_sha256:
        raise KeyFileError(f"{source}: restored model hash {digest[:16]}... differs from the protected model's "
                           f"{key.protected_sha256[:16]}...: wrong key for these weights")
    return restored


def _secret_json(key: ProtectionKey) -> dict:
    return {"protected_sha256": key.protected_sha256,
            "positions": [[e.name, e.index, f"{e.bits:08x}"] for e in key.entries]}


def _associated_data(package_id: str, encrypted_sha256: str) -> bytes:
    return f"{KEY_FORMAT}/{KEY_VERSION}\0{package_id}\0{encrypted_sha256}".encode()


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(password.encode("utf-8"))


def key_to_bytes(key: ProtectionKey, password: str | None = None) -> bytes:
    """Serialise a key to JSON bytes, sealing the secret part with scrypt + AES-GCM when a password is given."""
    doc: dict = {"format": KEY_FORMAT, "version": KEY_VERSION, "package_id": key.package_id,
                 "encrypted_sha256": key.encrypted_sha256}
    if password is None:
        doc.update(sealed=False, secret=_secret_json(key))
    else:
        if not password:
            raise KeyFileError("an empty password protects nothing; omit it or give a real one")
        salt, nonce = os.urandom(16), os.urandom(12)
        aead = AESGCM(_derive(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P))
        plaintext = json.dumps(_secret_json(key), sort_keys=True).encode()
        sealed = aead.encrypt(nonce, plaintext, _associated_data(key.package_id, key.encrypted_sha256))
        doc.update(sealed=True,
                   kdf={"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P,
                        "salt": base64.b64encode(salt).decode()},
                   cipher="AES-256-GCM", nonce=base64.b64encode(nonce).decode(),
                   ciphertext=base64.b64encode(sealed).decode())
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


def _parse_secret(secret: dict, package_id: str, encrypted_sha256: str, src: str) -> ProtectionKey:
    try:
        entries = tuple(KeyEntry(str(n), int(i), int(b, 16)) for n, i, b in secret["positions"])
        protected = str(secret["protected_sha256"])
    except (KeyError, TypeError, ValueError) as exc:
        raise KeyFileError(f"{src}: malformed positions or protected hash ({exc!r})") from exc
    if any(not 0 <= e.bits < 1 << 32 for e in entries):
        raise KeyFileError(f"{src}: a bit pattern does not fit in 32 bits")
    return ProtectionKey(package_id, encrypted_sha256, protected, entries)


def key_from_bytes(raw: bytes, password: str | None = None, source: str = "key file") -> ProtectionKey:
    """Parse key-file bytes (see :func:`key_to_bytes`); ``password`` is required for a sealed key."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeyFileError(f"{source}: not a JSON key file ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != KEY_FORMAT:
        raise KeyFileError(f"{source}: not a dnnsec key file (format is not {KEY_FORMAT!r})")
    if doc.get("version") != KEY_VERSION:
        raise KeyFileError(f"{source}: key file version {doc.get('version')!r} is not supported")
    try:
        package_id, encrypted_sha256 = str(doc["package_id"]), str(doc["encrypted_sha256"])
        sealed = bool(doc["sealed"])
    except KeyError as exc:
        raise KeyFileError(f"{source}: key file lacks the field {exc}") from exc
    if not sealed:
        return _parse_secret(doc.get("secret", {}), package_id, encrypted_sha256, source)
    if password is None:
        raise KeyFileError(f"{source}: key file is password-protected; give its password")
    try:
        kdf = doc["kdf"]
        if kdf["name"] != "scrypt" or doc["cipher"] != "AES-256-GCM":
            raise KeyFileError(f"{source}: unsupported kdf {kdf['name']!r} or cipher {doc['cipher']!r}")
        n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
        salt = base64.b64decode(kdf["salt"], validate=True)
        nonce = base64.b64decode(doc["nonce"], validate=True)
        ciphertext = base64.b64decode(doc["ciphertext"], validate=True)
    except (KeyError, TypeError, ValueError) as exc:
        raise KeyFileError(f"{source}: malformed sealed key ({exc!r})") from exc
    if n < MIN_SCRYPT_N:
        raise KeyFileError(f"{source}: scrypt cost n={n} is below the minimum {MIN_SCRYPT_N}")
    try:
        plaintext = AESGCM(_derive(password, salt, n, r, p)).decrypt(
            nonce, ciphertext, _associated_data(package_id, encrypted_sha256))
    except (InvalidTag, ValueError) as exc:
        raise KeyFileError(f"{source}: wrong password, or the key file was altered") from exc
    return _parse_secret(json.loads(plaintext), package_id, encrypted_sha256, source)


def write_key(path: str | os.PathLike, key: ProtectionKey, password: str | None = None) -> Path:
    """Write a key file atomically (mode 0600) and return its path."""
    return write_bytes_atomic(path, key_to_bytes(key, password), mode=0o600)


def read_key(path: str | os.PathLike, password: str | None = None) -> ProtectionKey:
    """Read a key file written by :func:`write_key`; raises KeyFileError naming the file and the problem."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read key file ({exc.strerror})") from exc
    return key_from_bytes(raw, password, source=str(path))
