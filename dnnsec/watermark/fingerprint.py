"""A user's fingerprint: the user id and key index, signed by the owner with Ed25519 (RFC 8032).

Payload (71 bytes, fits the 90-byte LSB capacity of a 28x28 grey image)::

    version (uint8) | user id (uint32) | key index (uint16) | Ed25519 signature (64 bytes)

The signature covers a domain tag, the version, user id, key index and the SHA-256 of the image's content bits
(every least significant bit cleared, see :func:`dnnsec.watermark.stego.content_bits`), so a payload can neither be
forged without the owner's private key nor moved onto another image to frame a user.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from dnnsec.errors import DnnsecError
from dnnsec.watermark.stego import StegoError, content_bits, embed_lsb, extract_lsb

VERSION = 1
DOMAIN = b"dnnsec-watermark-fingerprint/1"
_FIELDS = struct.Struct(">BIH")
SIGNATURE_BYTES = 64
PAYLOAD_BYTES = _FIELDS.size + SIGNATURE_BYTES


class FingerprintError(DnnsecError):
    """A key image's fingerprint is missing, malformed, or not signed by the owner."""


@dataclass(frozen=True)
class Fingerprint:
    """A verified fingerprint: which user a key image belongs to, and its index in the user's key set."""

    user_id: int
    key_index: int


def _message(user_id: int, key_index: int, image: np.ndarray) -> bytes:
    arr = content_bits(image)
    digest = hashlib.sha256(repr(arr.shape).encode() + arr.tobytes()).digest()
    return DOMAIN + _FIELDS.pack(VERSION, user_id, key_index) + digest


def fingerprint_image(base: np.ndarray, signer: Ed25519PrivateKey, user_id: int, key_index: int) -> np.ndarray:
    """Return ``base`` (uint8 H x W x C) with the signed fingerprint of ``(user_id, key_index)`` in its LSBs."""
    if not 0 <= user_id < 2**32 or not 0 <= key_index < 2**16:
        raise FingerprintError(f"user id {user_id} or key index {key_index} out of range (uint32, uint16)")
    signature = signer.sign(_message(user_id, key_index, base))
    payload = _FIELDS.pack(VERSION, user_id, key_index) + signature
    return embed_lsb(base, payload, source=f"key image {key_index} of user {user_id}")


def read_fingerprint(image: np.ndarray, owner_key: Ed25519PublicKey, source: str = "image") -> Fingerprint:
    """Extract and verify the fingerprint hidden in ``image`` against the owner's pinned public key.

    Raises
    ------
    FingerprintError
        If there is no readable payload (:class:`~dnnsec.watermark.stego.StegoError` wrapped), the payload has the
        wrong size or version, or the signature does not verify (forged payload, altered user id, or a payload
        moved onto a different image).
    """
    try:
        payload = extract_lsb(image, source)
    except StegoError as exc:
        raise FingerprintError(str(exc)) from exc
    if len(payload) != PAYLOAD_BYTES:
        raise FingerprintError(f"{source}: fingerprint payload has {len(payload)} bytes, expected {PAYLOAD_BYTES}")
    version, user_id, key_index = _FIELDS.unpack_from(payload, 0)
    if version != VERSION:
        raise FingerprintError(f"{source}: fingerprint version {version} is not supported (expected {VERSION})")
    try:
        owner_key.verify(payload[_FIELDS.size:], _message(user_id, key_index, image))
    except InvalidSignature:
        raise FingerprintError(f"{source}: fingerprint of user {user_id} is not signed by the owner's key "
                               "(forged, altered, or copied from another image)") from None
    return Fingerprint(int(user_id), int(key_index))
