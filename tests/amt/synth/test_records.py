"""The labelled synthetic field: label intervals, SNR, day/night dead band, reproducibility."""

from dataclasses import replace

import numpy as np
import pytest

from amt.sferic.evaluation.heldout import HELDOUT_SEED, Cell, records
from amt.synth.records import (
    RATE_HZ,
    WAVE_SAMPLES,
    FieldConfig,
    band_limit,
    label_interval,
    mode_attenuation_db_per_mm,
    sferic_waveforms,
    synthesize,
)
from amt.synth.stroke import source_spectrum


def test_label_interval_of_a_boxcar_holds_five_to_ninety_five_percent():
    w = np.zeros(1000)
    w[200:300] = 1.0
    i0, i1, e = label_interval(w, 1000.0)
    assert (i0, i1) == (204, 295)  # 5 % of 100 samples in, 95 % out
    assert e == 100 / 1000.0


def test_band_limit_removes_out_of_band_tones():
    t = np.arange(24000) / RATE_HZ
    x = np.sin(2 * np.pi * 50 * t) + np.sin(2 * np.pi * 3000 * t)
    np.testing.assert_allclose(band_limit(x, RATE_HZ), np.sin(2 * np.pi * 3000 * t), atol=1e-9)


@pytest.mark.parametrize("model", ["waveguide", "burst", "ricker", "tweek"])
def test_labelled_sferics_have_the_drawn_snr_and_interval(model):
    # The noise is drawn first from the same stream, so record minus noise-only record is the sferics alone;
    # their SNR and 5-95 % interval are measured here from that difference, independently of the generator.
    quiet = {"background_rate_hz": 0.0, "powerline_ratio": 0.0, "drift_ratio": 0.0, "sferic_model": model}
    rec = synthesize(96000, FieldConfig(sferic_rate_hz=1.0, snr_db=3.0, **quiet), np.random.default_rng(11))
    noise = synthesize(96000, FieldConfig(sferic_rate_hz=0.0, snr_db=3.0, **quiet), np.random.default_rng(11))
    band_noise = band_limit(noise.h[:2], RATE_HZ)
    p_n = np.mean(band_noise[0] ** 2 + band_noise[1] ** 2)
    assert abs(p_n - rec.noise_power_nt2) < 1e-9
    sig = band_limit(rec.h[:2] - noise.h[:2], RATE_HZ)
    energy = sig[0] ** 2 + sig[1] ** 2
    starts = np.array([lab.start_index for lab in rec.labels])
    inside = [
        lab
        for lab in rec.labels
        if 2000 < lab.start_index and lab.end_index < 94000 and np.sum(np.abs(starts - lab.start_index) < 3000) == 1
    ]
    assert len(inside) >= 1
    for lab in inside:
        window = slice(lab.start_index - 1500, lab.end_index + 1500)
        cum = np.cumsum(energy[window]) / energy[window].sum()
        i0 = lab.start_index - 1500 + int(np.searchsorted(cum, 0.05))
        i1 = lab.start_index - 1500 + int(np.searchsorted(cum, 0.95)) + 1
        # band-limited over the record vs the waveform
        assert abs(i0 - lab.start_index) <= 3 and abs(i1 - lab.end_index) <= 3
        e_s = energy[window].sum() / RATE_HZ
        snr = 10 * np.log10(e_s / (p_n * (lab.end_index - lab.start_index) / RATE_HZ))
        assert abs(snr - 3.0) < 0.3


def test_kept_waveforms_are_what_was_added_to_the_noise():
    cfg = {"sferic_rate_hz": 5.0, "snr_db": 0.0, "spike_rate_hz": 0.0}
    rec = synthesize(48000, FieldConfig(**cfg), np.random.default_rng(4))
    noise = synthesize(48000, FieldConfig(**{**cfg, "sferic_rate_hz": 0.0}), np.random.default_rng(4))
    assert len(rec.waveforms) == len(rec.labels) >= 5
    np.testing.assert_allclose(rec.signal(), rec.h[:2] - noise.h[:2], atol=1e-9)


def test_sources_near_the_antipode_give_finite_records():
    # distances are drawn 10 % around the storm's; beyond pi R (20,015 km) the spreading factor would be NaN
    far = FieldConfig(distance_km=(18000.0, 18000.0), sferic_rate_hz=30.0)
    for seed in range(4):
        rec = synthesize(4096, far, np.random.default_rng(seed))
        assert np.isfinite(rec.h).all() and max(lab.distance_km for lab in rec.labels) <= 19000.0


def test_dead_band_is_deeper_by_day():
    f = np.array([700.0, 2000.0, 7000.0])
    day, night = mode_attenuation_db_per_mm(f, False, 0), mode_attenuation_db_per_mm(f, True, 0)
    assert day[1] > day[0] and day[1] > day[2]
    assert night[1] < day[1]


def test_heldout_records_rebuild_bit_for_bit():
    cell = Cell(0.0, night=True, n_records=1, seconds=0.2)
    a = next(records(cell, HELDOUT_SEED))
    b = next(records(cell, HELDOUT_SEED))
    c = next(records(cell, HELDOUT_SEED + 1))
    assert np.array_equal(a.h, b.h) and a.labels == b.labels
    assert not np.array_equal(a.h, c.h)


def test_dead_band_noise_sits_at_its_level_inside_its_band_only():
    # Sferic-free records from the same stream: the dead-band noise is drawn last, so the rest is identical and the
    # band powers (measured here by FFT masking, independently of the generator) compare directly.
    cfg = FieldConfig(sferic_rate_hz=0.0, spike_rate_hz=0.0)
    plain = synthesize(48_000, cfg, np.random.default_rng(5))
    noisy = synthesize(48_000, replace(cfg, deadband_db=20.0, deadband_hz=(1_000.0, 5_000.0)), np.random.default_rng(5))

    def band_power(h, lo, hi):
        spec = np.fft.rfft(h[:2], axis=1)
        f = np.fft.rfftfreq(h.shape[1], 1 / RATE_HZ)
        return float(np.sum(np.abs(spec[:, (f >= lo) & (f <= hi)]) ** 2))

    added = noisy.h - plain.h
    assert band_power(added, 1_000, 5_000) / band_power(plain.h, 1_000, 5_000) == pytest.approx(100.0, rel=1e-6)
    assert band_power(noisy.h, 6_000, 10_000) == pytest.approx(band_power(plain.h, 6_000, 10_000), rel=1e-9)
    assert noisy.noise_power_nt2 > 10 * plain.noise_power_nt2  # P_n of the SNR counts it


def test_modes_family_has_only_its_small_quasi_tem_part_below_the_first_cutoff():
    # Below c / 2h (at most 1.58 kHz for h <= 95 km) no mode propagates: the spectrum over the source spectrum is
    # the constant quasi-TEM fraction (5-30 %); above 7 kHz three modes add up to well over it.
    d = np.array([2.0e6, 5.0e6])
    w = sferic_waveforms(d, False, RATE_HZ, "modes", np.random.default_rng(2))
    f = np.fft.rfftfreq(WAVE_SAMPLES, 1 / RATE_HZ)[1:]
    spec = np.fft.rfft(w, axis=1)[:, 1:]
    ratio = np.abs(spec) / np.abs(source_spectrum(f))[None, :] * np.sqrt(d)[:, None] / RATE_HZ
    low = ratio[:, (f > 300) & (f < 1_400)]
    assert np.all((low.min(axis=1) > 0.05) & (low.max(axis=1) < 0.3))
    np.testing.assert_allclose(low, low[:, :1] * np.ones_like(low), rtol=1e-6)
    assert np.all(ratio[:, (f > 7_000) & (f < 10_000)].max(axis=1) > 1.0)
