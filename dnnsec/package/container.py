"""The protected-model package: one signed file holding encrypted weights and their description.

Layout (all integers little-endian unsigned 64-bit)::

    MAGIC | len(header) | header (canonical JSON) | len(weights) | weights (safetensors) | Ed25519 signature (64 B)

The signature covers every byte before it. The header holds the package id, the architecture and its config, the
hash of the encrypted tensors and the metadata (owner, created, method, versions). No pickle: the weights are
safetensors and everything else JSON. A package is opened only after the signature verifies against the owner's
public key pinned out of band (see :mod:`dnnsec.package.signing`).
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import torch
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from dnnsec.errors import DnnsecError
from dnnsec.package.signing import fingerprint
from shared.atomic import write_bytes_atomic
from shared.checkpoint import state_sha256

MAGIC = b"\x89DNNSEC-PACKAGE-1\r\n\x1a\n"
SIGNATURE_BYTES = 64
_U64 = struct.Struct("<Q")


class PackageError(DnnsecError):
    """A package is truncated, malformed, tampered with, or signed by someone other than the pinned owner."""


@dataclass(frozen=True)
class Package:
    """A verified package: its header (JSON dict) and encrypted state dict."""

    header: dict
    state: dict[str, torch.Tensor]

    @property
    def package_id(self) -> str:
        return str(self.header["package_id"])

    @property
    def encrypted_sha256(self) -> str:
        return str(self.header["encrypted_sha256"])


def package_bytes(header: dict, state: dict[str, torch.Tensor], signer: Ed25519PrivateKey) -> bytes:
    """Serialise and sign a package (the header gains ``encrypted_sha256`` and ``signer_fingerprint``)."""
    state = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    header = {**header, "encrypted_sha256": state_sha256(state),
              "signer_fingerprint": fingerprint(signer.public_key())}
    head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    weights = st_save(state)
    body = MAGIC + _U64.pack(len(head)) + head + _U64.pack(len(weights)) + weights
    return body + signer.sign(body)


def write_package(path: str | os.PathLike, header: dict, state: dict[str, torch.Tensor],
                  signer: Ed25519PrivateKey) -> Path:
    """Write a signed package atomically and return its path."""
    return write_bytes_atomic(path, package_bytes(header, state, signer))


def _split(raw: bytes, src: str) -> tuple[bytes, bytes, bytes, bytes]:
    """Return (body, header bytes, weights bytes, signature), checking every length against the file size."""
    if not raw.startswith(MAGIC):
        raise PackageError(f"{src}: not a dnnsec package (bad magic bytes)")
    pos = len(MAGIC)
    fields = []
    for what in ("header", "weights"):
        if len(raw) < pos + _U64.size:
            raise PackageError(f"{src}: truncated: file ends inside the {what} length field")
        (n,) = _U64.unpack_from(raw, pos)
        pos += _U64.size
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


def _claimed_fingerprint(head: bytes) -> str | None:
    try:
        return str(json.loads(head)["signer_fingerprint"])
    except (ValueError, KeyError, TypeError):
        return None


def read_header_unverified(path: str | os.PathLike) -> dict:
    """The package header WITHOUT checking the signature (only for choosing which pinned key to use)."""
    raw = _read(Path(path))
    _, head, _, _ = _split(raw, str(path))
    try:
        return json.loads(head)
    except ValueError as exc:
        raise PackageError(f"{path}: header is not JSON ({exc})") from exc


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PackageError(f"{path}: cannot read package ({exc.strerror})") from exc


def read_package(path: str | os.PathLike, owner_key: Ed25519PublicKey) -> Package:
    """Read a package, verify its signature against the pinned ``owner_key``, and return it.

    Raises
    ------
    PackageError
        Bad magic, truncation, trailing bytes, a signature by another key, tampering, or inconsistent contents.
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
        header = json.loads(head)
        state = st_load(weights)
    except (ValueError, SafetensorError) as exc:
        raise PackageError(f"{src}: signed but unreadable contents ({exc})") from exc
    for field in ("package_id", "arch", "config", "encrypted_sha256", "meta"):
        if field not in header:
            raise PackageError(f"{src}: header lacks {field!r}")
    if state_sha256(state) != header["encrypted_sha256"]:
        raise PackageError(f"{src}: weights do not match the header's encrypted_sha256")
    return Package(header, state)
