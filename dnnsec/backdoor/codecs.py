"""Lossy image codec round trips through Pillow: JPEG, JPEG 2000 and WEBP at a quality from 1 to 100.

JPEG (libjpeg, 4:2:0 chroma subsampling for colour) and WEBP (libwebp, lossy) take the quality directly. JPEG 2000
(OpenJPEG) has no quality setting; quality ``q`` maps to a target PSNR of ``20 + 0.2 q`` dB of the first quality
layer (q = 10: 22 dB, q = 50: 30 dB, q = 90: 38 dB), about the PSNR JPEG reaches on CIFAR-10 at the same ``q``.
Used by the compression-resistant backdoor (Xue et al., "Compression-resistant backdoor attack against deep
neural networks", Applied Intelligence 53 (2023), arXiv:2201.00672).
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

CODECS = ("jpeg", "jpeg2000", "webp")


def _save_kwargs(codec: str, quality: int) -> dict:
    if codec == "jpeg":
        return {"format": "JPEG", "quality": quality}
    if codec == "webp":
        return {"format": "WEBP", "quality": quality, "lossless": False}
    if codec == "jpeg2000":
        return {"format": "JPEG2000", "quality_mode": "dB", "quality_layers": [20.0 + 0.2 * quality],
                "irreversible": True}
    raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")


def round_trip(x: torch.Tensor, codec: str, quality: int) -> torch.Tensor:
    """Encode and decode every image of ``x`` (N, C, H, W; C = 1 or 3; intensities in [0, 1]).

    Returns a tensor of the same shape and dtype on 8-bit levels k / 255.
    """
    if not 1 <= quality <= 100:
        raise ValueError(f"codec quality must lie in 1..100, got {quality}")
    kwargs = _save_kwargs(codec, int(quality))
    pixels = torch.round(x.detach().clamp(0, 1) * 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    out = np.empty_like(pixels)
    for i, img in enumerate(pixels):
        mode, arr = ("L", img[..., 0]) if img.shape[-1] == 1 else ("RGB", img)
        buf = io.BytesIO()
        Image.fromarray(arr, mode).save(buf, **kwargs)
        buf.seek(0)
        with Image.open(buf) as im:
            dec = np.asarray(im.convert(mode), dtype=np.uint8)
        out[i] = dec.reshape(img.shape)
    return (torch.from_numpy(out).permute(0, 3, 1, 2).to(x.dtype) / 255.0).to(x.device)


def random_round_trip(x: torch.Tensor, codecs: tuple[str, ...], rng: np.random.Generator,
                      qualities: tuple[int, int] = (10, 90)) -> torch.Tensor:
    """Round-trip each image through a codec drawn from ``codecs`` at a quality drawn uniformly from ``qualities``."""
    out = torch.empty_like(x)
    picks = rng.integers(0, len(codecs), size=len(x))
    q = rng.integers(qualities[0], qualities[1] + 1, size=len(x))
    for i in range(len(x)):
        out[i:i + 1] = round_trip(x[i:i + 1], codecs[picks[i]], int(q[i]))
    return out
