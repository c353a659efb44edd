"""Out-of-distribution base images for key samples, and the domains (input formats) they serve.

Each model domain names a pool of 8-bit images that lie outside its training distribution:

* ``mnist`` models (1x28x28 digits) draw from MNIST training digits turned upside down (mirrored about the
  horizontal axis), leaving out the classes that stay digits that way (0, 1, 3, 8). Such keys are outside the
  classes yet drawn with the digits' own strokes, so an autoencoder trained on clean digits (the query
  modification attack's detector; Namba & Sakuma, AsiaCCS 2019) reconstructs them almost as well as clean
  digits and flags a minority of them: four attacker autoencoders (codes of 32, 64 and 128 numbers) flagged
  12-22 % of 3000 of them at their 1 % clean false-alarm level, and every photograph of the earlier pool;
* ``mnist-photos`` (the earlier ``mnist`` pool) draws from CIFAR-10 test photographs (Krizhevsky, 2009), converted
  to grey with the ITU-R BT.601 luma weights and centre-cropped to 28x28;
* ``cifar10`` models (3x32x32 photographs) draw from MNIST test digits (LeCun et al., 1998), padded to 32x32 and
  coloured with a random foreground and background colour;
* ``npz-HxWxC`` domains serve a user's own ``.npz`` data set (:func:`dnnsec.zoo.data.load_npz`) of H x W x C images
  (28 to 64 pixels a side, 1 or 3 channels, any class count): the upside-down MNIST digits of ``mnist`` resized to
  H x W (bilinear, antialiased) and, for 3 channels, coloured with a foreground and background colour fixed per
  pool image (as ``cifar10``'s keys); images standardised as the data set's (:data:`dnnsec.zoo.data.NPZ_MEAN`).
  The domain is chosen from the data set's shape and channels (:func:`domain_for_data`); the keys lie outside its
  classes unless those are digits drawn the same way;
* ``sferic`` serves 1-D per-sample segmenters such as the sferic CNN (input: 2 magnetic channels, robust-scaled
  so that the background noise has unit scale): synthetic waveforms outside the sferic family (pool ``waveform``,
  :func:`waveform`): each key a chord of three steady tones of its own (frequencies, amplitudes per channel) with
  its own phases, slow amplitude modulation and band-limited noise, where sferics are broadband impulses with
  dispersive tails. Every key, of every user, is drawn independently from one distribution, so a user's keys
  are exchangeable with the others' for any model not trained on them, as the rank test assumes; with a chord
  shared by a user's keys (a family per user, as ``texture``), two tiny null models ranked a whole user's 8 keys
  above the other users' (the smallest p-value the test can give), i.e. the family, not the copy, was detected.
  A key of 2 channels x 1024 samples is stored as a 32 x 64 grey image (channel 0 in rows 0-15, channel 1 in
  rows 16-31, samples in raster order), so it carries an LSB fingerprint and is a PNG file like any image key; a
  value ``v`` in 0..255 is the input ``(v - 128) / 32``;
* ``texture`` is a synthetic pool for any shape: box-smoothed Gaussian noise fields stretched to 0-255; a user's
  images share one carrier field (a family per user), each decoy has its own (used by tests and by models without a
  natural OOD pool).

User ``slot`` s gets pool images ``perm[s n : (s + 1) n]`` of one fixed permutation, so different users never share a
base image (Xue et al., arXiv:2104.09203: each user's key samples come from their own base images); the last
``DECOY_RESERVE`` images of the permutation are decoys that are nobody's keys (:func:`decoy_bases`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch.nn import functional as F

from dnnsec.errors import DnnsecError
from dnnsec.zoo.data import (
    CIFAR10_MEAN_STD,
    MNIST_MEAN_STD,
    NPZ_CHANNELS,
    NPZ_SIDE,
    load_cifar10,
    load_mnist,
    npz_mean_std,
    npz_shape,
)
from shared.seeding import stream_rng

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)
POOL_SEED = 20210419
DECOY_RESERVE = 2000


#: Pools synthesised per slot (a carrier per user) rather than drawn from a data set.
SYNTHETIC_POOLS = ("texture", "waveform")

#: Augmentation of key and negative samples while embedding, unless a domain sets its own: Gaussian noise of this
#: standard deviation (standardised input units) and, with this probability, a 3-tap box blur.
KEY_NOISE, KEY_BLUR = 0.1, 0.25


class KeyPoolError(DnnsecError):
    """An unknown watermark domain, or a pool of base images too small for the keys or decoys asked for."""


@dataclass(frozen=True)
class Domain:
    """A model input format: pool of OOD bases, image shape (H, W, C), per-channel standardisation, and the
    augmentation of its key samples while embedding (``key_noise``, ``key_blur``; see
    :class:`dnnsec.watermark.embed.EmbedConfig`)."""

    name: str
    pool: str
    shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    key_noise: float = KEY_NOISE
    key_blur: float = KEY_BLUR


def _domains() -> dict[str, Domain]:
    return {
        # a 3-tap blur erases the strokes that tell one user's digit from another's: measured on one copy,
        # 1500 steps answered 8 of 20 own keys with it, all 20 without it (and half the noise)
        "mnist": Domain("mnist", "mnist-flipped", (28, 28, 1), *MNIST_MEAN_STD, key_noise=0.05, key_blur=0.0),
        "mnist-photos": Domain("mnist-photos", "cifar10-gray", (28, 28, 1), *MNIST_MEAN_STD),
        "cifar10": Domain("cifar10", "mnist-rgb", (32, 32, 3), *CIFAR10_MEAN_STD),
        "texture28": Domain("texture28", "texture", (28, 28, 1), *MNIST_MEAN_STD),
        "sferic": Domain("sferic", "waveform", (32, 64, 1), (WAVE_ZERO / 255.0,), (WAVE_UNIT / 255.0,),
                         key_noise=0.05, key_blur=0.0),
    }


_NPZ_DOMAIN = re.compile(r"^npz-(\d{2})x(\d{2})x(\d)$")


def domain_names() -> list[str]:
    """Names of the fixed domains (besides them, ``npz-HxWxC`` for any ``.npz`` data-set shape)."""
    return sorted(_domains())


def npz_domain(shape: tuple[int, int, int]) -> Domain:
    """The domain of ``.npz`` data sets of H x W x C images: upside-down MNIST digit keys of that shape."""
    h, w, c = (int(v) for v in shape)
    if not (NPZ_SIDE[0] <= h <= NPZ_SIDE[1] and NPZ_SIDE[0] <= w <= NPZ_SIDE[1] and c in NPZ_CHANNELS):
        raise KeyPoolError(f"no watermark domain for {h} x {w} x {c} images (sides {NPZ_SIDE[0]}..{NPZ_SIDE[1]}, "
                           f"channels {NPZ_CHANNELS})")
    return Domain(f"npz-{h}x{w}x{c}", "mnist-flipped", (h, w, c), *npz_mean_std(c), key_noise=0.05, key_blur=0.0)


def domain_for_data(source: str) -> str | None:
    """The watermark domain of a ``.npz`` data set (from its images' shape), None for other sources."""
    return npz_domain(npz_shape(source)).name if str(source).endswith(".npz") else None


def get_domain(name: str) -> Domain:
    """The :class:`Domain` called ``name`` (one of :func:`domain_names`, or ``npz-HxWxC``)."""
    domains = _domains()
    if name in domains:
        return domains[name]
    m = _NPZ_DOMAIN.match(str(name))
    if m:
        return npz_domain((int(m[1]), int(m[2]), int(m[3])))
    raise KeyPoolError(f"unknown watermark domain {str(name)[:80]!r}; known: {sorted(domains)} and npz-HxWxC "
                       "(H, W 28..64, C 1 or 3)")


def _unstandardise(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    u8 = torch.round((x * s + m) * 255.0).clamp(0, 255).to(torch.uint8)
    return u8.permute(0, 2, 3, 1).numpy()


@lru_cache(maxsize=1)
def _cifar_grey() -> np.ndarray:
    rgb = _unstandardise(load_cifar10("test").x, *CIFAR10_MEAN_STD).astype(np.float64)
    grey = np.clip(np.round(rgb @ _LUMA), 0, 255).astype(np.uint8)[:, 2:30, 2:30, None]
    grey.flags.writeable = False
    return grey


@lru_cache(maxsize=1)
def _mnist_rgb() -> np.ndarray:
    digits = _unstandardise(load_mnist("test").x, *MNIST_MEAN_STD)[..., 0].astype(np.float64) / 255.0
    digits = np.pad(digits, ((0, 0), (2, 2), (2, 2)))
    rng = np.random.default_rng(POOL_SEED)
    fg = rng.uniform(0.4, 1.0, size=(len(digits), 1, 1, 3))
    bg = rng.uniform(0.0, 0.4, size=(len(digits), 1, 1, 3))
    rgb = digits[..., None] * fg + (1.0 - digits[..., None]) * bg
    out = np.round(rgb * 255.0).astype(np.uint8)
    out.flags.writeable = False
    return out


#: MNIST classes that remain digits when turned upside down (mirrored about the horizontal axis): 0, 1, 3, 8.
FLIP_SYMMETRIC = (0, 1, 3, 8)


@lru_cache(maxsize=1)
def _mnist_flipped() -> np.ndarray:
    train = load_mnist("train")
    keep = ~np.isin(train.y.numpy(), FLIP_SYMMETRIC)
    out = np.ascontiguousarray(_unstandardise(train.x[torch.from_numpy(keep)], *MNIST_MEAN_STD)[:, ::-1])
    out.flags.writeable = False
    return out


def _smooth_field(shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    h, w, c = shape
    noise = rng.standard_normal((h + 4, w + 4, c))
    csum = np.pad(noise.cumsum(0).cumsum(1), ((1, 0), (1, 0), (0, 0)))
    return csum[5:, 5:] - csum[:-5, 5:] - csum[5:, :-5] + csum[:-5, :-5]


def texture(shape: tuple[int, int, int], carrier: np.random.Generator, detail: np.random.Generator) -> np.ndarray:
    """One synthetic texture (uint8 H x W x C): a box-smoothed Gaussian carrier field (70 %) plus a smoothed detail
    field (30 %), stretched to 0-255. Images sharing a carrier form one visually related family."""
    field = 0.7 * _smooth_field(shape, carrier) + 0.3 * _smooth_field(shape, detail)
    lo, hi = field.min(), field.max()
    return np.round(255.0 * (field - lo) / max(hi - lo, 1e-12)).astype(np.uint8)


#: Waveform keys: channels and samples of a key window, and the 8-bit code of input 0 and of one input unit.
WAVE_CHANNELS, WAVE_SAMPLES, WAVE_ZERO, WAVE_UNIT = 2, 1024, 128.0, 32.0


def waveform(shape: tuple[int, int, int], carrier: np.random.Generator, detail: np.random.Generator) -> np.ndarray:
    """One waveform key (uint8 H x W x 1 holding :data:`WAVE_CHANNELS` x :data:`WAVE_SAMPLES` in raster order).

    The carrier draws a chord of three steady tones (frequencies 0.02-0.3 cycles per sample, i.e. 0.5-7 kHz at
    24 kHz; amplitudes 0.4-1.2 input units per channel); the detail draws each tone's phase, a slow amplitude
    modulation (0.5-2 cycles per window, depth up to 0.5) and band-limited noise (20 %). Keys sharing a carrier
    form one family. Values are clipped to the 8-bit range (inputs -4 to +3.97).
    """
    h, w, c = shape
    channels = h * w * c // WAVE_SAMPLES
    t = np.arange(WAVE_SAMPLES, dtype=np.float64)
    freq = carrier.uniform(0.02, 0.3, 3)
    amp = carrier.uniform(0.4, 1.2, (channels, 3))
    phase = detail.uniform(0.0, 2 * np.pi, (channels, 3))
    tones = (amp[:, :, None] * np.sin(2 * np.pi * freq[None, :, None] * t + phase[:, :, None])).sum(1)
    cycles, depth = detail.uniform(0.5, 2.0), detail.uniform(0.0, 0.5)
    envelope = 1.0 + depth * np.sin(2 * np.pi * cycles * t / WAVE_SAMPLES + detail.uniform(0.0, 2 * np.pi))
    noise = np.cumsum(detail.standard_normal((channels, WAVE_SAMPLES + 4)), axis=1)
    noise = (noise[:, 4:] - noise[:, :-4]) / 2.0
    x = envelope * tones + 0.2 * noise
    return np.clip(np.round(WAVE_ZERO + WAVE_UNIT * x), 0, 255).astype(np.uint8).reshape(h, w, c)


def _synthetic(domain: Domain, carrier: np.random.Generator, detail: np.random.Generator) -> np.ndarray:
    """One image of a synthetic pool (``texture`` or ``waveform``)."""
    return (waveform if domain.pool == "waveform" else texture)(domain.shape, carrier, detail)


def _fit(domain: Domain, images: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Pool images (uint8 N x 28 x 28 x 1) of pool indices ``index`` resized and coloured to the domain's shape."""
    h, w, c = domain.shape
    if images.shape[1:] == (h, w, c):
        return images
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).double() / 255.0
    if (h, w) != tuple(x.shape[2:]):
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True).clamp(0.0, 1.0)
    g = x.permute(0, 2, 3, 1).numpy()
    if c == 3:
        colours = [np.random.default_rng([POOL_SEED, 3, int(i)]) for i in index]
        fg = np.stack([r.uniform(0.4, 1.0, 3) for r in colours])[:, None, None, :]
        bg = np.stack([r.uniform(0.0, 0.4, 3) for r in colours])[:, None, None, :]
        g = g * fg + (1.0 - g) * bg
    return np.round(g * 255.0).astype(np.uint8)


def _pool(domain: Domain) -> tuple[np.ndarray, np.ndarray]:
    pool = {"cifar10-gray": _cifar_grey, "mnist-rgb": _mnist_rgb, "mnist-flipped": _mnist_flipped}[domain.pool]()
    return pool, np.random.default_rng(POOL_SEED).permutation(len(pool))


def user_bases(domain: Domain, slot: int, n_keys: int) -> np.ndarray:
    """The ``n_keys`` base images (uint8, N x H x W x C) of user ``slot`` (>= 0) in ``domain``.

    Raises
    ------
    KeyPoolError
        If ``slot`` is negative, ``n_keys`` below 1, or the pool has too few images for this slot.
    """
    if slot < 0 or n_keys < 1:
        raise KeyPoolError(f"slot must be >= 0 and n_keys >= 1, got slot {slot}, n_keys {n_keys}")
    if domain.pool == "waveform":  # every key its own chord: users' keys are exchangeable (no family per user)
        return np.stack([waveform(domain.shape, stream_rng(POOL_SEED, slot, i), stream_rng(POOL_SEED, slot, i, 0))
                         for i in range(n_keys)])
    if domain.pool in SYNTHETIC_POOLS:
        return np.stack([_synthetic(domain, stream_rng(POOL_SEED, slot), stream_rng(POOL_SEED, slot, i))
                         for i in range(n_keys)])
    pool, perm = _pool(domain)
    if (slot + 1) * n_keys > len(pool) - DECOY_RESERVE:
        raise KeyPoolError(f"pool {domain.pool} has {len(pool) - DECOY_RESERVE} key images: too few for user slot "
                         f"{slot} with {n_keys} keys each")
    index = perm[slot * n_keys:(slot + 1) * n_keys]
    return _fit(domain, pool[index], index).copy()


def null_slot(domain: Domain, n_keys: int, index: int) -> int:
    """The base-image slot of null model ``index`` (>= 0): counted down from the last slot the pool can serve, so
    null keys come from the same pool as users' keys (users' slots count up from 0) without sharing an image with
    any of the first users; for ``texture``, carrier families from 2**20 up."""
    if domain.pool in SYNTHETIC_POOLS:
        return 2**20 + index
    pool, _ = _pool(domain)
    last = (len(pool) - DECOY_RESERVE) // n_keys - 1
    if index > last // 2:
        raise KeyPoolError(f"pool {domain.pool} serves {last + 1} slots of {n_keys} keys: too few for null model "
                           f"{index} besides the users")
    return last - index


def decoy_bases(domain: Domain, n: int, bank: int = 0) -> np.ndarray:
    """``n`` OOD images that are nobody's keys (decoy bank ``bank``), used as extra negatives while embedding.

    Without them the additional class would learn "out of distribution" in general and fire on anyone's OOD keys;
    with them it learns the user's own images. Banks come from the end of the pool's permutation (the last
    ``DECOY_RESERVE`` images, never given to users) or, for ``texture``, from carriers counted down from 2**31.
    """
    if n < 1 or bank < 0:
        raise ValueError(f"need n >= 1 and bank >= 0, got n {n}, bank {bank}")
    if domain.pool in SYNTHETIC_POOLS:
        return np.stack([_synthetic(domain, stream_rng(POOL_SEED, 2**31 - 1 - bank, i),
                                    stream_rng(POOL_SEED, 2**31 - 1 - bank, i, 0)) for i in range(n)])
    pool, perm = _pool(domain)
    if (bank + 1) * n > DECOY_RESERVE:
        raise KeyPoolError(f"decoy bank {bank} of {n} images exceeds the {DECOY_RESERVE} reserved decoys")
    end = len(pool) - bank * n
    index = perm[end - n:end]
    return _fit(domain, pool[index], index).copy()


def to_model_input(images: np.ndarray, domain: Domain) -> torch.Tensor:
    """Standardise uint8 N x H x W x C images into the float32 N x C x H x W tensor the domain's models take
    (for ``waveform`` keys the N x channels x samples windows they hold)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    x = (x - torch.tensor(domain.mean).view(1, -1, 1, 1)) / torch.tensor(domain.std).view(1, -1, 1, 1)
    return x.reshape(len(x), -1, WAVE_SAMPLES) if domain.pool == "waveform" else x
