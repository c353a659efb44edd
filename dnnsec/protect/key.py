"""The AdvParams key: encrypted positions and their original float32 bit patterns, and its key file.

Decryption overwrites each encrypted position with its original IEEE-754 bit pattern instead of subtracting the
perturbation, because ``(w + d) - d`` need not equal ``w`` in floating point; the restored model is then checked
against the original model's hash that the owner signed in the package header (``shared.checkpoint.state_sha256``:
sha256 over raw tensor bytes in sorted name order with dtype and shape, buffers included), never against a hash
the key file itself supplies. The package header also signs the key's identity (:attr:`ProtectionKey.key_id`), so
a key file with added, removed or changed positions is refused before it is used.

A key file is JSON. It may be password-protected: the secret part (positions, bit patterns, protected hash) is then
sealed by :mod:`dnnsec.protect.sealing` (scrypt n = 2**17, r = 8, p = 1 for new files, bounded parameters when
opening; AES-256-GCM), and the associated data is the package id and the hash of the encrypted tensors, so the key
opens only its own package. Every field is type- and range-checked before use (:func:`key_from_bytes`).

Method: Xue et al., "AdvParams: An Active DNN Intellectual Property Protection Technique via Adversarial
Perturbation Based Parameter Encryption", IEEE TETC (2023).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dnnsec.errors import DnnsecError
from dnnsec.protect import sealing
from shared.atomic import write_bytes_atomic
from shared.checkpoint import state_sha256
from shared.untrusted import parse_json, read_bounded

KEY_FORMAT = "dnnsec-advparams-key"
KEY_VERSION = 1
#: Largest key file read, bytes, and most positions in one key.
MAX_KEY_FILE_BYTES = 32 * 2**20
MAX_ENTRIES = 2**16
MAX_NAME_CHARS = 256
MAX_INDEX = 2**40
PACKAGE_ID = re.compile(r"[0-9a-f]{32}")
SHA256 = re.compile(r"[0-9a-f]{64}")
_BITS = re.compile(r"[0-9a-f]{8}")
_TENSOR_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.]*")
_FIELDS_PLAIN = {"format", "version", "package_id", "encrypted_sha256", "sealed", "secret"}
_FIELDS_SEALED = {"format", "version", "package_id", "encrypted_sha256", "sealed", "kdf", "cipher", "nonce",
                  "ciphertext"}


class KeyFileError(DnnsecError):
    """A key file is unreadable, malformed, wrong for its package, or does not restore the protected model."""


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
        Id of the package this key opens (32 hex digits).
    encrypted_sha256 : str
        ``state_sha256`` of the encrypted state dict (what the package holds).
    protected_sha256 : str
        ``state_sha256`` of the original, protected state dict, as the key's writer saw it; decryption checks
        against the package's signed ``plain_sha256``, which must equal it.
    entries : tuple of KeyEntry
        The encrypted positions.
    """

    package_id: str
    encrypted_sha256: str
    protected_sha256: str
    entries: tuple[KeyEntry, ...]

    @property
    def key_id(self) -> str:
        """sha256 (hex) of the key's canonical contents: package id, both hashes and every position in order."""
        doc = {"format": KEY_FORMAT, "package_id": self.package_id, "encrypted_sha256": self.encrypted_sha256,
               **_secret_json(self)}
        return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def check_opens(self, package_id: str, encrypted_sha256: str, key_id: str | None = None,
                    source: str = "key") -> None:
        """Raise KeyFileError unless this key belongs to the package with this id, tensor hash and signed key id."""
        if self.package_id != package_id:
            raise KeyFileError(f"{source}: key is for package {self.package_id}, not package {package_id}")
        if self.encrypted_sha256 != encrypted_sha256:
            raise KeyFileError(f"{source}: key expects encrypted tensors with sha256 {self.encrypted_sha256[:16]}..., "
                               f"the package holds {encrypted_sha256[:16]}...")
        if key_id is not None and self.key_id != key_id:
            raise KeyFileError(f"{source}: key file does not belong to package {package_id}: its contents (key id "
                               f"{self.key_id[:16]}...) differ from the key the owner signed ({key_id[:16]}...); "
                               "the key file was altered or replaced")


def float_bits(value: torch.Tensor) -> int:
    """IEEE-754 bit pattern of a float32 scalar tensor as an unsigned 32-bit integer."""
    return struct.unpack("<I", struct.pack("<f", float(value)))[0]


def restore_state(state: dict[str, torch.Tensor], key: ProtectionKey, expected_sha256: str, source: str = "key"
                  ) -> dict[str, torch.Tensor]:
    """Return a copy of ``state`` with every key position overwritten by its original bits, hash-checked.

    Parameters
    ----------
    state
        The encrypted state dict (not modified).
    key
        The key.
    expected_sha256
        ``state_sha256`` the restored state must have: the original model's hash from the package's signed header,
        never one taken from the key file.
    source
        Names the key in messages.

    Raises
    ------
    KeyFileError
        If a position does not exist in ``state`` or the result's hash is not ``expected_sha256``.
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
    if digest != expected_sha256:
        raise KeyFileError(f"{source}: restored model hash {digest[:16]}... differs from the original model's "
                           f"{expected_sha256[:16]}... that the owner signed: wrong key for these weights")
    return restored


def _secret_json(key: ProtectionKey) -> dict:
    return {"protected_sha256": key.protected_sha256,
            "positions": [[e.name, e.index, f"{e.bits:08x}"] for e in key.entries]}


def _associated_data(package_id: str, encrypted_sha256: str) -> bytes:
    return f"{KEY_FORMAT}/{KEY_VERSION}\0{package_id}\0{encrypted_sha256}".encode()


def key_to_bytes(key: ProtectionKey, password: str | None = None, *, scrypt_n: int = sealing.SCRYPT_N) -> bytes:
    """Serialise a key to JSON bytes, sealing the secret part when a password is given.

    ``scrypt_n`` is the scrypt cost of the seal (default 2**17; tests pass 2**14, the smallest that opens).
    """
    doc: dict = {"format": KEY_FORMAT, "version": KEY_VERSION, "package_id": key.package_id,
                 "encrypted_sha256": key.encrypted_sha256}
    if password is None:
        doc.update(sealed=False, secret=_secret_json(key))
    else:
        plaintext = json.dumps(_secret_json(key), sort_keys=True).encode()
        try:
            doc.update(sealed=True, **sealing.seal(plaintext, password,
                                                   _associated_data(key.package_id, key.encrypted_sha256),
                                                   n=scrypt_n))
        except sealing.SealError as exc:
            raise KeyFileError(str(exc)) from None
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


def _hex(value: Any, pattern: re.Pattern, field: str, src: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise KeyFileError(f"{src}: field {field!r} must match {pattern.pattern}, not {value!r:.80}")
    return value


def _entry(item: Any, i: int, src: str) -> KeyEntry:
    field = f"secret.positions[{i}]"
    if not isinstance(item, list) or len(item) != 3:
        raise KeyFileError(f"{src}: field {field!r} must be [name, index, bits], not {item!r:.80}")
    name, index, bits = item
    if not isinstance(name, str) or len(name) > MAX_NAME_CHARS or not _TENSOR_NAME.fullmatch(name):
        raise KeyFileError(f"{src}: field {field + '.name'!r} is not a tensor name: {name!r:.80}")
    if type(index) is not int or not 0 <= index < MAX_INDEX:
        raise KeyFileError(f"{src}: field {field + '.index'!r} must be an integer in [0, {MAX_INDEX}), "
                           f"not {index!r:.80}")
    return KeyEntry(name, index, int(_hex(bits, _BITS, field + ".bits", src), 16))


def _parse_secret(secret: Any, package_id: str, encrypted_sha256: str, src: str) -> ProtectionKey:
    if not isinstance(secret, dict) or set(secret) != {"protected_sha256", "positions"}:
        found = sorted(secret) if isinstance(secret, dict) else type(secret).__name__
        raise KeyFileError(f"{src}: field 'secret' must be an object with exactly 'positions' and "
                           f"'protected_sha256' (found {found!r:.120})")
    protected = _hex(secret["protected_sha256"], SHA256, "secret.protected_sha256", src)
    positions = secret["positions"]
    if not isinstance(positions, list) or not 1 <= len(positions) <= MAX_ENTRIES:
        raise KeyFileError(f"{src}: field 'secret.positions' must be a list of 1 to {MAX_ENTRIES} positions")
    entries = tuple(_entry(item, i, src) for i, item in enumerate(positions))
    if len({(e.name, e.index) for e in entries}) != len(entries):
        raise KeyFileError(f"{src}: field 'secret.positions' names a position twice")
    return ProtectionKey(package_id, encrypted_sha256, protected, entries)


def key_from_bytes(raw: bytes, password: str | None = None, source: str = "key file") -> ProtectionKey:
    """Parse key-file bytes (see :func:`key_to_bytes`); ``password`` is required for a sealed key.

    Every field is checked before use: the file at most 32 MiB of UTF-8 JSON, no unknown fields, ids and hashes
    as lowercase hex, at most 65536 positions of [tensor name, index in [0, 2**40), 8 hex digits], and the seal's
    scrypt parameters within the ranges of :mod:`dnnsec.protect.sealing` before any key is derived.
    """
    if len(raw) > MAX_KEY_FILE_BYTES:
        raise KeyFileError(f"{source}: {len(raw)} bytes is too large for a key file (at most {MAX_KEY_FILE_BYTES})")
    doc = parse_json(raw, source, KeyFileError, "key file")
    if not isinstance(doc, dict) or doc.get("format") != KEY_FORMAT:
        raise KeyFileError(f"{source}: not a dnnsec key file (format is not {KEY_FORMAT!r})")
    if doc.get("version") != KEY_VERSION or type(doc.get("version")) is not int:
        raise KeyFileError(f"{source}: key file version {doc.get('version')!r:.40} is not supported")
    for field in ("package_id", "encrypted_sha256", "sealed"):
        if field not in doc:
            raise KeyFileError(f"{source}: key file lacks the field {field!r}")
    sealed = doc["sealed"]
    if type(sealed) is not bool:
        raise KeyFileError(f"{source}: field 'sealed' must be true or false, not {sealed!r:.40}")
    unknown = sorted(set(doc) - (_FIELDS_SEALED if sealed else _FIELDS_PLAIN))
    if unknown:
        raise KeyFileError(f"{source}: unknown field(s) {unknown!r:.120} in a {'sealed' if sealed else 'plain'} "
                           "key file")
    package_id = _hex(doc["package_id"], PACKAGE_ID, "package_id", source)
    encrypted_sha256 = _hex(doc["encrypted_sha256"], SHA256, "encrypted_sha256", source)
    if not sealed:
        return _parse_secret(doc.get("secret"), package_id, encrypted_sha256, source)
    if password is None:
        raise KeyFileError(f"{source}: key file is password-protected; give its password")
    try:
        plaintext = sealing.open_seal(doc, password, _associated_data(package_id, encrypted_sha256), source)
    except sealing.SealError as exc:
        raise KeyFileError(str(exc)) from None
    try:
        secret = json.loads(plaintext)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeyFileError(f"{source}: sealed secret is not JSON ({exc})") from None
    return _parse_secret(secret, package_id, encrypted_sha256, source)


def write_key(path: str | os.PathLike, key: ProtectionKey, password: str | None = None) -> Path:
    """Write a key file atomically (mode 0600) and return its path."""
    return write_bytes_atomic(path, key_to_bytes(key, password), mode=0o600)


def read_key(path: str | os.PathLike, password: str | None = None) -> ProtectionKey:
    """Read a key file written by :func:`write_key`; raises KeyFileError naming the file and the problem."""
    path = Path(path)
    raw = read_bounded(path, MAX_KEY_FILE_BYTES, KeyFileError, "key file")
    return key_from_bytes(raw, password, source=str(path))
