"""Noise sources realise their stated spectra."""

from __future__ import annotations

import numpy as np
import scipy.signal

from amt.synth.noise import ChannelNoise, NoiseModel


def test_self_noise_has_the_stated_spectral_density() -> None:
    model = NoiseModel(powerline_h_nt=0.0, spike_rate_hz=0.0, drift_h_nt=0.0)
    x = ChannelNoise(model, "hx", 24000.0, seed=1, station_index=0).samples(0, 2**18)
    f, p = scipy.signal.welch(x, 24000.0, nperseg=4096)
    for f0 in (30.0, 300.0, 3000.0):
        k = (f > 0.8 * f0) & (f < 1.2 * f0)
        measured = np.sqrt(np.mean(p[k]))
        expected = np.sqrt(np.mean(model.asd("hx", f[k]) ** 2))
        assert abs(measured / expected - 1) < 0.1, (f0, measured, expected)


def test_powerline_fundamental_and_third_harmonic_amplitudes() -> None:
    model = NoiseModel(e_floor_mv_km=0.0, spike_rate_hz=0.0, drift_e_mv_km=0.0, powerline_hz=60.0)
    x = ChannelNoise(model, "ex", 24000.0, seed=2, station_index=1).samples(0, 24000)
    spec = np.abs(np.fft.rfft(x)) * 2 / len(x)  # 1 Hz bins: sinusoid amplitudes
    np.testing.assert_allclose(spec[[60, 180]], [model.powerline_e_mv_km, model.powerline_e_mv_km / 3], rtol=1e-6)
    np.testing.assert_allclose(spec[120], model.powerline_e_mv_km / 20, rtol=1e-6)
