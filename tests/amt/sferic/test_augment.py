"""Augmentation callables do what their physics says."""

import numpy as np
import pytest

from amt.sferic.augment import (
    AddNoise,
    ChannelDropout,
    Polarity,
    Powerline,
    RotateHorizontal,
    ScaleAmplitude,
    Spikes,
    TimeShift,
    compose,
    default_chain,
)


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


def test_noise_at_the_drawn_snr(sample):
    out = AddNoise(snr_db=(10.0, 10.0), p=1.0)(sample, np.random.default_rng(1))
    added = out["h"][:2] - sample["h"][:2]
    snr = 10 * np.log10(np.mean(sample["h"][0] ** 2 + sample["h"][1] ** 2) / np.mean(added[0] ** 2 + added[1] ** 2))
    assert abs(snr - 10.0) < 0.5


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
