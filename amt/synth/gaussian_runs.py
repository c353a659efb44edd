"""Gaussian-source runs over a known half-space impedance: a small generator independent of :mod:`amt.synth.field`.

The transfer-function estimator is tested and benchmarked on these runs (``tests/amt/transfer``,
``benchmarks.amt_transfer``): they share no code with the physical sferic field of :func:`amt.synth.generate`, so
an error common to that generator and the estimator cannot hide.

Two independent, coloured (red) Gaussian sources drive Hx and Hy; E is ``Z(f) H`` applied in the frequency domain
(real signals, time dependence e^{+i omega t}); independent stationary noise with the channel's own (smoothed)
spectral colour is added to each channel at a stated amplitude ratio, so the signal-to-noise ratio is the same at
every frequency. The impedance is that of a half-space (``Z = sqrt(i omega mu0 rho) 1e-3 / mu0`` in
mV/km/nT, so ``rho_a = 0.2 T |Z|^2 = rho``), optionally rotated so that all four elements are non-zero.
"""

from __future__ import annotations

import numpy as np
from obspy import UTCDateTime

from amt.record import ChannelMeta, StationRun
from amt.synth.earth import MU0


def halfspace_z(
    freq_hz: np.ndarray, rho_ohm_m: float, rotation_deg: float = 0.0, rho_yx_ohm_m: float | None = None
) -> np.ndarray:
    """Half-space impedance (n, 2, 2) in mV/km/nT, in a frame rotated by ``rotation_deg``.

    ``rho_yx_ohm_m`` (default ``rho_ohm_m``) makes the yx element that of a different half-space (an
    anisotropic, 2-D-like response whose rotation has non-zero diagonal elements).
    """
    f = np.asarray(freq_hz, dtype=float)
    scale = np.sqrt(1j * 2 * np.pi * f * MU0) * 1e-3 / MU0
    z = np.zeros((len(f), 2, 2), complex)
    z[:, 0, 1] = scale * np.sqrt(rho_ohm_m)
    z[:, 1, 0] = -scale * np.sqrt(rho_ohm_m if rho_yx_ohm_m is None else rho_yx_ohm_m)
    t = np.radians(rotation_deg)
    rot = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    return rot @ z @ rot.T


def _coloured(rng: np.random.Generator, n: int, rate: float, slope: float = -1.0) -> np.ndarray:
    spec = rng.normal(size=n // 2 + 1) + 1j * rng.normal(size=n // 2 + 1)
    f = np.fft.rfftfreq(n, 1 / rate)
    f[0] = f[1]
    return np.fft.irfft(spec * f ** (slope / 2), n)


def noise_like(x: np.ndarray, rng: np.random.Generator, smooth_bins: int = 257) -> np.ndarray:
    """Stationary Gaussian noise with the smoothed power spectrum of ``x`` (flat signal-to-noise ratio).

    The spectrum is smoothed over ``smooth_bins`` record-length bins: shaping noise by the realised ``|X(f)|`` itself
    would make it multiplicative, a random transfer function shared by every window, which no per-window error
    estimate can see.
    """
    power = np.abs(np.fft.rfft(x)) ** 2
    width = max(1, min(smooth_bins, len(power) // 4))
    envelope = np.sqrt(np.convolve(power, np.ones(width) / width, mode="same"))
    spec = envelope * (rng.normal(size=len(power)) + 1j * rng.normal(size=len(power)))
    return np.fft.irfft(spec / np.sqrt(2), len(x))


def sources(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """Two independent unit-variance red sources (2, n) in nT."""
    s = np.vstack([_coloured(rng, n, rate), _coloured(rng, n, rate)])
    return s / s.std(axis=1, keepdims=True)


def impulsive_sources(
    rng: np.random.Generator, n: int, rate: float, fraction: float, block: int, amplitude: float
) -> tuple[np.ndarray, np.ndarray]:
    """Unit-variance red background H (2, n) plus strong transients in ``fraction`` of the ``block``-sample blocks.

    Each transient is red noise under a Hann taper filling its block, ``amplitude`` times the background's standard
    deviation, linearly polarised at a random azimuth: the impulsive natural signal of the AMT band (sferics).

    Returns
    -------
    h, background
        The total H and the background alone (to shape noise by), both (2, n) in nT.
    """
    background = sources(rng, n, rate)
    h = background.copy()
    for b in rng.choice(n // block, round(fraction * (n // block)), replace=False):
        burst = _coloured(rng, block, rate) * np.hanning(block)
        azimuth = rng.uniform(0.0, np.pi)
        h[:, b * block : (b + 1) * block] += amplitude * np.outer(
            [np.cos(azimuth), np.sin(azimuth)], burst / burst.std()
        )
    return h, background


def make_run(
    h: np.ndarray,
    rate: float,
    rho_ohm_m: float = 100.0,
    rotation_deg: float = 0.0,
    rho_yx_ohm_m: float | None = None,
    rng: np.random.Generator | None = None,
    e_noise: float = 0.02,
    h_noise: float = 0.02,
    station: str = "SYN",
    hz_coef: tuple[float, float] | None = (0.1, -0.2),
) -> tuple[StationRun, np.ndarray]:
    """A run from horizontal H (2, n): E = Z H + noise, H + noise; also Hz = T H when ``hz_coef``.

    Noise levels are standard deviations relative to each channel's own signal standard deviation.

    Returns
    -------
    run, z
        The run and the true impedance at the FFT frequencies of the whole record.
    """
    rng = rng or np.random.default_rng(0)
    n = h.shape[1]
    f = np.fft.rfftfreq(n, 1 / rate)
    z = halfspace_z(np.maximum(f, f[1]), rho_ohm_m, rotation_deg, rho_yx_ohm_m)
    hf = np.fft.rfft(h, axis=1)
    ef = np.einsum("fij,jf->if", z, hf)
    e = np.fft.irfft(ef, n, axis=1)
    data = {}
    for name, x, lvl in (("ex", e[0], e_noise), ("ey", e[1], e_noise), ("hx", h[0], h_noise), ("hy", h[1], h_noise)):
        data[name] = x + lvl * noise_like(x, rng)
    if hz_coef is not None:
        hz = hz_coef[0] * h[0] + hz_coef[1] * h[1]
        data["hz"] = hz + 0.01 * hz.std() * rng.normal(size=n)
    meta = {
        c: ChannelMeta(component=c, units="nT" if c.startswith("h") else "mV/km", azimuth_deg=90.0 * (c[1] == "y"))
        for c in data
    }
    run = StationRun(station, "001", rate, UTCDateTime(2020, 1, 1), data, meta, source=f"synthetic {station}")
    return run, z


def spike_windows(
    run: StationRun, channels: tuple[str, ...], fraction: float, window: int, rng: np.random.Generator, size: float
) -> StationRun:
    """Add one large spike to ``fraction`` of the ``window``-sample blocks on ``channels`` (size in channel std)."""
    n_blocks = run.n_samples // window
    hit = rng.choice(n_blocks, round(fraction * n_blocks), replace=False)
    for c in channels:
        x = run.data[c]
        amp = size * x.std()
        for b in hit:
            i = b * window + rng.integers(window // 4, 3 * window // 4)
            x[i : i + 3] += amp * rng.choice([-1, 1])
    return run
