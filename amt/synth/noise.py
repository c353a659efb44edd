"""Instrument and cultural noise on E and H: sensor self-noise, powerline, spikes and drift.

Every noise source is a deterministic function of (seed, station, channel) and of the *global* sample
index on the rate's grid, so a record cut into chunks of any length has the same noise samples:

* self-noise (coil or electrode): Gaussian with amplitude spectral density
  ``floor sqrt(1 + (f_c / f)^2)`` (white above the corner, 1/f below it, the usual shape of induction
  coil and electrode noise; Ferguson, 2012, "Instrumentation for audio magnetotellurics"), synthesised in
  fixed blocks of 2^16 samples by random-phase spectra, passed through the channel response;
* powerline: the 50 (or 60) Hz fundamental and harmonics up to 0.85 Nyquist, odd harmonics ``A/k``,
  even ones ``A/(10k)``, fixed random phases; steady state through the response;
* spikes: Poisson impulses ``a exp(-t / tau)`` (tau 0.2-2 ms, log-normal |a|, random sign);
* drift: three slow sinusoids (periods 300-3000 s) and, on E, an electrode offset; through the response
  at their frequencies (a coil passes no DC).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.fft

from amt.calibration.instrument import Response
from amt.record import ELECTRIC
from amt.synth.errors import SynthError
from shared.seeding import stream_rng

#: Samples per self-noise / spike block on the global grid.
BLOCK = 2**16
#: Drift is evaluated on every DRIFT_STEP-th global sample and interpolated linearly.
DRIFT_STEP = 1024
_CHANNEL_CODE = {"ex": 0, "ey": 1, "hx": 2, "hy": 3, "hz": 4}


@dataclass(frozen=True)
class NoiseModel:
    """Noise levels of one station (E in mV/km, H in nT).

    Parameters
    ----------
    h_floor_nt, e_floor_mv_km
        White self-noise floor, nT/sqrt(Hz) and (mV/km)/sqrt(Hz).
    h_corner_hz, e_corner_hz
        Corner below which the self-noise rises as 1/f, Hz.
    powerline_hz
        Mains frequency, Hz (50 or 60).
    powerline_h_nt, powerline_e_mv_km
        Fundamental amplitude.
    spike_rate_hz
        Spikes per second per channel.
    spike_h_nt, spike_e_mv_km
        Median spike amplitude.
    drift_h_nt, drift_e_mv_km
        Drift amplitude (and E electrode offset).
    """

    h_floor_nt: float = 2e-6
    h_corner_hz: float = 100.0
    e_floor_mv_km: float = 2e-4
    e_corner_hz: float = 10.0
    powerline_hz: float = 50.0
    powerline_h_nt: float = 0.02
    powerline_e_mv_km: float = 1.0
    spike_rate_hz: float = 0.05
    spike_h_nt: float = 0.5
    spike_e_mv_km: float = 5.0
    drift_h_nt: float = 1.0
    drift_e_mv_km: float = 10.0

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if not (np.isfinite(value) and value >= 0):
                raise SynthError(f"noise: {name} must be finite and >= 0, got {value}")
        if self.powerline_hz <= 0:
            raise SynthError(f"noise: powerline_hz must be > 0, got {self.powerline_hz}")

    def asd(self, channel: str, freq_hz: np.ndarray) -> np.ndarray:
        """Self-noise amplitude spectral density of ``channel``, units/sqrt(Hz) (0 at DC)."""
        floor, corner = (
            (self.e_floor_mv_km, self.e_corner_hz) if channel in ELECTRIC else (self.h_floor_nt, self.h_corner_hz)
        )
        f = np.asarray(freq_hz, dtype=float)
        with np.errstate(divide="ignore"):
            return np.where(f > 0, floor * np.sqrt(1.0 + (corner / np.where(f > 0, f, 1.0)) ** 2), 0.0)

    def harmonics(self, channel: str, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
        """Powerline harmonic frequencies (Hz) and amplitudes below 0.85 Nyquist."""
        k = np.arange(1, int(0.425 * rate_hz / self.powerline_hz) + 1)
        base = self.powerline_e_mv_km if channel in ELECTRIC else self.powerline_h_nt
        return k * self.powerline_hz, base / k * np.where(k % 2 == 1, 1.0, 0.1)

    def band_power(self, channel: str, rate_hz: float, band_hz: tuple[float, float]) -> float:
        """Mean-square self-noise + powerline in ``band_hz`` (units^2): the stationary part of P_n."""
        f = np.linspace(band_hz[0], band_hz[1], 4001)
        y = self.asd(channel, f) ** 2
        self_noise = float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(f)))
        fk, ak = self.harmonics(channel, rate_hz)
        inside = (fk >= band_hz[0]) & (fk <= band_hz[1])
        return self_noise + float(np.sum(ak[inside] ** 2) / 2)

    def scaled(self, factor: float) -> NoiseModel:
        """All amplitudes times ``factor`` (frequencies unchanged)."""
        keep = {"h_corner_hz", "e_corner_hz", "powerline_hz", "spike_rate_hz"}
        return replace(self, **{k: v * factor for k, v in self.__dict__.items() if k not in keep})


#: No noise at all (for truth and tests).
QUIET = NoiseModel().scaled(0.0)

#: A quiet site without powerline: coil self-noise 2e-6 nT/sqrt(Hz) white above 100 Hz, electrode noise
#: 2e-4 (mV/km)/sqrt(Hz) above 10 Hz, spikes 0.05/s (0.5 nT on H, 5 mV/km on E), drift 1 nT and 10 mV/km. Powerline
#: harmonics (E/H = 50 mV/km/nT at every frequency) would be a second coherent source in every band, so dead-band
#: studies leave them out.
QUIET_SITE_NO_POWERLINE = NoiseModel(
    h_floor_nt=2e-6,
    h_corner_hz=100.0,
    e_floor_mv_km=2e-4,
    e_corner_hz=10.0,
    powerline_h_nt=0.0,
    powerline_e_mv_km=0.0,
    spike_rate_hz=0.05,
    spike_h_nt=0.5,
    spike_e_mv_km=5.0,
    drift_h_nt=1.0,
    drift_e_mv_km=10.0,
)


class ChannelNoise:
    """Noise of one channel of one station at one rate, addressed by global sample index.

    Parameters
    ----------
    model
        Noise levels.
    channel
        ``ex, ey, hx, hy`` or ``hz``.
    rate_hz
        Sample rate in Hz.
    seed, station_index
        Identify the random streams.
    response
        Recording chain to pass the noise through (``None``: physical units).
    """

    def __init__(
        self,
        model: NoiseModel,
        channel: str,
        rate_hz: float,
        seed: int,
        station_index: int,
        response: Response | None = None,
    ) -> None:
        self.model, self.channel, self.rate = model, channel, rate_hz
        self.key = (seed, station_index, _CHANNEL_CODE[channel], round(rate_hz * 1000))
        self.response = response
        f = scipy.fft.rfftfreq(BLOCK, 1.0 / rate_hz)
        self._block_filter = model.asd(channel, f) * np.sqrt(BLOCK * rate_hz / 4.0) * self._resp(f)
        self._block_filter[-1] *= np.sqrt(2.0)
        rng = stream_rng(*self.key, 1)
        fk, ak = model.harmonics(channel, rate_hz)
        rk = self._resp(fk)
        self._pl = (fk, ak * np.abs(rk), rng.uniform(0, 2 * np.pi, len(fk)) + np.angle(rk))
        drift = model.drift_e_mv_km if channel in ELECTRIC else model.drift_h_nt
        fd = 1.0 / rng.uniform(300.0, 3000.0, 3)
        rd = self._resp(fd)
        self._drift = (fd, drift / np.sqrt(3) * np.abs(rd), rng.uniform(0, 2 * np.pi, 3) + np.angle(rd))
        offset = drift * rng.choice([-1.0, 1.0]) if channel in ELECTRIC else 0.0
        self._offset = offset * float(np.real(self._resp(np.array([0.0]))[0]))
        self._spike_amp = model.spike_e_mv_km if channel in ELECTRIC else model.spike_h_nt
        self._spike_n = int(2 ** np.ceil(np.log2(max(64.0, 0.03 * rate_hz))))
        self._cache: dict[int, np.ndarray] = {}
        #: Band energy (units^2 s) of the spikes that start in the samples generated so far.
        self.spike_energy = 0.0

    def _resp(self, f: np.ndarray) -> np.ndarray:
        if self.response is None:
            return np.ones(np.shape(f), dtype=complex)
        h = np.asarray(self.response.evaluate(np.asarray(f, dtype=float)), dtype=complex)
        return np.where(np.asarray(f) == 0, h.real, h)

    def _self_block(self, j: int) -> np.ndarray:
        if j not in self._cache:
            rng = stream_rng(*self.key, 2, j)
            g = rng.standard_normal((2, BLOCK // 2 + 1))
            spec = self._block_filter * (g[0] + 1j * g[1])
            spec[-1] = spec[-1].real
            self._cache = {j: scipy.fft.irfft(spec, BLOCK)}
        return self._cache[j]

    def _spikes(self, j: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = stream_rng(*self.key, 3, j)
        n = rng.poisson(self.model.spike_rate_hz * BLOCK / self.rate)
        pos = j * BLOCK + np.sort(rng.integers(0, BLOCK, n))
        amp = self._spike_amp * np.exp(rng.standard_normal(n)) * rng.choice([-1.0, 1.0], n)
        tau = rng.uniform(0.2e-3, 2e-3, n)
        return pos, amp, tau

    def samples(self, g0: int, g1: int, band_hz: tuple[float, float] | None = None) -> np.ndarray:
        """Noise on global samples ``[g0, g1)``; spikes starting there add to :attr:`spike_energy`."""
        n = g1 - g0
        out = np.zeros(n)
        if self.model.h_floor_nt > 0 or self.model.e_floor_mv_km > 0:
            for j in range(g0 // BLOCK, (g1 - 1) // BLOCK + 1):
                a, b = max(g0, j * BLOCK), min(g1, (j + 1) * BLOCK)
                out[a - g0 : b - g0] += self._self_block(j)[a - j * BLOCK : b - j * BLOCK]
        out += self._periodic(g0, g1)
        if self.model.spike_rate_hz > 0 and self._spike_amp > 0:
            out += self._spike_samples(g0, g1, band_hz)
        return out

    def _periodic(self, g0: int, g1: int) -> np.ndarray:
        fk, ak, pk = self._pl
        out = np.full(g1 - g0, self._offset)
        if len(fk) and np.any(ak > 0):
            period = self.rate / self.model.powerline_hz
            if abs(period - round(period)) < 1e-9:
                p = round(period)
                t = np.arange(p) / self.rate
                table = np.sum(ak[:, None] * np.cos(2 * np.pi * fk[:, None] * t + pk[:, None]), axis=0)
                out += table[np.arange(g0, g1) % p]
            else:
                t = np.arange(g0, g1) / self.rate
                for f, a, p in zip(fk, ak, pk, strict=True):
                    out += a * np.cos(2 * np.pi * f * t + p)
        fd, ad, pd = self._drift
        if np.any(ad > 0):
            k0, k1 = g0 // DRIFT_STEP, (g1 - 1) // DRIFT_STEP + 1
            gk = np.arange(k0, k1 + 1) * DRIFT_STEP
            vk = np.sum(ad[:, None] * np.cos(2 * np.pi * fd[:, None] * gk / self.rate + pd[:, None]), axis=0)
            out += np.interp(np.arange(g0, g1), gk, vk)
        return out

    def _spike_samples(self, g0: int, g1: int, band_hz: tuple[float, float] | None) -> np.ndarray:
        w = self._spike_n
        pre = w // 8
        out = np.zeros(g1 - g0)
        f = scipy.fft.rfftfreq(w, 1.0 / self.rate)
        resp = self._resp(f)
        for j in range(max(0, (g0 - w) // BLOCK), (g1 - 1) // BLOCK + 1):
            pos, amp, tau = self._spikes(j)
            for p, a, t in zip(pos, amp, tau, strict=True):
                s0 = p - pre
                if s0 + w <= g0 or s0 >= g1:
                    continue
                spec = a * t / (1 + 2j * np.pi * f * t) * self.rate * np.exp(-2j * np.pi * f * pre / self.rate)
                spec[-1] = spec[-1].real
                wave = scipy.fft.irfft(spec * resp, w)
                a0, b0 = max(g0, s0), min(g1, s0 + w)
                out[a0 - g0 : b0 - g0] += wave[a0 - s0 : b0 - s0]
                if band_hz is not None and g0 <= p < g1:
                    lo, hi = (np.arctan(2 * np.pi * fb * t) for fb in band_hz)
                    self.spike_energy += a * a * t / np.pi * (hi - lo)
        return out
