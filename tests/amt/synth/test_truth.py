"""E = Z H holds in the record: plain least squares on its own spectra recovers the true Z."""

from __future__ import annotations

import numpy as np

from amt.synth import NoiseModel, Site, Storm, generate
from amt.synth.noise import ChannelNoise
from tests.amt.synth.conftest import LAYERS, calibrated, config, white_coil_noise

NWIN = 512
TARGETS_HZ = (500, 700, 1000, 1500, 2000, 2500, 3000, 4000, 6000, 8000, 10000)


def sferic_windows(data: dict[str, np.ndarray], labels, n: int) -> np.ndarray:
    """Hann-tapered spectra ``(n_windows, 4, n_freq)`` of ex, ey, hx, hy around labelled sferics."""
    taper = np.hanning(NWIN)
    out = []
    for lab in labels:
        a = lab.peak_index - NWIN // 4
        if lab.dont_care or a < 0 or a + NWIN > n:
            continue
        out.append([np.fft.rfft(taper * data[c][a : a + NWIN]) for c in ("ex", "ey", "hx", "hy")])
    return np.asarray(out)


def least_squares(spec: np.ndarray, k: int) -> np.ndarray:
    """Row-wise LS of E = Z H over windows at bin k (the plain estimator, written here on purpose)."""
    z, *_ = np.linalg.lstsq(spec[:, 2:, k], spec[:, :2, k], rcond=None)
    return z.T


def relative_error(z: np.ndarray, truth: np.ndarray) -> float:
    return float(np.abs(z - truth).max() / np.abs(truth[[0, 1], [1, 0]]).min())


def energetic_bins(signal: np.ndarray, noise: np.ndarray) -> list[int]:
    """Bins near the targets where the sferics carry >= 100 x the noise power in every channel."""
    f = np.fft.rfftfreq(NWIN, 1 / 24000)
    out = []
    for f0 in TARGETS_HZ:
        k = int(np.argmin(np.abs(f - f0)))
        s = np.sum(np.abs(signal[:, :, k]) ** 2, axis=0)
        nz = np.sum(np.abs(noise[:, :, k]) ** 2, axis=0)
        if np.all(s >= 100 * nz):
            out.append(k)
    return out


def check_recovery(data, quiet, labels, n) -> list[float]:
    spec = sferic_windows(data, labels, n)
    signal = sferic_windows(quiet, labels, n)
    noise = sferic_windows({c: data[c] - quiet[c] for c in data}, labels, n)
    bins = energetic_bins(signal, noise)
    assert len(bins) >= 6, "sferics should dominate most of 0.5-10 kHz"
    f = np.fft.rfftfreq(NWIN, 1 / 24000)
    errors = [relative_error(least_squares(spec, k), LAYERS.impedance(f[k : k + 1])[0]) for k in bins]
    assert max(errors) < 0.02, dict(zip(f[bins].tolist(), errors, strict=True))
    return errors


def test_least_squares_on_sferic_windows_recovers_true_z(layered, layered_quiet) -> None:
    run, quiet = layered.stations[0].runs[0], layered_quiet.stations[0].runs[0]
    check_recovery(run.data, quiet.data, layered.labels, run.n_samples)


def test_from_counts_removing_the_stated_response_recovers_true_z(layered_counts, layered_quiet) -> None:
    run, quiet = layered_counts.stations[0].runs[0], layered_quiet.stations[0].runs[0]
    assert all(run.meta[c].units == "counts" for c in run.channels)
    assert np.all(run.data["hx"] == np.rint(run.data["hx"]))
    data = calibrated(run)
    check_recovery(data, {c: quiet.data[c] for c in data}, layered_counts.labels, run.n_samples)


def test_counts_without_calibration_do_not_give_z(layered_counts) -> None:
    """The response matters: LS on raw counts is far from Z (the test above is not trivially true)."""
    run = layered_counts.stations[0].runs[0]
    spec = sferic_windows(run.data, layered_counts.labels, run.n_samples)
    f = np.fft.rfftfreq(NWIN, 1 / 24000)
    k = int(np.argmin(np.abs(f - 4000)))
    assert relative_error(least_squares(spec, k), LAYERS.impedance(f[k : k + 1])[0]) > 0.5


def segment_spectra(x: np.ndarray, n: int = 256) -> np.ndarray:
    m = len(x) // n
    return np.fft.rfft(np.hanning(n) * x[: m * n].reshape(m, n), axis=1)


def test_remote_reference_removes_the_bias_of_noisy_h() -> None:
    """Shared sources, 0 dB H noise at 2 kHz (dead band) at the local site A: single-site LS is biased
    low (about S / (S + N) = 1/2), plain remote reference with site B's H lands within 5 %.

    The noise floor is set to the sferic H PSD measured around 2 kHz on the noise-free record (same
    seed); cross-spectra are pooled over 3 neighbouring bins (+-94 Hz), the usual band averaging."""
    # storms of equal range from three directions, so H is not polarised in one direction
    storms = tuple(Storm(az, 1000.0, 50.0) for az in (20.0, 80.0, 140.0))
    base = config(duration_s=10.0, sferic_rate_hz=40.0, storms=storms)
    quiet_sites = (Site("A", LAYERS, noise=NoiseModel().scaled(0.0)), Site("B", LAYERS, 1000.0, 0.0))
    quiet = generate(base.__class__(**{**base.__dict__, "sites": quiet_sites}))
    n = 256
    f = np.fft.rfftfreq(n, 1 / 24000)
    w2 = np.sum(np.hanning(n) ** 2)
    qa = quiet.stations[0].runs[0].data
    # one-sided PSD of the sferic H per component, nT^2/Hz, and the 0 dB noise floor at 2 kHz
    psd = sum(np.mean(np.abs(segment_spectra(qa[c])) ** 2, axis=0) for c in ("hx", "hy")) / (24000 * w2)
    k0 = int(np.argmin(np.abs(f - 2000.0)))  # the heart of the day-time dead band
    floor = float(np.sqrt(np.mean(psd[k0 - 1 : k0 + 2])))
    noisy = white_coil_noise(floor)
    # site A's noise, added exactly as generate() adds it (same class, same seed and station index)
    a = {c: qa[c] + ChannelNoise(noisy, c, 24000.0, base.seed, 0).samples(0, len(qa[c])) for c in qa}
    b = quiet.stations[1].runs[0].data
    e = np.stack([segment_spectra(a[c]) for c in ("ex", "ey")], axis=1)
    h = np.stack([segment_spectra(a[c]) for c in ("hx", "hy")], axis=1)
    r = np.stack([segment_spectra(b[c]) for c in ("hx", "hy")], axis=1)
    single, remote = [], []
    for k in (k0,):
        truth = LAYERS.impedance(f[k : k + 1])[0]
        pool = slice(k - 1, k + 2)
        hh = h[:, :, pool].transpose(0, 2, 1).reshape(-1, 2)
        eh = e[:, :, pool].transpose(0, 2, 1).reshape(-1, 2)
        rr = r[:, :, pool].transpose(0, 2, 1).reshape(-1, 2)
        z_ss = (eh.T @ hh.conj()) @ np.linalg.inv(hh.T @ hh.conj())
        z_rr = (eh.T @ rr.conj()) @ np.linalg.inv(hh.T @ rr.conj())
        single.append(abs(z_ss[0, 1]) / abs(truth[0, 1]))
        remote.append(float(np.linalg.norm(z_rr - truth) / np.linalg.norm(truth)))  # Frobenius
    assert 0.3 < single[0] < 0.7, single  # S / (S + N) = 1/2 at 0 dB
    assert max(remote) < 0.05, (single, remote)
