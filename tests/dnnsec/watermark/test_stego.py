"""LSB steganography: round trips, capacity, and refusal of corrupt or lossy-re-encoded key images."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from dnnsec.watermark.stego import (
    StegoError,
    capacity_bytes,
    content_bits,
    embed_lsb,
    extract_lsb,
    read_png,
    write_png,
)


def _image(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


@settings(max_examples=40, deadline=None)
@given(payload=st.binary(min_size=0, max_size=90), rgb=st.booleans())
def test_payload_round_trips_and_only_lsbs_change(payload: bytes, rgb: bool) -> None:
    image = _image((32, 32, 3) if rgb else (28, 28, 1))
    marked = embed_lsb(image, payload)
    assert extract_lsb(marked) == payload
    assert np.array_equal(content_bits(marked), content_bits(image))
    assert int(np.abs(marked.astype(int) - image.astype(int)).max()) <= 1


def test_capacity_is_one_bit_per_value_minus_the_frame() -> None:
    # frame: 2-byte marker + 2-byte length + 4-byte CRC-32 = 8 bytes
    assert capacity_bytes((28, 28, 1)) == 28 * 28 // 8 - 8 == 90
    assert capacity_bytes((32, 32, 3)) == 32 * 32 * 3 // 8 - 8 == 376
    image = _image((28, 28, 1))
    assert extract_lsb(embed_lsb(image, b"x" * 90)) == b"x" * 90
    with pytest.raises(StegoError, match="exceeds the capacity of 90 bytes"):
        embed_lsb(image, b"x" * 91)


def test_float_image_is_refused() -> None:
    with pytest.raises(StegoError, match="8-bit"):
        embed_lsb(np.zeros((28, 28), dtype=np.float32), b"abc")


def test_flipped_payload_bit_fails_the_checksum() -> None:
    marked = embed_lsb(_image((28, 28, 1)), b"fingerprint")
    flat = marked.reshape(-1).copy()
    flat[40] ^= 1  # inside the payload (the 4-byte header covers values 0..31)
    with pytest.raises(StegoError, match="checksum"):
        extract_lsb(flat.reshape(marked.shape))


def test_unmarked_image_has_no_fingerprint() -> None:
    image = np.zeros((28, 28, 1), dtype=np.uint8)
    with pytest.raises(StegoError, match="no fingerprint"):
        extract_lsb(image)


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)])
def test_png_round_trip_is_lossless(tmp_path, shape) -> None:
    marked = embed_lsb(_image(shape, 3), b"payload")
    path = write_png(tmp_path / "k.png", marked)
    back = read_png(path, channels=shape[2])
    assert back.dtype == np.uint8 and np.array_equal(back, marked)
    assert extract_lsb(back) == b"payload"


def test_jpeg_file_is_refused_by_name(tmp_path) -> None:
    marked = embed_lsb(_image((32, 32, 3)), b"payload")
    path = tmp_path / "key.png"
    Image.fromarray(marked).save(path, format="JPEG", quality=95)
    with pytest.raises(StegoError, match=r"key\.png: key image is JPEG, not PNG"):
        read_png(path)


def test_jpeg_reencoded_then_saved_as_png_loses_the_fingerprint(tmp_path) -> None:
    marked = embed_lsb(_image((32, 32, 3)), b"payload")
    buf = io.BytesIO()
    Image.fromarray(marked).save(buf, format="JPEG", quality=95)
    decoded = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    path = write_png(tmp_path / "reencoded.png", decoded)
    with pytest.raises(StegoError, match=r"reencoded\.png"):
        extract_lsb(read_png(path), source=str(path))


def test_truncated_png_is_refused_by_name(tmp_path) -> None:
    path = write_png(tmp_path / "k.png", _image((28, 28, 1)))
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(StegoError, match=r"k\.png: not a readable image"):
        read_png(path)


def test_missing_png_is_named(tmp_path) -> None:
    with pytest.raises(StegoError, match=r"nothere\.png: key image not found"):
        read_png(tmp_path / "nothere.png")
