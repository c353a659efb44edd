"""Augmentation callables do what their physics says."""

import numpy as np
import pytest

from amt.sferic.augment import (
    AddNoise,
    ChannelDropout,
    ImpulseTrain,
    Polarity,
    Powerline,
    RotateHorizontal,
    ScaleAmplitude,
    Spikes,
    TimeShift,
    band_noise_power,
    compose,
    default_chain,
)
from amt.synth.records import band_limit


@pytest.fixture
def sample():
    rng = np.random.default_rng(0)
    h = rng.standard_normal((3, 1000))
    y = np.zeros(1000, dtype=np.float32)
    y[400:420] = 1
    return {"h": h, "y": y, "rate_hz": 24000.0}


def test_rotation_keeps_horizontal_magnitude_and_turns_the_azimuth(sample):
    rng = np.random.default_rng(5)
    out = RotateHorizontal()(sample, rng)
    np.testing.assert_allclose(np.hypot(out["h"][0], out["h"][1]), np.hypot(sample["h"][0], sample["h"][1]))
    angle = np.angle(out["h"][0] + 1j * out["h"][1]) - np.angle(sample["h"][0] + 1j * sample["h"][1])
    angle = np.angle(np.exp(1j * angle))
    assert np.ptp(angle) < 1e-9  # one rotation for every sample
    np.testing.assert_array_equal(out["h"][2], sample["h"][2])


def test_polarity_flips_every_channel(sample):
    out = Polarity(p=1.0)(sample, np.random.default_rng(0))
    np.testing.assert_array_equal(out["h"], -sample["h"])
    assert out["y"] is sample["y"]


def test_time_shift_moves_labels_with_the_data(sample):
    h = sample["h"].copy()
    h[0, 400:420] = 1e6  # a marker on the labelled samples
    out = TimeShift(600)({**sample, "h": h}, np.random.default_rng(2))
    assert out["h"].shape == (3, 600) and out["y"].shape == (600,)
    np.testing.assert_array_equal(out["h"][0] == 1e6, out["y"] == 1)


def test_time_shift_refuses_a_short_sample(sample):
    with pytest.raises(ValueError, match="fewer than"):
        TimeShift(2000)(sample, np.random.default_rng(0))


def test_scale_amplitude_stays_within_bounds(sample):
    for seed in range(20):
        out = ScaleAmplitude(0.5, 2.0)(sample, np.random.default_rng(seed))
        ratio = out["h"][0, 0] / sample["h"][0, 0]
        assert 0.5 <= ratio <= 2.0
        np.testing.assert_allclose(out["h"], ratio * sample["h"])


def _band_power(h):
    hb = band_limit(h[:2], 24000.0)
    return float(np.mean(hb[0] ** 2 + hb[1] ** 2))


def test_noise_at_the_drawn_snr_against_the_band_noise_not_the_powerline(sample):
    t = np.arange(1000) / 24000.0
    loud = {**sample, "h": sample["h"] + 300.0 * np.sin(2 * np.pi * 50.0 * t)}  # powerline dominates the power
    out = AddNoise(snr_db=(10.0, 10.0), p=1.0)(loud, np.random.default_rng(1))
    added = out["h"] - loud["h"]
    quiet = sample["y"] < 0.5
    hb = band_limit(sample["h"][:2], 24000.0)
    p_n = np.mean(hb[0][quiet] ** 2 + hb[1][quiet] ** 2)
    assert abs(10 * np.log10(p_n / _band_power(added)) - 10.0) < 0.5
    assert abs(band_noise_power(loud) / p_n - 1.0) < 0.05


def test_impulse_train_repeats_exactly_every_mains_cycle_and_leaves_labels_alone(sample):
    n = 4800
    base = {**sample, "h": np.random.default_rng(2).standard_normal((3, n)), "y": np.zeros(n, dtype=np.float32)}
    for seed in range(8):
        out = ImpulseTrain(p=1.0)(base, np.random.default_rng(seed))
        np.testing.assert_array_equal(out["y"], base["y"])
        added = out["h"][:2] - base["h"][:2]
        assert np.abs(added).max() >= 2.0 * np.sqrt(band_noise_power(base)) * 0.99
        a = added[0] if np.abs(added[0]).max() > np.abs(added[1]).max() else added[1]
        acf = np.correlate(a, a, mode="full")[n - 1 :] / np.arange(n, 0, -1)  # unbiased: per overlapping sample
        assert max(acf[400], acf[480]) >= 0.8 * acf[0]  # one 60 or 50 Hz cycle later, the same waveform


def test_powerline_adds_energy_at_50_or_60_hz_only_harmonics(sample):
    out = Powerline(ratio=(10.0, 10.0), p=1.0)(
        {**sample, "h": np.zeros((3, 24000)), "y": np.zeros(24000)}, np.random.default_rng(0)
    )
    spec = np.abs(np.fft.rfft(out["h"][0]))  # 1 Hz bins over 1 s
    peak = int(np.argmax(spec))
    assert peak in (50, 60)
    assert spec[2 * peak] < 1e-6 * spec[peak]  # odd harmonics only


def test_dropout_and_spikes_leave_labels_alone(sample):
    out = ChannelDropout(p=1.0)(sample, np.random.default_rng(0))
    assert sum(np.all(out["h"][i] == 0) for i in range(3)) == 1
    out = Spikes(p=1.0)(sample, np.random.default_rng(0))
    assert np.count_nonzero(np.any(out["h"] != sample["h"], axis=0)) >= 1
    np.testing.assert_array_equal(out["y"], sample["y"])


def test_default_chain_composes(sample):
    out = compose([*default_chain(), TimeShift(500)])(sample, np.random.default_rng(0))
    assert out["h"].shape == (3, 500) and np.all(np.isfinite(out["h"]))
