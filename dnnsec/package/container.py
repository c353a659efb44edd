"""The protected-model package: one signed file holding encrypted weights and their description.

Layout (all integers little-endian unsigned 64-bit)::

    MAGIC | len(header) | header (canonical JSON) | len(weights) | weights (safetensors) | Ed25519 signature (64 B)

The signature covers every byte before it. The header (format 2) holds the package id, the architecture and its
config, the hash of the encrypted tensors, the hash of the original model that decryption must reproduce
(``plain_sha256``), the identity of the key file that opens it (``key_id``, see
:attr:`dnnsec.protect.key.ProtectionKey.key_id`) and the metadata (owner, created, method, versions, the source
checkpoint's metadata). No pickle: the weights are safetensors and everything else JSON. A package is opened only
after the signature verifies against the owner's public key pinned out of band (see :mod:`dnnsec.package.signing`),
and every header field is then type- and range-checked (:func:`check_header`). Format 1 packages, whose signature did
not cover the original model's hash, are refused with a request to re-issue them.

Bounds: a package file of at most 4 GiB, a header of at most 1 MiB, at most 100000 tensors.
"""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from dnnsec.errors import DnnsecError
from dnnsec.package.outputs import PLAIN_NAME
from dnnsec.package.signing import fingerprint
from shared.architectures import ARCH_NAME
from shared.atomic import write_bytes_atomic
from shared.checkpoint import MAX_DATASET_CHARS, state_sha256

FORMAT_VERSION = 2
MAGIC = b"\x89DNNSEC-PACKAGE-2\r\n\x1a\n"
#: Magic bytes of format 1 (signature without the original model's hash): refused.
MAGIC_V1 = b"\x89DNNSEC-PACKAGE-1\r\n\x1a\n"
SIGNATURE_BYTES = 64
MAX_PACKAGE_BYTES = 4 * 2**30
MAX_HEADER_BYTES = 2**20
MAX_TENSORS = 100_000
_U64 = struct.Struct("<Q")
_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
HEADER_FIELDS = ("format", "package_id", "arch", "config", "encrypted_sha256", "plain_sha256", "key_id",
                 "signer_fingerprint", "meta")


class PackageError(DnnsecError):
    """A package is truncated, malformed, tampered with, or signed by someone other than the pinned owner."""


@dataclass(frozen=True)
class Package:
    """A verified package: its header (JSON dict, checked by :func:`check_header`) and encrypted state dict."""

    header: dict
    state: dict[str, torch.Tensor]

    @property
    def package_id(self) -> str:
        return str(self.header["package_id"])

    @property
    def encrypted_sha256(self) -> str:
        return str(self.header["encrypted_sha256"])

    @property
    def plain_sha256(self) -> str:
        """``state_sha256`` of the original model, signed by the owner; what decryption must reproduce."""
        return str(self.header["plain_sha256"])

    @property
    def key_id(self) -> str:
        """Identity of the key file that opens this package, signed by the owner."""
        return str(self.header["key_id"])


def _field_error(src: str, field: str, problem: str) -> PackageError:
    return PackageError(f"{src}: header field {field!r} {problem}")


def _text(value: Any, limit: int) -> bool:
    return isinstance(value, str) and len(value) <= limit and value.isprintable()


def check_header(header: Any, src: str) -> dict:
    """Check the type and bounds of every header field; return ``header`` or raise PackageError naming the field.

    ``format`` 2; ``package_id`` 32 and the hashes and ``key_id`` 64 lowercase hex digits; ``arch`` a plain
    architecture name; ``config`` an object (checked against the architecture when the model is built); ``meta`` an
    object whose ``owner`` is a plain name, ``dataset`` (if set) printable text of at most 1024 characters,
    ``source_extra`` (if set) an object, and ``method.n_encrypted`` a non-negative integer.
    """
    if not isinstance(header, dict):
        raise PackageError(f"{src}: header is not a JSON object")
    missing = [f for f in HEADER_FIELDS if f not in header]
    if missing:
        raise PackageError(f"{src}: header lacks {missing[0]!r}")
    unknown = sorted(set(header) - set(HEADER_FIELDS))
    if unknown:
        raise PackageError(f"{src}: header has unknown field(s) {unknown!r:.120}")
    if header["format"] != FORMAT_VERSION or type(header["format"]) is not int:
        raise _field_error(src, "format", f"is {header['format']!r:.20}, not {FORMAT_VERSION}")
    if not isinstance(header["package_id"], str) or not _HEX32.fullmatch(header["package_id"]):
        raise _field_error(src, "package_id", f"must be 32 lowercase hex digits, not {header['package_id']!r:.80}")
    for field in ("encrypted_sha256", "plain_sha256", "key_id", "signer_fingerprint"):
        if not isinstance(header[field], str) or not _HEX64.fullmatch(header[field]):
            raise _field_error(src, field, f"must be 64 lowercase hex digits, not {header[field]!r:.80}")
    if not isinstance(header["arch"], str) or not ARCH_NAME.fullmatch(header["arch"]):
        raise _field_error(src, "arch", f"is not a plain architecture name: {header['arch']!r:.80}")
    if not isinstance(header["config"], dict):
        raise _field_error(src, "config", f"must be a JSON object, not {type(header['config']).__name__}")
    meta = header["meta"]
    if not isinstance(meta, dict):
        raise _field_error(src, "meta", f"must be a JSON object, not {type(meta).__name__}")
    owner = meta.get("owner")
    if not isinstance(owner, str) or not PLAIN_NAME.fullmatch(owner) or ".." in owner:
        raise _field_error(src, "meta.owner", f"is not a plain owner name: {owner!r:.80}")
    if meta.get("dataset") is not None and not (_text(meta["dataset"], MAX_DATASET_CHARS) and meta["dataset"]):
        raise _field_error(src, "meta.dataset", f"is not a data set name or file: {meta['dataset']!r:.80}")
    if meta.get("source_extra") is not None and not isinstance(meta["source_extra"], dict):
        raise _field_error(src, "meta.source_extra", "must be a JSON object")
    for field in ("created", "source_checkpoint"):
        if meta.get(field) is not None and not _text(meta[field], 1024):
            raise _field_error(src, f"meta.{field}", f"must be printable text, not {meta[field]!r:.80}")
    method = meta.get("method")
    if not isinstance(method, dict) or type(method.get("n_encrypted")) is not int or method["n_encrypted"] < 0 \
            or not _text(method.get("name"), 64):
        raise _field_error(src, "meta.method", "must be an object with a name and a non-negative n_encrypted")
    if meta.get("versions") is not None and not isinstance(meta["versions"], dict):
        raise _field_error(src, "meta.versions", "must be a JSON object")
    return header


def package_bytes(header: dict, state: dict[str, torch.Tensor], signer: Ed25519PrivateKey) -> bytes:
    """Serialise and sign a package (the header gains ``format``, ``encrypted_sha256``, ``signer_fingerprint``).

    ``header`` must hold the other fields of :data:`HEADER_FIELDS`, among them ``plain_sha256`` and ``key_id``.
    """
    state = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    header = {**header, "format": FORMAT_VERSION, "encrypted_sha256": state_sha256(state),
              "signer_fingerprint": fingerprint(signer.public_key())}
    check_header(header, "new package")
    return sign_package(json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8"), st_save(state),
                        signer)


def sign_package(head: bytes, weights: bytes, signer: Ed25519PrivateKey) -> bytes:
    """The package bytes of a serialised header and safetensors weights, signed by ``signer``."""
    body = MAGIC + _U64.pack(len(head)) + head + _U64.pack(len(weights)) + weights
    return body + signer.sign(body)


def write_package(path: str | os.PathLike, header: dict, state: dict[str, torch.Tensor],
                  signer: Ed25519PrivateKey) -> Path:
    """Write a signed package atomically and return its path."""
    return write_bytes_atomic(path, package_bytes(header, state, signer))


def _split(raw: bytes, src: str) -> tuple[bytes, bytes, bytes, bytes]:
    """Return (body, header bytes, weights bytes, signature), checking every length against the file size."""
    if raw.startswith(MAGIC_V1):
        raise PackageError(f"{src}: package format version 1 is no longer opened (its signature does not cover the "
                           "original model's hash); re-issue it with dnnsec encrypt")
    if not raw.startswith(MAGIC):
        raise PackageError(f"{src}: not a dnnsec package (bad magic bytes)")
    pos = len(MAGIC)
    fields = []
    for what in ("header", "weights"):
        if len(raw) < pos + _U64.size:
            raise PackageError(f"{src}: truncated: file ends inside the {what} length field")
        (n,) = _U64.unpack_from(raw, pos)
        pos += _U64.size
        if what == "header" and n > MAX_HEADER_BYTES:
            raise PackageError(f"{src}: header length field {n} exceeds the limit of {MAX_HEADER_BYTES} bytes")
        if len(raw) < pos + n:
            raise PackageError(f"{src}: truncated: the {what} needs {n} bytes but only {len(raw) - pos} remain")
        fields.append(raw[pos:pos + n])
        pos += n
    if len(raw) < pos + SIGNATURE_BYTES:
        raise PackageError(f"{src}: truncated: signature needs {SIGNATURE_BYTES} bytes but only "
                           f"{len(raw) - pos} remain")
    if len(raw) > pos + SIGNATURE_BYTES:
        raise PackageError(f"{src}: {len(raw) - pos - SIGNATURE_BYTES} unexpected bytes after the signature")
    return raw[:pos], fields[0], fields[1], raw[pos:]


def _json(head: bytes) -> Any:
    return json.loads(head.decode("utf-8"))


def _claimed_fingerprint(head: bytes) -> str | None:
    try:
        claimed = _json(head)["signer_fingerprint"]
    except (ValueError, KeyError, TypeError, IndexError, RecursionError):
        return None
    return claimed if isinstance(claimed, str) and _HEX64.fullmatch(claimed) else None


def read_header_unverified(path: str | os.PathLike) -> dict:
    """The package header WITHOUT checking the signature (only for choosing which pinned key to use)."""
    raw = _read(Path(path))
    _, head, _, _ = _split(raw, str(path))
    try:
        header = _json(head)
    except (ValueError, RecursionError) as exc:
        raise PackageError(f"{path}: header is not JSON ({exc})") from None
    if not isinstance(header, dict) or not isinstance(header.get("meta"), dict):
        raise PackageError(f"{path}: header is not a JSON object with a 'meta' object")
    return header


def _read(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_PACKAGE_BYTES:
            raise PackageError(f"{path}: {size} bytes is larger than a package may be ({MAX_PACKAGE_BYTES})")
        return path.read_bytes()
    except OSError as exc:
        raise PackageError(f"{path}: cannot read package ({exc.strerror})") from exc


def read_package(path: str | os.PathLike, owner_key: Ed25519PublicKey) -> Package:
    """Read a package, verify its signature against the pinned ``owner_key``, check its header, and return it.

    Raises
    ------
    PackageError
        Bad magic or format 1, truncation, trailing bytes, a signature by another key, tampering, or contents out
        of bounds (see :func:`check_header`).
    """
    src = str(path)
    body, head, weights, signature = _split(_read(Path(path)), src)
    try:
        owner_key.verify(signature, body)
    except InvalidSignature:
        claimed, pinned = _claimed_fingerprint(head), fingerprint(owner_key)
        if claimed is not None and claimed != pinned:
            raise PackageError(f"{src}: signed by someone else: the package names signer key {claimed[:16]}..., "
                               f"the pinned owner key is {pinned[:16]}...") from None
        raise PackageError(f"{src}: signature does not verify against the pinned owner key {pinned[:16]}...: "
                           "the package was tampered with") from None
    try:
        header = _json(head)
    except (ValueError, RecursionError) as exc:
        raise PackageError(f"{src}: signed but the header is not JSON ({exc})") from None
    check_header(header, src)
    try:
        state = st_load(weights)
    except (ValueError, TypeError, RuntimeError, SafetensorError) as exc:
        raise PackageError(f"{src}: signed but the weights are unreadable ({exc})") from None
    if len(state) > MAX_TENSORS:
        raise PackageError(f"{src}: {len(state)} tensors; at most {MAX_TENSORS} allowed")
    if state_sha256(state) != header["encrypted_sha256"]:
        raise PackageError(f"{src}: weights do not match the header's encrypted_sha256")
    return Package(header, state)
