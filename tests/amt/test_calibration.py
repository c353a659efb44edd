"""Responses: poles/zeros checked against SciPy, apply/remove round trips, the 10 us inter-channel delay,
and calibration of records read from files."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import scipy.signal
from obspy import UTCDateTime

import amt.io
from amt.calibration import calibrate, calibrate_run, load_metronix_coil_table
from amt.calibration.instrument import (
    CalibrationError,
    CascadeResponse,
    DelayResponse,
    FrequencyTableResponse,
    PoleZeroResponse,
    apply_response,
    remove_response,
)
from amt.record import ChannelMeta, Station, StationRun

RATE = 24000.0
TWO_PI = 2 * np.pi

#: A coil-like sensor: a zero at DC, a 1 Hz high-pass corner and a 6 kHz second-order low-pass, V per nT.
COIL = PoleZeroResponse(
    zeros=(0j,),
    poles=(-TWO_PI * 1.0 + 0j, TWO_PI * 6000 * (-0.707 + 0.707j), TWO_PI * 6000 * (-0.707 - 0.707j)),
    gain=TWO_PI * 6000 * TWO_PI * 6000 * 0.1,
    name="test coil",
)


def band_limited_noise(n: int, lo_hz: float, hi_hz: float, rate: float = RATE, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / rate)
    spec[(f < lo_hz) | (f > hi_hz)] = 0
    return np.fft.irfft(spec, n)


# -- poles and zeros against an independent implementation -------------------------------------------------
@pytest.mark.parametrize(
    ("zeros", "poles", "k"),
    [
        ((0j,), (-TWO_PI * 1.0 + 0j, -TWO_PI * 1000 + 0j), 5.0),
        ((0j, 0j), (-3 + 4j, -3 - 4j, -100 + 0j), 1e3),
        ((), (-TWO_PI * 10000 * (0.5 + 0.866j), -TWO_PI * 10000 * (0.5 - 0.866j)), (TWO_PI * 10000) ** 2),
        (COIL.zeros, COIL.poles, COIL.gain),
    ],
)
def test_poles_zeros_match_scipy_freqs_zpk(zeros, poles, k):
    f = np.logspace(-3, 4.3, 300)
    _, h_ref = scipy.signal.freqs_zpk(zeros, poles, k, worN=TWO_PI * f)
    h = PoleZeroResponse(zeros=zeros, poles=poles, gain=k).evaluate(f)
    np.testing.assert_allclose(h, h_ref, rtol=1e-12, atol=0)


def test_normalised_poles_zeros_have_the_stated_sensitivity():
    r = PoleZeroResponse(zeros=COIL.zeros, poles=COIL.poles, normalization_freq_hz=100.0, sensitivity=0.25)
    assert abs(r.evaluate(np.array([100.0]))[0]) == pytest.approx(0.25, rel=1e-12)
    _, h_ref = scipy.signal.freqs_zpk(COIL.zeros, COIL.poles, 1.0, worN=TWO_PI * np.array([100.0, 3000.0]))
    h = r.evaluate(np.array([100.0, 3000.0]))
    np.testing.assert_allclose(h[1] / h[0], h_ref[1] / h_ref[0], rtol=1e-12)


def test_unstable_pole_is_refused():
    with pytest.raises(CalibrationError, match="right half-plane"):
        PoleZeroResponse(zeros=(), poles=(1 + 0j,))


def test_frequency_table_reproduces_its_rows_and_interpolates_in_log_frequency():
    t = FrequencyTableResponse((10.0, 100.0, 1000.0), (1.0, 10.0, 100.0), (0.0, -45.0, -90.0))
    h = t.evaluate(np.array([10.0, 100.0, 1000.0, np.sqrt(10 * 100)]))
    np.testing.assert_allclose(np.abs(h[:3]), [1, 10, 100], rtol=1e-12)
    np.testing.assert_allclose(np.degrees(np.angle(h[:3])), [0, -45, -90], atol=1e-9)
    assert abs(h[3]) == pytest.approx(np.sqrt(10.0)) and np.degrees(np.angle(h[3])) == pytest.approx(-22.5)


def test_frequency_table_can_refuse_to_extrapolate():
    t = FrequencyTableResponse((10.0, 100.0), (1.0, 1.0), (0.0, 0.0), extrapolate=False)
    with pytest.raises(CalibrationError, match="outside the table"):
        t.evaluate(np.array([5.0]))


# -- apply and remove --------------------------------------------------------------------------------------
RESPONSES = [
    COIL,
    CascadeResponse((COIL, DelayResponse(10e-6))),
    FrequencyTableResponse((1.0, 100.0, 1000.0, 12000.0), (0.1, 1.0, 1.0, 0.3), (80.0, 10.0, -5.0, -60.0)),
]
BAND_HZ = (2.0, 10000.0)


def _in_band(x: np.ndarray, band_hz) -> np.ndarray:
    """``x`` restricted to ``band_hz`` on the same zero-padded FFT grid that remove_response uses."""
    nfft = scipy.fft.next_fast_len(2 * len(x), real=True)
    s = scipy.fft.rfft(x, nfft)
    f = scipy.fft.rfftfreq(nfft, 1 / RATE)
    s[(f < band_hz[0]) | (f > band_hz[1])] = 0
    return scipy.fft.irfft(s, nfft)[: len(x)]


def _rel_rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)) / np.sqrt(np.mean(b**2)))


@pytest.mark.parametrize("response", RESPONSES, ids=["coil", "coil+delay", "table"])
def test_removing_a_response_recovers_the_input(response):
    """4 s of 5 Hz - 8 kHz noise between 1 s of quiet before and 2 s after (so the record's edges, where a
    finite record loses the filter's transients, are away from the signal), passed through the response
    and removed again with ``band_hz = (2 Hz, 10 kHz)``: equal to the input restricted to that band to a
    relative RMS of 1e-6. (A coil's zero at DC makes the part of the input below the band unrecoverable;
    that is the sensor, not the arithmetic.)"""
    core = band_limited_noise(4 * 24000, 5.0, 8000.0)
    x = np.concatenate([np.zeros(24000), core, np.zeros(2 * 24000)])
    back = remove_response(apply_response(x, RATE, response), RATE, response, band_hz=BAND_HZ)
    signal = slice(24000, 5 * 24000)
    assert _rel_rms(back[signal], _in_band(x, BAND_HZ)[signal]) < 1e-6


@pytest.mark.parametrize("response", RESPONSES, ids=["coil", "coil+delay", "table"])
def test_removing_a_response_from_a_raw_finite_record_is_good_in_the_middle(response):
    """Without quiet edges (a 2 s burst cut from a longer signal) the lost transients of a 1 Hz corner
    spread over the record: the middle 80 % still comes back to a relative RMS of 3e-3."""
    x = band_limited_noise(48000, 5.0, 8000.0)
    back = remove_response(apply_response(x, RATE, response), RATE, response, band_hz=BAND_HZ)
    mid = slice(4800, 43200)
    assert _rel_rms(back[mid], x[mid]) < 3e-3


def test_band_limits_zero_the_spectrum_outside():
    x = band_limited_noise(24000, 1.0, 11000.0)
    y = remove_response(x, RATE, DelayResponse(0.0), band_hz=(100.0, 1000.0))
    f = np.fft.rfftfreq(len(y), 1 / RATE)
    s = np.abs(np.fft.rfft(y))
    assert s[(f > 2000)].max() < 1e-3 * s[(f > 200) & (f < 900)].max()


def test_non_finite_input_is_refused_with_a_pointer_to_good_segments():
    x = np.ones(100)
    x[3] = np.nan
    with pytest.raises(CalibrationError, match="good segments"):
        remove_response(x, RATE, COIL)


# -- the inter-channel delay ------------------------------------------------------------------------------
def _phase_deg_at(x: np.ndarray, y: np.ndarray, f_hz: float, rate: float) -> float:
    """Cross-spectral phase of y relative to x at f_hz (DFT projection over whole cycles)."""
    t = np.arange(len(x)) / rate
    k = np.exp(-2j * np.pi * f_hz * t)
    return float(np.degrees(np.angle(np.sum(y * k) * np.conj(np.sum(x * k)))))


def test_ten_microsecond_delay_is_18_degrees_at_5_khz_and_is_corrected():
    """A sum of sines evaluated exactly at t and at t - 10 us (no filtering involved in making the delay):
    the delayed channel lags by 360 * 5000 * 1e-5 = 18 deg at 5 kHz; removing DelayResponse(10 us)
    brings the cross-spectral phase to zero."""
    rng = np.random.default_rng(3)
    n = 24000  # 1 s: every integer frequency fits whole cycles
    t = np.arange(n) / RATE
    freqs = np.array([5000.0, *rng.integers(10, 9000, 40)])
    phases = rng.uniform(0, 2 * np.pi, len(freqs))
    tau = 10e-6
    x = np.sin(TWO_PI * freqs[:, None] * t + phases[:, None]).sum(axis=0)
    y = np.sin(TWO_PI * freqs[:, None] * (t - tau) + phases[:, None]).sum(axis=0)
    assert _phase_deg_at(x, y, 5000.0, RATE) == pytest.approx(-18.0, abs=1e-6)
    corrected = remove_response(y, RATE, DelayResponse(tau), pad=False)
    assert _phase_deg_at(x, corrected, 5000.0, RATE) == pytest.approx(0.0, abs=1e-6)
    # and by Welch cross-spectrum on noise, as processing would see it
    noise = band_limited_noise(240000, 10.0, 11000.0, seed=5)
    delayed = apply_response(noise, RATE, DelayResponse(tau))
    f, pxy = scipy.signal.csd(noise, delayed, fs=RATE, nperseg=4800)
    i = np.argmin(np.abs(f - 5000.0))
    assert np.degrees(np.angle(pxy[i])) == pytest.approx(-18.0, abs=0.05)
    fixed = remove_response(delayed, RATE, DelayResponse(tau))
    _, pxy2 = scipy.signal.csd(noise, fixed, fs=RATE, nperseg=4800)
    assert np.degrees(np.angle(pxy2[i])) == pytest.approx(0.0, abs=0.05)


# -- calibration of records --------------------------------------------------------------------------------
def test_calibrate_run_removes_channel_responses_over_good_segments_only():
    nt = band_limited_noise(48000, 5.0, 8000.0, seed=1)
    mvkm = band_limited_noise(48000, 5.0, 8000.0, seed=2)
    e_resp = PoleZeroResponse(zeros=(), poles=(), gain=50.0 * 1e-6, name="50 m dipole")
    counts_h = apply_response(nt, RATE, COIL)
    counts_e = apply_response(mvkm, RATE, e_resp)
    counts_h[20000:20100] = np.nan  # a gap: each side is calibrated on its own
    run = StationRun(
        "S",
        "001",
        RATE,
        UTCDateTime(2024, 1, 1),
        {"ex": counts_e, "hx": counts_h},
        {
            "ex": ChannelMeta("ex", "V", dipole_length_m=50.0, response=e_resp),
            "hx": ChannelMeta("hx", "V", response=COIL),
        },
    )
    cal = calibrate_run(run, band_hz=BAND_HZ)
    assert cal.meta["ex"].units == "mV/km" and cal.meta["hx"].units == "nT"
    assert cal.meta["hx"].response is None and "removed" in cal.meta["hx"].extra["calibration"]
    assert np.isnan(cal.data["hx"][20000:20100]).all()
    mid = slice(5000, 15000)  # inside the first good segment [0, 20000), away from its edges
    assert _rel_rms(cal.data["hx"][mid], nt[mid]) < 3e-3
    assert _rel_rms(cal.data["ex"][mid], mvkm[mid]) < 1e-3  # a pure gain: only the 2 Hz band edge acts


def test_calibrate_keeps_uncalibrated_channels_and_says_so():
    run = StationRun("S", "001", 10.0, UTCDateTime(0), {"hy": np.ones(10)}, {"hy": ChannelMeta("hy", "V")})
    cal = calibrate(Station("S", [run]))
    assert cal.runs[0].meta["hy"].units == "V" and "none" in cal.runs[0].meta["hy"].extra["calibration"]


def test_phoenix_e_channels_calibrate_to_mv_per_km():
    from shared.paths import data_root

    rec = data_root() / "amt" / "phoenix_mtu5c" / "10128_2021-04-27-032436"
    if not rec.is_dir():
        pytest.skip(f"Phoenix recording not found at {rec}")
    st = amt.io.read(rec, rates=(150,))
    cal = calibrate(st)
    run, raw = cal.runs[0], st.runs[0]
    # 100 m dipole: V / (100 m * 1e-6 V per mV/km) = V * 1e4 mV/km
    np.testing.assert_allclose(run.data["ex"], raw.data["ex"] * 1e4, rtol=1e-9)
    assert run.meta["ex"].units == "mV/km" and run.meta["hx"].units == "V"


# -- Metronix coil tables ---------------------------------------------------------------------------------
def test_metronix_text_table_is_read_per_chopper_state(tmp_path):
    p = tmp_path / "MFS06e612.txt"
    p.write_text(
        "Calibration for MFS06e #612\n"
        "Chopper On\n"
        "FREQUENCY  MAGNITUDE  PHASE\n"
        "+1.0000E-01 +1.9000E-01 +8.9000E+01\n"
        "+1.0000E+00 +1.9000E-01 +8.0000E+01\n"
        "+1.0000E+01 +1.5000E-01 +2.0000E+01\n"
        "Chopper Off\n"
        "+1.0000E+01 +1.6000E-01 +1.8000E+01\n"
        "+1.0000E+03 +2.0000E-03 -6.0000E+01\n"
    )
    tables = load_metronix_coil_table(p)
    assert set(tables) == {"chopper_on", "chopper_off"}
    on = tables["chopper_on"]
    # V/(nT*Hz) * f = V/nT
    h = on.evaluate(np.array([1.0, 10.0]))
    np.testing.assert_allclose(np.abs(h), [0.19, 1.5])
    np.testing.assert_allclose(np.degrees(np.angle(h)), [80.0, 20.0])


def test_metronix_json_calibration_states_its_units(tmp_path):
    import json

    p = tmp_path / "084_ADU-07e_C002_THx_128Hz.json"
    p.write_text(
        json.dumps(
            {
                "sensor_calibration": {
                    "sensor": "MFS-06e",
                    "serial": 26,
                    "chopper": 0,
                    "units_frequency": "Hz",
                    "units_amplitude": "mV/nT",
                    "units_phase": "degrees",
                    "f": [1.0, 100.0],
                    "a": [200.0, 800.0],
                    "p": [85.0, 5.0],
                }
            }
        )
    )
    t = load_metronix_coil_table(p)["chopper_off"]
    np.testing.assert_allclose(np.abs(t.evaluate(np.array([1.0, 100.0]))), [0.2, 0.8])
