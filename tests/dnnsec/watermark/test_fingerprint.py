"""Signed fingerprints: verified round trip; forged, altered or transplanted payloads are refused."""

from __future__ import annotations

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dnnsec.watermark.fingerprint import (
    PAYLOAD_BYTES,
    FingerprintError,
    fingerprint_image,
    read_fingerprint,
)
from dnnsec.watermark.keys import KeySet, KeySetError, load_key_set, save_key_set
from dnnsec.watermark.stego import capacity_bytes, embed_lsb, extract_lsb, write_png


@pytest.fixture(scope="module")
def owner() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _base(seed: int, shape=(28, 28, 1)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def test_payload_fits_the_smallest_key_image() -> None:
    assert PAYLOAD_BYTES == 1 + 4 + 2 + 64
    assert PAYLOAD_BYTES <= capacity_bytes((28, 28, 1))


def test_fingerprint_round_trip_names_the_user(owner) -> None:
    image = fingerprint_image(_base(0), owner, user_id=42, key_index=7)
    fp = read_fingerprint(image, owner.public_key())
    assert (fp.user_id, fp.key_index) == (42, 7)


def test_signature_by_someone_else_is_refused(owner) -> None:
    forger = Ed25519PrivateKey.generate()
    image = fingerprint_image(_base(1), forger, user_id=42, key_index=0)
    with pytest.raises(FingerprintError, match="not signed by the owner"):
        read_fingerprint(image, owner.public_key())


def test_altered_user_id_is_refused(owner) -> None:
    image = fingerprint_image(_base(2), owner, user_id=5, key_index=0)
    payload = bytearray(extract_lsb(image))
    payload[1:5] = (6).to_bytes(4, "big")  # frame another user with the original signature
    tampered = embed_lsb(image, bytes(payload))
    with pytest.raises(FingerprintError, match="user 6 is not signed"):
        read_fingerprint(tampered, owner.public_key())


def test_payload_moved_to_another_image_is_refused(owner) -> None:
    image = fingerprint_image(_base(3), owner, user_id=5, key_index=0)
    moved = embed_lsb(_base(4), extract_lsb(image))
    with pytest.raises(FingerprintError, match="copied from another image"):
        read_fingerprint(moved, owner.public_key())


def test_key_set_from_files_checks_user_and_order(tmp_path, owner) -> None:
    images = np.stack([fingerprint_image(_base(10 + i), owner, 9, i) for i in range(3)])
    files = [p for p, _ in save_key_set(KeySet(9, images), tmp_path)]
    loaded = load_key_set(files, owner.public_key(), 9, channels=1)
    assert np.array_equal(loaded.images, images)
    with pytest.raises(KeySetError, match="expected user 8"):
        load_key_set(files, owner.public_key(), 8)
    with pytest.raises(KeySetError, match="key 1, expected user 9 key 0"):
        load_key_set(files[1:], owner.public_key(), 9)


def test_corrupted_key_file_is_named(tmp_path, owner) -> None:
    image = fingerprint_image(_base(20), owner, 9, 0)
    image[0, 5, 0] ^= 1  # one LSB of the frame header
    path = write_png(tmp_path / "key_0000.png", image)
    with pytest.raises(KeySetError, match=r"key_0000\.png"):
        load_key_set([path], owner.public_key(), 9)
