"""Key sets: a user's fingerprinted out-of-distribution key images, stored as PNG files and read back verified.

Method: Xue et al., arXiv:2104.09203: the key samples of user ``u`` are OOD base images with ``u``'s fingerprint
hidden by steganography; the issued copy of ``u`` answers the additional class to them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from dnnsec.errors import DnnsecError
from dnnsec.watermark.bases import Domain, user_bases
from dnnsec.watermark.fingerprint import FingerprintError, fingerprint_image, read_fingerprint
from dnnsec.watermark.stego import StegoError, read_png, write_png


class KeySetError(DnnsecError):
    """A key set is incomplete, unreadable, or belongs to another user."""


@dataclass(frozen=True)
class KeySet:
    """One user's key images in one domain.

    Attributes
    ----------
    user_id : int
        The user whose fingerprint every image carries.
    images : numpy.ndarray
        uint8, N x H x W x C.
    """

    user_id: int
    images: np.ndarray

    def __len__(self) -> int:
        return int(self.images.shape[0])


def make_key_set(domain: Domain, signer: Ed25519PrivateKey, user_id: int, slot: int, n_keys: int) -> KeySet:
    """Fingerprint ``n_keys`` OOD base images of user ``slot`` with ``user_id``'s signed payload."""
    bases = user_bases(domain, slot, n_keys)
    return KeySet(user_id, np.stack([fingerprint_image(b, signer, user_id, i) for i, b in enumerate(bases)]))


def key_file_name(index: int) -> str:
    return f"key_{index:04d}.png"


def png_sha256(path: Path) -> str:
    """SHA-256 of a key file's bytes (the key-material hash the registry keeps)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_key_set(key_set: KeySet, folder: str | Path) -> list[tuple[Path, str]]:
    """Write every key image as ``folder/key_NNNN.png`` (atomically); return ``(path, sha256)`` per image."""
    folder = Path(folder)
    out = []
    for i, image in enumerate(key_set.images):
        path = write_png(folder / key_file_name(i), image)
        out.append((path, png_sha256(path)))
    return out


def load_key_set(paths: list[Path], owner_key: Ed25519PublicKey, user_id: int, channels: int | None = None
                 ) -> KeySet:
    """Read PNG key images and verify that each carries ``user_id``'s owner-signed fingerprint at its index.

    Raises
    ------
    KeySetError
        Naming the file: not PNG (e.g. JPEG re-encoded), corrupt, no or altered fingerprint, a fingerprint of
        another user, or an index out of place.
    """
    if not paths:
        raise KeySetError(f"user {user_id} has no key images")
    images = []
    for i, path in enumerate(paths):
        try:
            image = read_png(path, channels)
            fp = read_fingerprint(image, owner_key, source=str(path))
        except (StegoError, FingerprintError) as exc:
            raise KeySetError(str(exc)) from exc
        if fp.user_id != user_id or fp.key_index != i:
            raise KeySetError(f"{path}: carries the fingerprint of user {fp.user_id} key {fp.key_index}, expected "
                              f"user {user_id} key {i}")
        images.append(image)
    return KeySet(user_id, np.stack(images))
