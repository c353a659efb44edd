"""Instrument responses in the frequency domain.

A response ``H(f)`` is the ratio output / input of a linear, time-invariant stage, e.g. counts per nT for a
coil + receiver, under the time dependence e^{+i omega t} used throughout this package. Applying a response
multiplies a spectrum by ``H(f)``; removing it divides (with a water level so that stop bands do not blow up).

Poles and zeros follow the SEED / StationXML "Laplace (rad/s)" convention:
``H(s) = k * prod(s - z_i) / prod(s - p_j)`` with ``s = 2 pi i f``.

A pure delay of tau seconds (an inter-channel sample delay) is ``H(f) = exp(-2 pi i f tau)``: 10 us is
worth 18 deg of phase at 5 kHz.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import scipy.fft

from amt.errors import AmtError


class CalibrationError(AmtError):
    """A response is malformed or cannot be applied; the message names the response and the problem."""


@runtime_checkable
class Response(Protocol):
    """Anything that evaluates a complex response at frequencies in Hz."""

    def evaluate(self, freq_hz: np.ndarray) -> np.ndarray:  # pragma: no cover - protocol
        """Complex response (output units per input unit) at ``freq_hz``."""
        ...


@dataclass(frozen=True)
class PoleZeroResponse:
    """Poles/zeros response in rad/s with gain ``k``.

    If ``normalization_freq_hz`` is given, ``k`` is chosen so that ``|H|`` equals ``sensitivity`` there
    (the StationXML A0 * sensitivity convention); otherwise ``H = gain * prod(s - z) / prod(s - p)``.
    """

    zeros: tuple[complex, ...]
    poles: tuple[complex, ...]
    gain: float = 1.0
    normalization_freq_hz: float | None = None
    sensitivity: float = 1.0
    name: str = "poles/zeros"

    def __post_init__(self) -> None:
        for p in self.poles:
            if p.real > 0:
                raise CalibrationError(f"{self.name}: pole {p} lies in the right half-plane (unstable)")

    def _raw(self, freq_hz: np.ndarray) -> np.ndarray:
        s = 2j * np.pi * np.asarray(freq_hz, dtype=np.float64)
        num = np.ones_like(s)
        for z in self.zeros:
            num = num * (s - z)
        den = np.ones_like(s)
        for p in self.poles:
            den = den * (s - p)
        return num / den

    def evaluate(self, freq_hz: np.ndarray) -> np.ndarray:
        raw = self._raw(freq_hz)
        if self.normalization_freq_hz is None:
            return self.gain * raw
        a0 = 1.0 / abs(self._raw(np.array([self.normalization_freq_hz]))[0])
        return self.sensitivity * a0 * raw


@dataclass(frozen=True)
class FrequencyTableResponse:
    """Tabulated response: amplitude and phase (degrees) at frequencies (Hz).

    Between table points, log-amplitude and phase are interpolated linearly in log-frequency; outside the
    table the end values are held (``extrapolate=True``) or a :class:`CalibrationError` is raised.
    """

    freq_hz: tuple[float, ...]
    amplitude: tuple[float, ...]
    phase_deg: tuple[float, ...]
    extrapolate: bool = True
    name: str = "frequency table"

    def __post_init__(self) -> None:
        f = np.asarray(self.freq_hz, dtype=float)
        a = np.asarray(self.amplitude, dtype=float)
        p = np.asarray(self.phase_deg, dtype=float)
        if not (len(f) == len(a) == len(p)) or len(f) < 2:
            raise CalibrationError(
                f"{self.name}: table needs >= 2 rows of equal length (freq {len(f)}, amp {len(a)}, phase {len(p)})"
            )
        if not (np.all(np.isfinite(f)) and np.all(np.isfinite(a)) and np.all(np.isfinite(p))):
            raise CalibrationError(f"{self.name}: table holds non-finite values")
        if np.any(f <= 0) or np.any(np.diff(f) <= 0):
            raise CalibrationError(f"{self.name}: frequencies must be positive and strictly increasing")
        if np.any(a <= 0):
            raise CalibrationError(f"{self.name}: amplitudes must be positive")

    def evaluate(self, freq_hz: np.ndarray) -> np.ndarray:
        f = np.asarray(freq_hz, dtype=float)
        ft = np.asarray(self.freq_hz)
        positive = np.abs(f)
        if not self.extrapolate and (np.any(positive < ft[0]) or np.any(positive > ft[-1])):
            raise CalibrationError(
                f"{self.name}: requested {positive.min():g}-{positive.max():g} Hz outside the table "
                f"{ft[0]:g}-{ft[-1]:g} Hz"
            )
        lf = np.log(np.clip(positive, ft[0], ft[-1]))
        amp = np.exp(np.interp(lf, np.log(ft), np.log(self.amplitude)))
        ph = np.deg2rad(np.interp(lf, np.log(ft), self.phase_deg))
        out = amp * np.exp(1j * ph)
        return np.where(f < 0, np.conj(out), out)


@dataclass(frozen=True)
class DelayResponse:
    """A pure time delay of ``delay_s`` seconds (positive: the output lags the input)."""

    delay_s: float
    name: str = "delay"

    def evaluate(self, freq_hz: np.ndarray) -> np.ndarray:
        return np.exp(-2j * np.pi * np.asarray(freq_hz, dtype=float) * self.delay_s)


@dataclass(frozen=True)
class CascadeResponse:
    """Stages in series: the product of their responses (e.g. coil x anti-alias low-pass x delay)."""

    stages: tuple[Response, ...] = field(default_factory=tuple)
    name: str = "cascade"

    def evaluate(self, freq_hz: np.ndarray) -> np.ndarray:
        out = np.ones(np.shape(freq_hz), dtype=complex)
        for stage in self.stages:
            out = out * stage.evaluate(freq_hz)
        return out


def _check_signal(x: np.ndarray, sample_rate_hz: float, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise CalibrationError(f"{what}: expected a 1-D signal, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise CalibrationError(
            f"{what}: signal holds {np.count_nonzero(~np.isfinite(x))} non-finite samples; "
            "apply responses to good segments only"
        )
    if not (np.isfinite(sample_rate_hz) and sample_rate_hz > 0):
        raise CalibrationError(f"{what}: sample rate must be positive, got {sample_rate_hz!r}")
    return x


def _padded_length(n: int, pad: bool) -> int:
    return scipy.fft.next_fast_len(2 * n, real=True) if pad else n


def apply_response(x: np.ndarray, sample_rate_hz: float, response: Response, *, pad: bool = True) -> np.ndarray:
    """Pass a signal through ``response`` (multiply its spectrum by H(f)).

    Parameters
    ----------
    x
        Signal in input units (e.g. nT).
    sample_rate_hz
        Sampling rate in Hz.
    response
        The stage(s) to apply.
    pad
        Zero-pad to at least twice the length (linear, not circular, convolution).

    Returns
    -------
    numpy.ndarray
        Output signal (e.g. counts), same length as ``x``.
    """
    x = _check_signal(x, sample_rate_hz, getattr(response, "name", "response"))
    n = len(x)
    nfft = _padded_length(n, pad)
    spec = scipy.fft.rfft(x, nfft)
    freqs = scipy.fft.rfftfreq(nfft, d=1.0 / sample_rate_hz)
    h = response.evaluate(freqs)
    h[0] = h[0].real  # a real filter has a real DC gain
    if nfft % 2 == 0:
        h[-1] = h[-1].real
    return scipy.fft.irfft(spec * h, nfft)[:n]


def remove_response(
    x: np.ndarray,
    sample_rate_hz: float,
    response: Response,
    *,
    water_level: float = 1e-6,
    band_hz: Sequence[float] | None = None,
    pad: bool = True,
) -> np.ndarray:
    """Remove ``response`` from a signal (divide its spectrum by H(f)).

    Parameters
    ----------
    x
        Recorded signal (e.g. counts).
    sample_rate_hz
        Sampling rate in Hz.
    response
        The stage(s) to remove.
    water_level
        ``|H|`` is floored at ``water_level * max|H|`` so stop bands and DC zeros do not blow up.
    band_hz
        Optional ``(f_low, f_high)`` in Hz outside which the output spectrum is set to zero.
    pad
        Zero-pad to at least twice the length.

    Returns
    -------
    numpy.ndarray
        Signal in physical units (e.g. nT), same length as ``x``.
    """
    name = getattr(response, "name", "response")
    x = _check_signal(x, sample_rate_hz, name)
    n = len(x)
    nfft = _padded_length(n, pad)
    spec = scipy.fft.rfft(x, nfft)
    freqs = scipy.fft.rfftfreq(nfft, d=1.0 / sample_rate_hz)
    h = np.asarray(response.evaluate(freqs), dtype=complex)
    h[0] = h[0].real
    if nfft % 2 == 0:
        h[-1] = h[-1].real
    mag = np.abs(h)
    if not np.any(mag > 0):
        raise CalibrationError(f"{name}: response is zero at every frequency")
    floor = water_level * mag.max()
    small = mag < floor
    h = np.where(small, floor * np.exp(1j * np.angle(h)), h)
    h = np.where(h == 0, floor, h)
    out = spec / h
    if band_hz is not None:
        lo, hi = band_hz
        out[(freqs < lo) | (freqs > hi)] = 0.0
    return scipy.fft.irfft(out, nfft)[:n]
