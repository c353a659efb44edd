"""Sferic labels and SNR, as the sferic detector is scored.

* Label interval: where the noise-free horizontal H energy ``hx^2 + hy^2`` in the label band
  (1-10 kHz) passes 5 % and 95 % of its cumulative value (inclusive sample range).
* ``SNR = 10 log10(E_s / (P_n T_s))``: ``E_s`` the band energy inside the interval (nT^2 s), ``T_s`` its
  length (s), ``P_n`` the noise power in the same band (nT^2, hx + hy): self-noise and powerline
  (from the noise model), spikes (their band energy over the record), and every sferic below the label
  threshold (its whole band energy over the record). Which sferics fall below the threshold depends on
  ``P_n``, so both are found by a fixed point (monotone: starts with every sferic as noise).
* Sferics with SNR >= ``label_threshold_db`` (default -30 dB) are listed; those below ``dont_care_db``
  (-20 dB) are flagged ``dont_care``: neither hits nor misses.
* Each label also gives the peak time (maximum band energy density), the peak broadband amplitude
  ``max sqrt(hx^2 + hy^2)`` (nT), the H-polarisation azimuth (major axis of the band-passed (hx, hy)
  over the interval, degrees clockwise from north, 0-180), the flash distance and bearing, and storm id.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True, kw_only=True)
class SfericLabel:
    """The truth of one labelled sferic: the one label type of :mod:`amt.synth` and :mod:`amt.synth.records`.

    Sample indices count from the first sample of the run (or of the :mod:`amt.synth.records` record) and form the
    half-open label interval ``[start_index, end_index)``.

    Attributes
    ----------
    station, run
        Where the sferic was recorded (empty for the records of :mod:`amt.synth.records`, which have neither).
    flash
        Index of the flash in the generator's draw.
    start_index, end_index, peak_index
        Label interval (end exclusive) and the sample of largest band energy density (the waveform's largest
        magnitude in :mod:`amt.synth.records`); the peak may lie outside the record for a clipped label.
    start, end, peak_time
        The same as UTC ISO 8601 times (empty for :mod:`amt.synth.records` records, which have no absolute time).
    amplitude_nt
        Peak broadband horizontal amplitude ``max sqrt(hx^2 + hy^2)``, nT.
    polarization_deg
        Polarisation azimuth of horizontal H, degrees clockwise from north in [0, 180): an axis, not a direction.
        For a vertical stroke it is perpendicular to the bearing (``azimuth_deg + 90``, mod 180).
    distance_km
        Distance of the flash, km.
    azimuth_deg
        Bearing of the flash from the station, degrees clockwise from north.
    storm_id
        Index of the storm the flash belongs to.
    energy_nt2_s
        Band energy ``E_s`` inside the label interval, nT^2 s.
    snr_db
        ``10 log10(E_s / (P_n T_s))``, dB (module notes).
    dont_care
        Below the don't-care SNR: a detection there is neither a hit nor a false alarm, a miss is no miss.
    """

    station: str = ""
    run: str = ""
    flash: int
    start_index: int
    end_index: int
    peak_index: int
    start: str = ""
    end: str = ""
    peak_time: str = ""
    amplitude_nt: float
    polarization_deg: float
    distance_km: float
    azimuth_deg: float
    storm_id: int
    energy_nt2_s: float
    snr_db: float
    dont_care: bool

    def to_json(self) -> dict:
        """The label as a JSON-able dict (the entries of ``*.labels.json``)."""
        return asdict(self)


def features(band_h: np.ndarray, full_h: np.ndarray, rate_hz: float) -> dict[str, np.ndarray]:
    """Label features of sferics from their noise-free window waveforms.

    Parameters
    ----------
    band_h
        ``(n, 2, L)`` band-passed (hx, hy), nT.
    full_h
        ``(n, 2, L)`` broadband (hx, hy), nT.
    rate_hz
        Sample rate, Hz.

    Returns
    -------
    dict
        ``i0, i1`` (interval, inclusive, window samples), ``ipeak``, ``energy`` (interval band energy,
        nT^2 s), ``total`` (whole band energy), ``amplitude`` (nT), ``polarization`` (degrees, 0-180).
    """
    p = np.sum(band_h**2, axis=1)
    dt = 1.0 / rate_hz
    total = p.sum(axis=1)
    c = np.cumsum(p, axis=1) / np.where(total > 0, total, 1.0)[:, None]
    i0 = np.count_nonzero(c < 0.05, axis=1)
    i1 = np.minimum(np.count_nonzero(c < 0.95, axis=1), p.shape[1] - 1)
    idx = np.arange(p.shape[1])
    inside = (idx >= i0[:, None]) & (idx <= i1[:, None])
    bx, by = band_h[:, 0] * inside, band_h[:, 1] * inside
    sxx, syy, sxy = np.sum(bx * bx, 1), np.sum(by * by, 1), np.sum(bx * by, 1)
    pol = np.rad2deg(0.5 * np.arctan2(2 * sxy, sxx - syy)) % 180.0
    return {
        "i0": i0,
        "i1": i1,
        "ipeak": np.argmax(p, axis=1),
        "energy": np.sum(p * inside, axis=1) * dt,
        "total": total * dt,
        "amplitude": np.sqrt(np.max(np.sum(full_h**2, axis=1), axis=1)),
        "polarization": pol,
    }


def snr_fixed_point(
    energy: np.ndarray,
    total: np.ndarray,
    length_s: np.ndarray,
    p_stationary: float,
    record_s: float,
    threshold_db: float,
) -> tuple[np.ndarray, np.ndarray, float]:
    """SNRs (dB), the labelled mask and P_n (nT^2), consistent with each other.

    Parameters
    ----------
    energy
        Interval band energies E_s, nT^2 s.
    total
        Whole band energies of the same sferics (what an unlabelled sferic adds to the noise).
    length_s
        Interval lengths T_s, s.
    p_stationary
        Noise power that is not sferics (self-noise, powerline, spikes), nT^2.
    record_s
        Time over which the sferics were drawn, s.
    threshold_db
        Label threshold.
    """
    labelled = np.zeros(len(energy), dtype=bool)
    while True:
        p_n = p_stationary + float(np.sum(total[~labelled])) / record_s
        with np.errstate(divide="ignore"):
            snr = 10 * np.log10(energy / (p_n * length_s)) if p_n > 0 else np.full(len(energy), np.inf)
        new = snr >= threshold_db
        if np.array_equal(new, labelled):
            return snr, labelled, p_n
        labelled = new


def masks(labels: list[SfericLabel], n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample masks of one run: ``(sferic, dont_care)``, boolean ``(n_samples,)``.

    ``sferic`` marks the intervals of sferics at or above the don't-care SNR; ``dont_care`` the intervals
    of listed sferics below it (a detection there is neither a hit nor a false alarm).
    """
    sferic = np.zeros(n_samples, dtype=bool)
    dont_care = np.zeros(n_samples, dtype=bool)
    for lab in labels:
        a, b = max(lab.start_index, 0), min(lab.end_index, n_samples)
        if b > a:
            (dont_care if lab.dont_care else sferic)[a:b] = True
    return sferic, dont_care
