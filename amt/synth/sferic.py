"""Sferic waveforms at one station: source x waveguide -> H, then E = Z H, Hz = T H, in the frequency domain.

Each sferic is synthesised on its own window of ``n_window`` samples (a power of two), starting
``n_pre`` samples before its arrival; the arrival's fractional sample is a phase ramp, so arrival
times are exact. In that window's DFT the truth holds exactly, bin by bin:

    E_k = Z(f_k) H_k,   Hz_k = T(f_k) H_k,   counts_k = R_c(f_k) x_k,

and the window is added into the record (overlap-add), so a sferic straddling a chunk boundary lands
the same whatever the chunking. The calibrated signal is band-limited by a cosine taper from 0.85 to
1.0 x Nyquist (standing for an ideal anti-alias filter, applied alike to E and H).

Field directions for a flash at bearing theta (clockwise from north) radiating an upward current moment:
the TM (azimuthal) field points to ``(-sin theta, cos theta)`` in (north, east), i.e. its horizontal
polarisation azimuth is ``theta + 90`` degrees; the TE_1 (radial) field points along the propagation
direction ``(-cos theta, -sin theta)``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.fft

from amt.calibration.instrument import Response
from amt.synth.earth import Earth
from amt.synth.stroke import source_spectrum
from amt.synth.waveguide import Ionosphere, mode_table, propagation


def window_length(rate_hz: float, window_s: float) -> int:
    """Power-of-two sferic window of at least ``window_s`` seconds (and 64 samples)."""
    return int(2 ** np.ceil(np.log2(max(64.0, window_s * rate_hz))))


class SfericSynth:
    """Sferic spectra and waveforms for one station at one sample rate.

    Parameters
    ----------
    rate_hz
        Sample rate in Hz.
    n_window
        Window length in samples (power of two).
    iono
        Waveguide conditions.
    earth
        The station's true earth.
    responses
        Channel -> recording chain for raw counts, or ``None`` for calibrated units.
    band_hz
        Label band (Hz) for :meth:`band_waveforms`.
    """

    def __init__(
        self,
        rate_hz: float,
        n_window: int,
        iono: Ionosphere,
        earth: Earth,
        responses: Mapping[str, Response] | None = None,
        band_hz: tuple[float, float] = (1e3, 1e4),
    ) -> None:
        self.rate, self.n = rate_hz, n_window
        self.n_pre = n_window // 16
        f = scipy.fft.rfftfreq(n_window, 1.0 / rate_hz)
        self.freq_hz = f
        nyq = rate_hz / 2
        x = np.clip((f - 0.85 * nyq) / (0.15 * nyq), 0.0, 1.0)
        self.src = source_spectrum(f) * rate_hz * np.cos(0.5 * np.pi * x) ** 2
        self.table = mode_table(float(rate_hz), int(n_window), iono)
        self.z = earth.impedance(f)
        self.t = earth.tipper(f)
        self.resp = None
        if responses is not None:
            self.resp = {}
            for ch, r in responses.items():
                h = np.asarray(r.evaluate(f), dtype=complex)
                h[0], h[-1] = h[0].real, h[-1].real
                self.resp[ch] = h
        self.band = (f >= band_hz[0]) & (f <= min(band_hz[1], 0.85 * nyq))

    def h_spectra(
        self, distance_m: np.ndarray, azimuth_deg: np.ndarray, current_a: np.ndarray, delay_samples: np.ndarray
    ) -> np.ndarray:
        """Spectra of (hx, hy) in nT on the window grid (``irfft`` gives samples), shape ``(n, 2, nf)``.

        ``delay_samples`` is each arrival's position inside its window (``n_pre`` + fraction).
        """
        g_phi, g_r = propagation(self.table, distance_m, np.asarray(delay_samples) / self.rate)
        th = np.deg2rad(np.asarray(azimuth_deg))[:, None]
        amp = np.asarray(current_a)[:, None] * self.src
        b_phi, b_r = amp * g_phi, amp * g_r
        out = np.empty((len(th), 2, len(self.freq_hz)), dtype=complex)
        out[:, 0] = -np.sin(th) * b_phi - np.cos(th) * b_r
        out[:, 1] = np.cos(th) * b_phi - np.sin(th) * b_r
        return out

    def channel_waveforms(self, h: np.ndarray, channels: tuple[str, ...]) -> np.ndarray:
        """Waveforms ``(n_channels, n, n_window)`` of E = Z H, H, Hz = T H (through the responses if any)."""
        out = np.empty((len(channels), h.shape[0], self.n))
        for i, ch in enumerate(channels):
            if ch == "hx":
                spec = h[:, 0]
            elif ch == "hy":
                spec = h[:, 1]
            elif ch == "ex":
                spec = self.z[:, 0, 0] * h[:, 0] + self.z[:, 0, 1] * h[:, 1]
            elif ch == "ey":
                spec = self.z[:, 1, 0] * h[:, 0] + self.z[:, 1, 1] * h[:, 1]
            else:
                spec = self.t[:, 0] * h[:, 0] + self.t[:, 1] * h[:, 1]
            if self.resp is not None:
                spec = spec * self.resp[ch]
            out[i] = scipy.fft.irfft(spec, self.n, axis=-1)
        return out

    def band_waveforms(self, h: np.ndarray) -> np.ndarray:
        """Noise-free calibrated (hx, hy) restricted to the label band, ``(n, 2, n_window)``, nT."""
        return scipy.fft.irfft(h * self.band, self.n, axis=-1)
