"""Training augmentations: small callables ``aug(sample, rng) -> sample`` chained like SeisBench's generators.

A *sample* is a dict with ``"h"`` (``(3, n)`` Hx, Hy, Hz in nT, float64), ``"y"`` (``(n,)`` per-sample sferic label) and
``"rate_hz"``. Each augmentation fires with probability ``p`` and returns a new dict; the label changes only where the
augmentation moves samples (:class:`TimeShift`). Random noise, powerline, impulse trains, spikes and channel dropout
leave the labels alone: the network must learn that they are not sferics. Added noise and interference are sized against
the sample's *band noise power*: the horizontal power in the 1-10 kHz label band outside the labelled sferics
(:func:`band_noise_power`), the ``P_n`` of the synthetic field's SNR (docs/acceptance.md#synthetic-labels-and-snr).
Sizing them against the total power instead (dominated by powerline and drift, which the high-pass removes) would bury
labelled sferics far below their drawn SNR while keeping their labels.

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
from functools import reduce, wraps

import numpy as np

from amt.synth.records import LABEL_BAND_HZ, band_limit, sferic_waveforms

Sample = dict
Augmentation = Callable[[Sample, np.random.Generator], Sample]


def compose(chain: Sequence[Augmentation]) -> Augmentation:
    """One augmentation applying ``chain`` in order."""

    def apply(sample: Sample, rng: np.random.Generator) -> Sample:
        return reduce(lambda s, f: f(s, rng), chain, sample)

    return apply


def _occasionally(apply: Callable) -> Callable:
    """Make an augmentation's ``__call__`` fire with probability ``self.p``: one uniform draw, else ``s`` unchanged."""

    @wraps(apply)
    def call(self, s: Sample, rng: np.random.Generator) -> Sample:
        return apply(self, s, rng) if rng.random() < self.p else s

    return call


def _horizontal_power(h: np.ndarray) -> float:
    return float(np.mean(h[0] ** 2 + h[1] ** 2)) or 1.0


def band_noise_power(s: Sample) -> float:
    """Horizontal power in the label band (1-10 kHz) outside the labelled samples, nT^2 (``P_n``).

    The sample is Hann-tapered before the FFT band-pass so that strong powerline and drift below the band do
    not leak into it; the taper's own weight is divided out.
    """
    taper = np.hanning(s["h"].shape[1])
    hb = band_limit(s["h"][:2] * taper, s["rate_hz"], LABEL_BAND_HZ)
    quiet = (np.asarray(s["y"]) < 0.5) if np.any(np.asarray(s["y"]) < 0.5) else np.ones(taper.size, dtype=bool)
    weight = float(np.sum(taper[quiet] ** 2))
    return (float(np.sum((hb[0] ** 2 + hb[1] ** 2)[quiet])) / weight if weight > 0 else 0.0) or 1.0


@dataclass(frozen=True)
class ScaleAmplitude:
    """Multiply all channels by a log-uniform factor in ``[low, high]``."""

    low: float = 0.1
    high: float = 10.0
    p: float = 1.0

    @_occasionally
    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
        return {**s, "h": s["h"] * np.exp(rng.uniform(np.log(self.low), np.log(self.high)))}


@dataclass(frozen=True)
class Polarity:
    """Flip the sign of every channel (a stroke of the other polarity, or sensors wired the other way)."""

    p: float = 0.5

    @_occasionally
    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
        return {**s, "h": -s["h"]}


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

    @_occasionally
    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
        a = rng.uniform(0, 2 * np.pi)
        h = s["h"].copy()
        h[0], h[1] = np.cos(a) * s["h"][0] - np.sin(a) * s["h"][1], np.sin(a) * s["h"][0] + np.cos(a) * s["h"][1]
        return {**s, "h": h}


@dataclass(frozen=True)
class AddNoise:
    """Add white Gaussian noise whose label-band power is ``snr_db`` (dB, drawn) below the band noise power.

    At the lower bound of 0 dB the noise power doubles, so a labelled sferic loses at most 3 dB of SNR.
    """

    snr_db: tuple[float, float] = (0.0, 30.0)
    p: float = 0.5

    @_occasionally
    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
        target = band_noise_power(s) / 10 ** (rng.uniform(*self.snr_db) / 10)
        noise = rng.standard_normal(s["h"].shape)
        nb = band_limit(noise[:2], s["rate_hz"], LABEL_BAND_HZ)
        return {**s, "h": s["h"] + noise * np.sqrt(target / float(np.mean(nb[0] ** 2 + nb[1] ** 2)))}


@dataclass(frozen=True)
class Powerline:
    """Add 50 or 60 Hz with odd harmonics up to ``max_hz``; amplitude log-uniform relative to the band noise RMS."""

    ratio: tuple[float, float] = (0.1, 30.0)
    max_hz: float = 3000.0
    p: float = 0.5

    @_occasionally
    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
        n = s["h"].shape[1]
        t = np.arange(n) / s["rate_hz"]
        f0 = float(rng.choice([50.0, 60.0]))
        amp = np.sqrt(band_noise_power(s)) * np.exp(rng.uniform(*np.log(self.ratio)))
        out = s["h"].copy()
        for k in range(1, int(self.max_hz / f0) + 1, 2):
            out += (amp / k**1.5) * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi, (3, 1)))
        return {**s, "h": out}


def _pulse(rng: np.random.Generator, rate_hz: float) -> np.ndarray:
    """One interference pulse (unit peak): a sferic-like waveguide transient or a decaying noise burst.

    Half the trains repeat a waveform of :func:`amt.synth.records.sferic_waveforms` itself, so that only the
    strict repetition, not the shape, tells interference from sferics; the other half repeat a random
    low-passed noise burst with an exponential envelope (time constant 0.05-1 ms).
    """
    if rng.random() < 0.5:
        wave = sferic_waveforms(np.array([rng.uniform(3e5, 3e6)]), bool(rng.random() < 0.5), rate_hz, "waveguide", rng)
        start, m = int(np.argmax(np.abs(wave[0]) > 0.01 * np.abs(wave[0]).max())), round(4e-3 * rate_hz)
        seg = wave[0, start : start + m]
        pulse = seg * np.hanning(2 * seg.size)[seg.size :]  # 4 ms, tapered
    else:
        tau = np.exp(rng.uniform(np.log(0.05e-3), np.log(1e-3))) * rate_hz
        t = np.arange(max(int(5 * tau), 4))
        smooth = np.ones(int(rng.integers(1, 7)))
        pulse = np.convolve(rng.standard_normal(t.size) * np.exp(-t / tau), smooth / smooth.size, mode="same")
    return pulse / (np.abs(pulse).max() or 1.0)


@dataclass(frozen=True)
class ImpulseTrain:
    """Add mains-locked impulsive interference: pulses repeating exactly every mains cycle (labels unchanged).

    Rectifiers, switching supplies, fences and thyristor drives radiate a few pulses per mains cycle, each at a
    fixed phase of the cycle and with its own shape; the Phoenix MTU-5C bench recording carries such a pattern
    (several pulses per 60 Hz cycle, the strongest at 120 Hz). The mains frequency is drawn from ``mains_hz``,
    the number of pulses per cycle from 1 to ``max_pulses``; with probability ``p_even`` they are identical and
    evenly spaced (a plain train at 100, 120, 150, 180 ... Hz), otherwise each has its own phase, shape, sign
    and relative amplitude (0.3-1). The strongest peak is log-uniform in ``ratio`` times the band noise RMS,
    each pulse's amplitude jitters by 10 %, and the pattern keeps one direction (a fixed source) with a small
    Hz part. Only the strict repetition, not a pulse's shape, tells this from sferics (:func:`_pulse`).
    """

    mains_hz: tuple[float, ...] = (50.0, 60.0)
    max_pulses: int = 6
    ratio: tuple[float, float] = (2.0, 100.0)
    p_even: float = 0.4
    p: float = 0.3

    @_occasionally
    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
        n, rate = s["h"].shape[1], s["rate_hz"]
        period = rate / float(rng.choice(self.mains_hz))
        k = int(rng.integers(1, self.max_pulses + 1))
        if rng.random() < self.p_even:
            pulse = _pulse(rng, rate)
            shapes = [pulse] * k
            phases = (rng.uniform(0.0, 1.0) + np.arange(k) / k) % 1.0
            gains = np.ones(k)
        else:
            shapes = [_pulse(rng, rate) for _ in range(k)]
            phases = rng.uniform(0.0, 1.0, k)
            gains = rng.uniform(0.3, 1.0, k) * rng.choice([-1.0, 1.0], k)
        m = max(p.size for p in shapes)
        train = np.zeros(n + 2 * m)
        for shape, phase, g in zip(shapes, phases, gains, strict=True):
            onsets = np.round(np.arange(phase * period - m, n, period)).astype(np.int64) + m
            for t0, a in zip(onsets, g * (1.0 + 0.1 * rng.standard_normal(onsets.size)), strict=True):
                train[t0 : t0 + shape.size] += a * shape
        train = train[m : m + n] / (np.abs(train).max() or 1.0)
        az = rng.uniform(0, 2 * np.pi)
        direction = np.array([np.cos(az), np.sin(az), rng.uniform(-0.3, 0.3)])
        amp = np.sqrt(band_noise_power(s)) * np.exp(rng.uniform(*np.log(self.ratio)))
        return {**s, "h": s["h"] + amp * direction[:, None] * train[None, :]}


@dataclass(frozen=True)
class ChannelDropout:
    """Zero one channel (a dead sensor or cable); Hz is dropped twice as often as a horizontal channel."""

    p: float = 0.1

    @_occasionally
    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
        h = s["h"].copy()
        h[int(rng.choice(3, p=[0.25, 0.25, 0.5]))] = 0.0
        return {**s, "h": h}


@dataclass(frozen=True)
class Spikes:
    """Add 1-5 single-sample spikes of 10-100 times the horizontal RMS (not sferics: labels unchanged)."""

    p: float = 0.3

    @_occasionally
    def __call__(self, s: Sample, rng: np.random.Generator) -> Sample:
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
        ImpulseTrain(),
        ChannelDropout(),
        Spikes(),
    ]
