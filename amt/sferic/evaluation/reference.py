"""Clairvoyant matched-filter reference: what a detector handed every sferic's waveform could score.

The detector's targets (docs/acceptance.md#sferic-detection) are stated on the synthetic field's SNR,
``E_s / (P_n T_s)`` over a label interval of only ~1-1.6 ms, so -10 dB leaves a sferic very little energy to be found
by. This module measures how much, on the held-out records themselves, with a detector given far more than any real
one has:

* the exact noise-free waveform of every labelled sferic (both horizontal channels: polarity, polarisation,
  dispersion, everything but the noise), the noise's own power spectral density, and where the spikes are
  (those samples are zeroed);
* the **whitened matched filter** (North, 1963, Proc. IEEE 51, 1016; Van Trees, 2001, *Detection, Estimation,
  and Modulation Theory I*, ch. 4): each channel's spectrum divided by the square root of the noise PSD (Welch
  estimate from the record's noise, labelled sferics removed), then correlated with the equally whitened
  template. Divided by the standard deviation of that correlation over noise alone (1.4826 x MAD), noise gives
  about N(0, 1) and a sferic adds its deflection ``d`` = whitened template energy over that deviation;
  ``d = sqrt(2 E / N0)`` in white Gaussian noise. For a known signal in Gaussian noise this is the
  Neyman-Pearson most powerful test;
* **hits**: a labelled sferic is found when its own template's statistic, taken at its true position on its
  own noise plus itself, reaches the threshold; a found sferic labels exactly its interval (no timing error);
* **false events**: the noise alone scanned at every lag with the bank of every template of the cell
  (absolute value: polarity unknown); runs above threshold closer than 1 ms merge; each costs its extent
  plus the cell's mean label length in false samples;
* the threshold is picked afterwards, per cell, for the best sample F1 (an oracle choice).

Each simplification favours the reference (waveforms and positions known, a finite bank, sferics never
interfering with one another, oracle threshold), so a practical detector is not expected to reach it. It is
not a theorem for the non-Gaussian parts of the noise (background sferics, spikes), which is why it is
measured on the records rather than read off the formula.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.signal

from amt.sferic.evaluation.heldout import Cell, records
from amt.sferic.events import hysteresis
from amt.synth.records import SynthRecord

#: Noise runs closer than this merge into one false event, s.
MERGE_S = 1e-3
#: Welch segment length for the noise PSD, samples.
PSD_SEGMENT = 1024
#: Thresholds tried (statistic in noise standard deviations).
THRESHOLDS = np.round(np.arange(1.0, 20.0, 0.05), 2)


@dataclass(frozen=True)
class RecordStatistics:
    """Matched-filter statistics of one record.

    Attributes
    ----------
    hit_statistic : numpy.ndarray
        Per labelled sferic (record order): its own template's statistic at its true position.
    deflection : numpy.ndarray
        Per labelled sferic: ``d``, the statistic's noise-free value there.
    lengths : numpy.ndarray
        Per labelled sferic: label length, samples.
    care : numpy.ndarray
        Per labelled sferic: counts as hit or miss.
    false_events : numpy.ndarray
        Per threshold of :data:`THRESHOLDS`: false events in the noise-only scan.
    false_extent : numpy.ndarray
        Per threshold: summed extent of those events' lags, samples (a false event of extent ``x`` marks
        ``x`` plus one label length of samples).
    seconds : float
        Record length, s.
    """

    hit_statistic: np.ndarray
    deflection: np.ndarray
    lengths: np.ndarray
    care: np.ndarray
    false_events: np.ndarray
    false_extent: np.ndarray
    seconds: float


def whitening(noise: np.ndarray, rate_hz: float, n_fft: int) -> np.ndarray:
    """``1 / sqrt(PSD)`` of each row of ``noise`` on the ``rfft`` grid of ``n_fft`` samples."""
    f, psd = scipy.signal.welch(noise, fs=rate_hz, nperseg=min(PSD_SEGMENT, noise.shape[-1]), axis=-1)
    grid = scipy.fft.rfftfreq(n_fft, 1.0 / rate_hz)
    floor = 1e-12 * max(float(psd.max()), 1e-300)
    return np.stack([1.0 / np.sqrt(np.maximum(np.interp(grid, f, row), floor)) for row in psd])


def count_runs(above: np.ndarray, merge: int) -> tuple[int, int]:
    """Runs of True in ``above`` (runs separated by fewer than ``merge`` False samples merged into one).

    Returns
    -------
    tuple of int
        The number of runs and their summed extent ``last - first`` (samples; 0 for a one-sample run).
    """
    r = hysteresis(above.astype(np.float64), 1.0, 1.0, min_gap=merge)
    return len(r), int(np.sum(r[:, 1] - r[:, 0] - 1)) if len(r) else 0


def record_statistics(
    rec: SynthRecord, bank: list[np.ndarray], own: list[int], thresholds: np.ndarray = THRESHOLDS
) -> RecordStatistics:
    """Hit statistics of ``rec``'s labelled sferics and false events of the noise scanned with ``bank``.

    Parameters
    ----------
    rec
        A record with its noise-free waveforms (:attr:`SynthRecord.waveforms`).
    bank
        Templates ``(2, L)`` (Hx, Hy, nT) scanned over the noise: every labelled waveform of the cell.
    own
        Index into ``bank`` of each of ``rec``'s labels' own waveform.
    thresholds
        Decision levels, in noise standard deviations.
    """
    rate = rec.config.rate_hz
    n = rec.n_samples
    noise = rec.h[:2] - rec.signal()
    noise[:, rec.spikes] = 0.0  # the reference knows where the spikes are
    length = max(t.shape[1] for t in bank) if bank else 1
    n_fft = scipy.fft.next_fast_len(n + length)
    w = whitening(noise, rate, n_fft)
    noise_w = scipy.fft.rfft(noise, n_fft, axis=-1) * w
    scan = np.zeros(n)
    std = np.ones(len(bank))
    deflection = np.zeros(len(bank))
    hit_noise = np.zeros(len(own))
    where = {k: [i for i, j in enumerate(own) if j == k] for k in set(own)}
    for k, tmpl in enumerate(bank):
        t_w = scipy.fft.rfft(tmpl, n_fft, axis=-1) * w
        corr = scipy.fft.irfft(np.sum(noise_w * np.conj(t_w), axis=0), n_fft)
        energy = float(scipy.fft.irfft(np.sum(np.abs(t_w) ** 2, axis=0), n_fft)[0])
        body = corr[:n]
        std[k] = 1.4826 * float(np.median(np.abs(body - np.median(body))))
        deflection[k] = energy / std[k]
        np.maximum(scan, np.abs(body) / std[k], out=scan)
        for i in where.get(k, []):
            s = rec.waveforms[i][0]
            hit_noise[i] = corr[s % n_fft] / std[k]
    d = deflection[own] if own else np.zeros(0)
    runs = np.array([count_runs(scan >= t, round(MERGE_S * rate)) for t in thresholds]).reshape(-1, 2)
    return RecordStatistics(
        hit_statistic=hit_noise + d,
        deflection=d,
        lengths=np.array([lab.end_index - lab.start_index for lab in rec.labels], dtype=float),
        care=np.array([not lab.dont_care for lab in rec.labels], dtype=bool),
        false_events=runs[:, 0],
        false_extent=runs[:, 1],
        seconds=n / rate,
    )


def cell_reference(cell: Cell, seed: int, thresholds: np.ndarray = THRESHOLDS) -> dict[str, float]:
    """The clairvoyant reference's scores on one cell, pooled over its records, at the best-F1 threshold.

    Returns
    -------
    dict
        ``f1`` (sample level), ``precision``, ``recall``, ``event_recall``, ``event_precision``, ``event_f1``,
        ``false_per_s``, ``threshold`` (noise standard deviations), ``deflection_median`` (``d``),
        ``n_sferics``.
    """
    recs = list(records(cell, seed))
    bank, owners = [], []
    for rec in recs:
        owners.append(list(range(len(bank), len(bank) + len(rec.waveforms))))
        bank.extend(w for _, w in rec.waveforms)
    stats = [record_statistics(rec, bank, own, thresholds) for rec, own in zip(recs, owners, strict=True)]
    z = np.concatenate([s.hit_statistic for s in stats])
    care = np.concatenate([s.care for s in stats])
    lengths = np.concatenate([s.lengths for s in stats])
    z, lengths = z[care], lengths[care]
    false = np.sum([s.false_events for s in stats], axis=0)
    mean_len = float(lengths.mean()) if lengths.size else 0.0
    found = z[None, :] >= thresholds[:, None]
    tp = found.astype(float) @ lengths
    fn = lengths.sum() - tp
    fp = false * mean_len + np.sum([s.false_extent for s in stats], axis=0)
    f1 = np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1e-300), 0.0)
    best = int(np.argmax(f1))
    hits = int(found[best].sum())
    ev_r = hits / len(z) if len(z) else 1.0
    ev_p = float(hits / (hits + false[best])) if hits + false[best] else 1.0
    return {
        "f1": float(f1[best]),
        "precision": float(tp[best] / (tp[best] + fp[best])) if tp[best] + fp[best] else 1.0,
        "recall": float(tp[best] / lengths.sum()) if lengths.size else 1.0,
        "event_recall": ev_r,
        "event_precision": ev_p,
        "event_f1": 2 * ev_r * ev_p / (ev_r + ev_p) if ev_r + ev_p else 0.0,
        "false_per_s": float(false[best] / sum(s.seconds for s in stats)),
        "threshold": float(thresholds[best]),
        "deflection_median": float(np.median(np.concatenate([s.deflection[s.care] for s in stats]))),
        "n_sferics": len(z),
    }
