"""Least-significant-bit steganography in 8-bit images, and lossless PNG storage.

The payload is written into the least significant bit of every 8-bit value of the image in C (raster, then channel)
order, one bit per value, most significant bit of each byte first, framed as::

    MAGIC (2 bytes) | payload length (uint16, big-endian) | payload | CRC-32 of the payload (uint32, big-endian)

Capacity: an H x W x C image holds ``floor(H W C / 8) - 8`` payload bytes (MNIST 28x28x1: 90 bytes; CIFAR-10
32x32x3: 376 bytes). Changing only the LSB alters each value by at most 1 of 255. LSB embedding is the classic
spatial-domain method (e.g. Cheddad et al., "Digital image steganography: survey and analysis of current methods",
Signal Processing 90, 2010); it does not survive lossy re-encoding (JPEG), which is why key images are PNG files.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np

from dnnsec.errors import DnnsecError
from shared.atomic import write_bytes_atomic

MAGIC = b"\xf1\x9e"
_HEADER = struct.Struct(">2sH")
_CRC = struct.Struct(">I")
OVERHEAD_BYTES = _HEADER.size + _CRC.size


class StegoError(DnnsecError):
    """An image cannot carry, or does not carry, a readable payload; the message says why."""


def capacity_bytes(shape: tuple[int, ...]) -> int:
    """Payload bytes an 8-bit image of ``shape`` can hold (one bit per value, minus the frame)."""
    return max(int(np.prod(shape)) // 8 - OVERHEAD_BYTES, 0)


def _check_image(image: np.ndarray, source: str) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise StegoError(f"{source}: steganography needs 8-bit pixels (uint8), got {arr.dtype}")
    if arr.ndim not in (2, 3):
        raise StegoError(f"{source}: expected an H x W or H x W x C image, got shape {arr.shape}")
    return arr


def embed_lsb(image: np.ndarray, payload: bytes, source: str = "image") -> np.ndarray:
    """Return a copy of ``image`` whose least significant bits carry ``payload`` (framed with a CRC-32).

    Raises
    ------
    StegoError
        If the image is not 8-bit or the payload exceeds :func:`capacity_bytes`.
    """
    arr = _check_image(image, source)
    cap = capacity_bytes(arr.shape)
    if len(payload) > min(cap, 0xFFFF):
        raise StegoError(f"{source}: payload of {len(payload)} bytes exceeds the capacity of {cap} bytes "
                         f"of a {arr.shape} image")
    frame = _HEADER.pack(MAGIC, len(payload)) + payload + _CRC.pack(zlib.crc32(payload))
    bits = np.unpackbits(np.frombuffer(frame, dtype=np.uint8))
    flat = arr.reshape(-1).copy()
    flat[: bits.size] = (flat[: bits.size] & 0xFE) | bits
    return flat.reshape(arr.shape)


def extract_lsb(image: np.ndarray, source: str = "image") -> bytes:
    """Read the payload that :func:`embed_lsb` hid in ``image``.

    Raises
    ------
    StegoError
        If no frame is present (the image never carried one, or lossy re-encoding wiped it), the length is
        impossible, or the CRC-32 fails (corrupted bits).
    """
    arr = _check_image(image, source)
    lsb = np.packbits(arr.reshape(-1) & 1).tobytes()
    if len(lsb) < OVERHEAD_BYTES:
        raise StegoError(f"{source}: image of shape {arr.shape} is too small to carry a fingerprint")
    magic, length = _HEADER.unpack_from(lsb, 0)
    if magic != MAGIC:
        raise StegoError(f"{source}: no fingerprint in the least significant bits (frame marker missing): the image "
                         "never carried one, or lossy re-encoding (e.g. JPEG) destroyed it")
    end = _HEADER.size + length
    if end + _CRC.size > len(lsb):
        raise StegoError(f"{source}: fingerprint frame claims {length} bytes, more than the image holds")
    payload = lsb[_HEADER.size:end]
    (crc,) = _CRC.unpack_from(lsb, end)
    if crc != zlib.crc32(payload):
        raise StegoError(f"{source}: fingerprint checksum fails: the image's least significant bits were altered "
                         "(corrupt file or re-encoding)")
    return payload


def content_bits(image: np.ndarray) -> np.ndarray:
    """The image with every least significant bit cleared: what the fingerprint's signature covers."""
    return np.asarray(image, dtype=np.uint8) & np.uint8(0xFE)


#: Bounds on a key image read back from disk (untrusted): file size in bytes and pixels per side.
MAX_KEY_FILE_BYTES, MAX_KEY_SIDE = 1 << 20, 256


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write an 8-bit grey (H x W or H x W x 1) or RGB (H x W x 3) image as a lossless PNG, atomically."""
    from PIL import Image

    arr = _check_image(image, str(path))
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3 and arr.shape[2] != 3:
        raise StegoError(f"{path}: PNG key images are grey or RGB, got {arr.shape[2]} channels")
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return write_bytes_atomic(path, buf.getvalue())


def read_png(path: str | Path, channels: int | None = None) -> np.ndarray:
    """Read a PNG key image as uint8 H x W x C, refusing lossy formats and unreadable files.

    Parameters
    ----------
    path
        The file.
    channels
        If given (1 or 3), refuse an image with another channel count.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        if path.stat().st_size > MAX_KEY_FILE_BYTES:
            raise StegoError(f"{path}: key image of {path.stat().st_size} bytes exceeds the {MAX_KEY_FILE_BYTES} "
                             "bytes a key image may have")
        with Image.open(path) as im:
            fmt = im.format
            if max(im.size) > MAX_KEY_SIDE:
                raise StegoError(f"{path}: key image of {im.size[0]} x {im.size[1]} pixels exceeds {MAX_KEY_SIDE} "
                                 "pixels a side")
            im.load()
            arr = np.asarray(im)
    except FileNotFoundError as exc:
        raise StegoError(f"{path}: key image not found") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise StegoError(f"{path}: not a readable image (corrupt or truncated): {exc}") from exc
    if fmt != "PNG":
        raise StegoError(f"{path}: key image is {fmt}, not PNG: lossy formats destroy the LSB fingerprint")
    if arr.dtype != np.uint8:
        raise StegoError(f"{path}: key image must have 8-bit channels, got {arr.dtype}")
    arr = arr[:, :, None] if arr.ndim == 2 else arr
    if channels is not None and arr.shape[2] != channels:
        raise StegoError(f"{path}: key image has {arr.shape[2]} channels, expected {channels}")
    return np.ascontiguousarray(arr)
