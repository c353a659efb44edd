"""Training augmentations: small callables ``aug(sample, rng) -> sample`` chained like SeisBench's generators.

A *sample* is a dict with ``"h"`` (``(3, n)`` Hx, Hy, Hz in nT, float64), ``"y"`` (``(n,)`` per-sample
sferic label) and ``"rate_hz"``. Each augmentation fires with probability ``p`` and returns a new dict;
the label changes only where the augmentation moves samples (:class:`TimeShift`). Random noise, powerline,
spikes and channel dropout leave the labels alone: the network must learn that they are not sferics.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> s = {"h": np.ones((3, 8)), "y": np.zeros(8), "rate_hz": 24000.0}
>>> Polarity(p=1.0)(s, rng)["h"][0, 0]
np.float64(-1.0)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce

import numpy as np

Sample = dict
Augmentation = Callable[[Sample, np.random.Generator], Sample]


def compose(chain: Sequence[Augmentation]) -> Augmentation:
    """One augmentation applying ``chain`` in order."""

    def apply(sample: Sample, rng: np.random.Generator) -> Sample:
        return reduce(lambda s, f: f(s, rng), chain, sample)

    return apply


def _horizontal_power(h: np.ndarray) -> float:
    return float(np.mean(h[0] ** 2 + h[1] ** 2)) or 1.0


@dataclass(frozen=True)
class ScaleAmplitude:
    """Multiply all channels by a log-uniform factor in ``[low, high]``."""

    low: float = 0.1
    high: float = 10.0
    p: float = 1.0

    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return s
        return {**s, "h": s["h"] * np.exp(rng.uniform(np.log(self.low), np.log(self.high)))}


@dataclass(frozen=True)
class Polarity:
    """Flip the sign of every channel (a stroke of the other polarity, or sensors wired the other way)."""

    p: float = 0.5

    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
        return {**s, "h": -s["h"]} if rng.random() < self.p else s


@dataclass(frozen=True)
class TimeShift:
    """Crop ``n`` samples at a random offset from a longer sample (labels move with the data)."""

    n: int

    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
        total = s["h"].shape[1]
        if total < self.n:
            raise ValueError(f"TimeShift: sample has {total} samples, fewer than the {self.n} requested")
        i = int(rng.integers(0, total - self.n + 1))
        return {**s, "h": s["h"][:, i : i + self.n], "y": s["y"][i : i + self.n]}


@dataclass(frozen=True)
class RotateHorizontal:
    """Rotate (Hx, Hy) by a uniform angle: sensors laid out at any azimuth, sources from any bearing."""

    p: float = 1.0

    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return s
        a = rng.uniform(0, 2 * np.pi)
        h = s["h"].copy()
        h[0], h[1] = np.cos(a) * s["h"][0] - np.sin(a) * s["h"][1], np.sin(a) * s["h"][0] + np.cos(a) * s["h"][1]
        return {**s, "h": h}


@dataclass(frozen=True)
class AddNoise:
    """Add white Gaussian noise at a random SNR (dB) relative to the sample's horizontal power."""

    snr_db: tuple[float, float] = (0.0, 30.0)
    p: float = 0.5

    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return s
        power = _horizontal_power(s["h"]) / 10 ** (rng.uniform(*self.snr_db) / 10)
        return {**s, "h": s["h"] + np.sqrt(power / 2) * rng.standard_normal(s["h"].shape)}


@dataclass(frozen=True)
class Powerline:
    """Add 50 or 60 Hz with odd harmonics up to ``max_hz``; amplitude log-uniform relative to the RMS."""

    ratio: tuple[float, float] = (0.1, 30.0)
    max_hz: float = 3000.0
    p: float = 0.5

    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return s
        n = s["h"].shape[1]
        t = np.arange(n) / s["rate_hz"]
        f0 = float(rng.choice([50.0, 60.0]))
        amp = np.sqrt(_horizontal_power(s["h"])) * np.exp(rng.uniform(*np.log(self.ratio)))
        out = s["h"].copy()
        for k in range(1, int(self.max_hz / f0) + 1, 2):
            out += (amp / k**1.5) * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi, (3, 1)))
        return {**s, "h": out}


@dataclass(frozen=True)
class ChannelDropout:
    """Zero one channel (a dead sensor or cable); Hz is dropped twice as often as a horizontal channel."""

    p: float = 0.1

    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return s
        h = s["h"].copy()
        h[int(rng.choice(3, p=[0.25, 0.25, 0.5]))] = 0.0
        return {**s, "h": h}


@dataclass(frozen=True)
class Spikes:
    """Add 1-5 single-sample spikes of 10-100 times the horizontal RMS (not sferics: labels unchanged)."""

    p: float = 0.3

    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return s
        h = s["h"].copy()
        k = int(rng.integers(1, 6))
        idx = rng.integers(0, h.shape[1], k)
        rms = np.sqrt(_horizontal_power(h))
        h[:, idx] += rng.choice([-1.0, 1.0], (3, k)) * rng.uniform(10, 100, (3, k)) * rms
        return {**s, "h": h}


def default_chain() -> list[Augmentation]:
    """The augmentations of the default training run, before the final crop."""
    return [
        ScaleAmplitude(),
        Polarity(),
        RotateHorizontal(),
        AddNoise(),
        Powerline(),
        ChannelDropout(),
        Spikes(),
    ]
