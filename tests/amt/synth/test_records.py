"""The labelled synthetic field: label intervals, SNR, day/night dead band, reproducibility."""

import numpy as np

from amt.sferic.evaluation.heldout import HELDOUT_SEED, Cell, records
from amt.synth.records import (
    RATE_HZ,
    FieldConfig,
    band_limit,
    label_interval,
    mode_attenuation_db_per_mm,
    synthesize,
)


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


def test_labelled_sferics_have_the_drawn_snr_and_interval():
    # The noise is drawn first from the same stream, so record minus noise-only record is the sferics alone;
    # their SNR and 5-95 % interval are measured here from that difference, independently of the generator.
    quiet = {"background_rate_hz": 0.0, "powerline_ratio": 0.0, "drift_ratio": 0.0}
    rec = synthesize(96000, FieldConfig(sferic_rate_hz=1.0, snr_db=3.0, **quiet), np.random.default_rng(11))
    noise = synthesize(96000, FieldConfig(sferic_rate_hz=0.0, snr_db=3.0, **quiet), np.random.default_rng(11))
    band_noise = band_limit(noise.h[:2], RATE_HZ)
    p_n = np.mean(band_noise[0] ** 2 + band_noise[1] ** 2)
    assert abs(p_n - rec.noise_power_nt2) < 1e-9
    sig = band_limit(rec.h[:2] - noise.h[:2], RATE_HZ)
    energy = sig[0] ** 2 + sig[1] ** 2
    inside = [lab for lab in rec.labels if 2000 < lab.start_index and lab.end_index < 94000]
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
