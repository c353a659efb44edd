"""The synthetic field: determinism, chunking, dead band, sferic spectrum, labels, bad input, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.signal
from click.testing import CliRunner

from amt.cli import main
from amt.io import read
from amt.synth import QUIET, NoiseModel, Site, Storm, SynthError, draw_window, generate
from shared.errors import EXIT_ERROR
from tests.amt.synth.conftest import STORMS, config, white_coil_noise


def run_data(result, station: int = 0) -> dict[str, np.ndarray]:
    return result.stations[station].runs[0].data


def test_same_seed_same_record_other_seed_other_record() -> None:
    a, b = generate(config(duration_s=0.5)), generate(config(duration_s=0.5))
    c = generate(config(duration_s=0.5, seed=6))
    for ch in ("ex", "hx", "hz"):
        np.testing.assert_array_equal(run_data(a)[ch], run_data(b)[ch])
    assert a.labels == b.labels
    assert not np.allclose(run_data(a)["hx"], run_data(c)["hx"])


def test_chunking_does_not_change_the_samples_or_labels() -> None:
    """One chunk vs chunks of 0.037 s (sferic windows of 0.17 s straddle many boundaries)."""
    one = generate(config(duration_s=0.6, chunk_s=10.0))
    many = generate(config(duration_s=0.6, chunk_s=0.037))
    for ch in ("ex", "ey", "hx", "hy", "hz"):
        x, y = run_data(one)[ch], run_data(many)[ch]
        np.testing.assert_allclose(y, x, rtol=0, atol=1e-12 * np.abs(x).max())
    assert [lab.start_index for lab in one.labels] == [lab.start_index for lab in many.labels]
    np.testing.assert_allclose([lab.snr_db for lab in many.labels], [lab.snr_db for lab in one.labels], atol=1e-9)


def band_db(x: dict[str, np.ndarray], lo: float, hi: float) -> float:
    f, p = scipy.signal.welch(x["hx"], 24000, nperseg=1024)
    _, q = scipy.signal.welch(x["hy"], 24000, nperseg=1024)
    inside = (f >= lo) & (f <= hi)
    return float(10 * np.log10(np.mean((p + q)[inside])))


@pytest.fixture(scope="module")
def day_night():
    return {
        night: run_data(
            generate(config(duration_s=3.0, background_rate_hz=0.0, night=night, sites=(Site(noise=QUIET),)))
        )
        for night in (False, True)
    }


def test_dead_band_by_day_and_its_filling_by_night(day_night) -> None:
    """H power at 1.5-3 kHz against 0.5-1 kHz and 5-10 kHz: a dip by day, mostly filled at night (the
    first-mode cutoff drops from 2.1 to 1.7 kHz and the losses fall)."""
    dip = {}
    for night, x in day_night.items():
        dead = band_db(x, 1500, 3000)
        dip[night] = min(band_db(x, 500, 1000), band_db(x, 5000, 10000)) - dead
    assert dip[False] > 3.0, dip
    assert dip[False] - dip[True] > 3.0, dip


def test_sferic_spectrum_covers_half_to_ten_khz(day_night) -> None:
    """Noise-free sferics at 24 kHz carry energy in every octave from 0.5 to 10 kHz, far above the
    coil self-noise, and the band-limiting taper empties the top of the band."""
    noise = NoiseModel()
    for x in day_night.values():
        for lo in (500, 1000, 2000, 4000, 8000):
            hi = min(2 * lo, 10000)
            floor = 10 * np.log10(2 * np.mean(noise.asd("hx", np.linspace(lo, hi, 50)) ** 2))
            assert band_db(x, lo, hi) > floor + 30, (lo, band_db(x, lo, hi), floor)
        assert band_db(x, 11500, 12000) < band_db(x, 5000, 10000) - 20


def test_polarisation_is_perpendicular_to_the_storm_bearing() -> None:
    result = generate(config(duration_s=1.0, background_rate_hz=0.0, sites=(Site(noise=QUIET),)))
    assert result.labels
    for lab in result.labels:
        storm = STORMS[lab.storm_id]
        expected = (storm.azimuth_deg + 90.0) % 180.0
        diff = abs((lab.polarization_deg - expected + 90.0) % 180.0 - 90.0)
        assert diff < 8.0, (lab, expected)  # storm spread (50 km) and the TE_1 field


def test_label_interval_and_snr_follow_the_definition() -> None:
    """Recompute, from the record itself, the 5-95 % band-energy interval and SNR of isolated sferics."""
    noise = white_coil_noise(1e-4)
    storms = (Storm(45.0, 1000.0, 0.0),)
    kw = {"duration_s": 2.0, "sferic_rate_hz": 4.0, "background_rate_hz": 0.0, "storms": storms}
    noisy = generate(config(sites=(Site(noise=noise),), **kw))
    quiet = run_data(generate(config(sites=(Site(noise=QUIET),), **kw)))
    n = len(quiet["hx"])
    spec = np.fft.rfft(np.stack([quiet["hx"], quiet["hy"]]), axis=1)
    f = np.fft.rfftfreq(n, 1 / 24000)
    band = np.fft.irfft(spec * ((f >= 1000) & (f <= 10000)), n, axis=1)
    p = np.sum(band**2, axis=0)
    p_n = 2 * 1e-8 * 9000  # two components, floor^2 over 1-10 kHz
    checked = 0
    labels = noisy.labels
    for i, lab in enumerate(labels):
        isolated = all(abs(lab.peak_index - o.peak_index) > 1200 for j, o in enumerate(labels) if j != i)
        lo, hi = lab.peak_index - 600, lab.peak_index + 600
        if not isolated or lo < 0 or hi > n:
            continue
        c = np.cumsum(p[lo:hi]) / np.sum(p[lo:hi])
        i0, i1 = lo + np.searchsorted(c, 0.05), lo + np.searchsorted(c, 0.95)
        assert abs(lab.start_index - i0) <= 2 and abs(lab.end_index - 1 - i1) <= 2
        e_s = np.sum(p[lab.start_index : lab.end_index]) / 24000
        snr = 10 * np.log10(e_s / (p_n * (lab.end_index - lab.start_index) / 24000))
        assert abs(lab.snr_db - snr) < 0.2, (lab.snr_db, snr)
        checked += 1
    assert checked >= 1


def test_training_window_masks_match_its_labels() -> None:
    w = draw_window(24000, 24000.0, np.random.default_rng(3))
    assert w.h.shape == (2, 24000) and w.e.shape == (2, 24000)
    assert np.isfinite(w.h).all() and w.labels
    for lab in w.labels:
        a, b = max(lab.start_index, 0), min(lab.end_index, 24000)
        if b > a:
            assert (w.dont_care if lab.dont_care else w.sferic)[a:b].all()
    assert not np.any(w.sferic & w.dont_care & False)
    again = draw_window(24000, 24000.0, np.random.default_rng(3))
    np.testing.assert_array_equal(w.h, again.h)


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"duration_s": -1.0}, "duration_s"),
        ({"rate_hz": 0.0}, "rate_hz"),
        ({"burst": (5.0, 2.0)}, "burst"),
        ({"seed": -3}, "seed"),
        ({"sferic_rate_hz": -1.0}, "sferic_rate_hz"),
    ],
)
def test_bad_configuration_is_refused(kw: dict, words: str) -> None:
    with pytest.raises(SynthError, match=words):
        config(**kw)


def test_burst_schedule_gives_bursts_beside_a_continuous_run() -> None:
    result = generate(config(duration_s=4.0, burst=(0.5, 2.0), sferic_rate_hz=5.0))
    runs = result.stations[0].runs
    bursts = [r for r in runs if r.sample_rate_hz == 24000.0]
    assert len(bursts) == 2 and all(r.n_samples == 12000 for r in bursts)
    assert [r.start - result.config.start for r in bursts] == [0.0, 2.0]
    (cont,) = [r for r in runs if r.sample_rate_hz == 150.0]
    assert cont.n_samples == 600
    assert {lab.run for lab in result.labels} <= {r.run for r in bursts}


def test_cli_writes_record_and_labels(tmp_path) -> None:
    out = tmp_path / "rec.npz"  # MTH5 and miniSEED are amt.io's own tests; npz keeps this one fast
    res = CliRunner().invoke(
        main, ["synth", str(out), "--earth", "halfspace:100", "--duration", "0.3", "--seed", "2", "--stations", "2"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "rec.npz.labels.json").read_text())
    z = np.array(doc["stations"]["S00"]["z_true"]["z_real"]) + 1j * np.array(doc["stations"]["S00"]["z_true"]["z_imag"])
    f = np.array(doc["stations"]["S00"]["z_true"]["freq_hz"])
    np.testing.assert_allclose(0.2 / f * np.abs(z[:, 0, 1]) ** 2, 100.0, rtol=1e-9)
    assert doc["sferics"] and {"start", "end", "snr_db", "dont_care", "polarization_deg"} <= set(doc["sferics"][0])
    st = read(tmp_path / "rec_S01.npz")
    assert st.runs[0].n_samples == 7200
    bad = CliRunner().invoke(main, ["synth", str(out), "--earth", "halfspace:x", "--duration", "1"])
    assert bad.exit_code == EXIT_ERROR and "error:" in bad.output and "halfspace:x" in bad.output
