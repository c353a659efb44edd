"""An event probability that means something: a trigger set for a false-alarm rate, and isotonic calibration.

* **Candidates.** Every run of the probability trace above the trigger-off level is a candidate event; its score is
  the trace's peak inside it (:func:`candidate_peaks`). An event trigger ``t`` keeps the candidates whose peak is at
  least ``t``, exactly what :meth:`amt.sferic.inference.SfericDetector.events_in` does.
* **Mains-locked repetition veto** (a second stage on a candidate's timing): interference from rectifiers, fences and
  drives repeats exactly every mains cycle (the Phoenix bench recording; :class:`amt.sferic.augment.ImpulseTrain` in
  training), sferics arrive at Poisson times. A candidate with other candidates at least ``min_repeats`` of ``-2T, -T,
  +T, +2T`` (T = 1/50 or 1/60 s, within 0.2 ms) is mains-locked and never becomes an event (:func:`mains_locked`),
  provided one of the candidates it repeats with repeats too (members of a train all do; an unevenly spaced chance
  triple of Poisson candidates does not, an evenly spaced one does and is vetoed). The times compared are the
  candidate's onset (first sample above the trigger-off level, the seismologist's pick) and its probability peak, each
  against the same time of the others: a strong pulse drives the trace to a plateau near 1 whose arg-max wanders by
  milliseconds from cycle to cycle while its onset stays within a sample or two (docs/results.md#sferic-detection).
  For Poisson candidates at rate ``r`` a chance match has probability below ``2 x 2 x 6 (2 r tol)^2`` (2e-3 at 20
  candidates per second). Several pulses per cycle merge into one candidate in some cycles and not in others, which
  moves onsets and peaks alike; so a candidate is also mains-locked when its onset or peak, shifted by every one of
  ``-2T, -T, +T, +2T`` that falls inside the candidates' extent (first start to last end; at least two), lands inside
  another candidate (widened by the tolerance). By chance that happens with probability about ``2 x 2 x D^4`` inside
  the extent, ``D`` the fraction of it the candidates cover (1e-4 at 20 candidates of 4 ms per second, 0.1 at 100),
  and about ``D^2`` for candidates within two periods of its ends (two shifts only).
* **Trigger for a false-alarm rate.** Like a seismic network sets its STA/LTA trigger on quiet records (Withers et
  al., 1998, BSSA 88, 95), the trigger is the lowest level at which sferic-free records of the *training* families
  give at most ``rate_per_min`` false events per minute (:func:`trigger_for_false_alarm_rate`).
* **Calibration.** The candidate peak is mapped to the probability that the candidate is a sferic by isotonic
  regression (pool-adjacent-violators; Zadrozny & Elkan, 2002, KDD) fitted on records of the training families
  (:class:`Calibration`); the map is monotone, so it changes no decision, only what the number means.
* **Reliability.** Expected calibration error (Naeini, Cooper & Hauskrecht, 2015, AAAI; Guo et al., 2017, ICML):
  the candidate-weighted mean of ``|mean predicted - observed frequency|`` over equal-width probability bins
  (:func:`reliability`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import isotonic_regression

from amt.sferic.events import hysteresis, run_max

#: Mains periods of the repetition veto, s, and its timing tolerance, s.
MAINS_PERIODS_S = (1 / 50, 1 / 60)
REPEAT_TOLERANCE_S = 2e-4


def mains_locked(
    positions: np.ndarray,
    rate_hz: float,
    periods_s: tuple[float, ...] = MAINS_PERIODS_S,
    tol_s: float = REPEAT_TOLERANCE_S,
    min_repeats: int = 2,
    spans: np.ndarray | None = None,
) -> np.ndarray:
    """Which candidates repeat at whole mains periods (module notes).

    Parameters
    ----------
    positions
        Sample index of each candidate, increasing: shape ``(n,)``, or ``(n, m)`` with one column per timing
        reference (onset, peak), each increasing; a candidate is mains-locked when any one reference repeats.
    rate_hz
        Sampling rate, Hz.
    spans
        ``(n, 2)`` candidate intervals ``[start, end)``, increasing: also veto a candidate whose reference times,
        shifted by each whole period inside ``spans[0, 0] .. spans[-1, 1]`` (at least two), all land inside
        another candidate.
    """
    pos = np.asarray(positions, dtype=np.float64)
    pos = pos.reshape(-1, 1) if pos.ndim < 2 else pos
    out = np.zeros(pos.shape[0], dtype=bool)
    if pos.shape[0] < 2:
        return out
    tol = tol_s * rate_hz
    for ref in pos.T:
        for period in periods_s:
            hits = np.zeros(ref.size, dtype=np.int64)
            partners = []
            for k in (-2, -1, 1, 2):
                target = ref + k * period * rate_hz
                j = np.clip(np.searchsorted(ref, target), 1, ref.size - 1)
                j = np.where(np.abs(ref[j] - target) <= np.abs(ref[j - 1] - target), j, j - 1)
                match = np.abs(ref[j] - target) <= tol
                hits += match
                partners.append((j, match))
            repeats = hits >= min_repeats
            # a train's members all repeat; a chance triple of Poisson candidates does not (its partners repeat once)
            out |= repeats & np.any([m & repeats[j] for j, m in partners], axis=0)
            if spans is not None:
                out |= _covered(ref, np.asarray(spans, dtype=np.float64), period * rate_hz, tol)
    return out


def _covered(ref: np.ndarray, spans: np.ndarray, period: float, tol: float) -> np.ndarray:
    """Reference times whose every shift by -2..+2 periods (those inside the spans, >= 2) lands in another span."""
    start, end = spans[:, 0] - tol, spans[:, 1] + tol
    hits = np.zeros(ref.size, dtype=np.int64)
    inside = np.zeros(ref.size, dtype=np.int64)
    own = np.arange(ref.size)
    for k in (-2, -1, 1, 2):
        target = ref + k * period
        j = np.searchsorted(start, target, side="right") - 1
        within = (target >= spans[0, 0]) & (target < spans[-1, 1])
        hits += within & (j >= 0) & (j != own) & (target < end[np.maximum(j, 0)])
        inside += within
    return (hits >= np.maximum(inside, 2)) & (inside >= 2)


def candidate_peaks(
    prob: np.ndarray, low: float, min_gap: int, rate_hz: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate events ``[start, end)`` (every run above ``low``, gaps under ``min_gap`` merged) and their peaks.

    With ``rate_hz`` given, mains-locked candidates (:func:`mains_locked`, on the samples of their onsets and of
    their peaks, and on their intervals) are dropped: they never become events.
    """
    r = hysteresis(prob, low, low, min_gap=min_gap)
    if not len(r):
        return r, np.zeros(0)
    p = np.asarray(prob, dtype=np.float64)
    peaks = np.nan_to_num(run_max(p, r), nan=0.0)
    if rate_hz is None:
        return r, peaks
    where = np.array([a + int(np.nanargmax(p[a:b])) if np.isfinite(p[a:b]).any() else a for a, b in r])
    keep = ~locked_candidates(r, where, rate_hz)
    return r[keep], peaks[keep]


def locked_candidates(spans: np.ndarray, peaks_at: np.ndarray, rate_hz: float) -> np.ndarray:
    """:func:`mains_locked` of candidates ``[start, end)`` (``spans``, ``(n, 2)`` sample indices) on their onsets
    (the starts), on their peaks (sample indices ``peaks_at``) and on their intervals."""
    return mains_locked(np.column_stack([spans[:, 0], peaks_at]), rate_hz, spans=spans)


def trigger_for_false_alarm_rate(noise_peaks: np.ndarray, minutes: float, rate_per_min: float, low: float) -> float:
    """Lowest trigger level giving at most ``rate_per_min`` false events per minute on sferic-free records.

    Parameters
    ----------
    noise_peaks
        Peaks of every candidate event on the sferic-free records (:func:`candidate_peaks`).
    minutes
        Length of those records, minutes.
    rate_per_min
        Allowed false events per minute.
    low
        Trigger-off level: the trigger is never below it.

    Returns
    -------
    float
        The level: just above the ``k``-th highest noise peak, ``k = floor(rate * minutes) + 1``.
    """
    if minutes <= 0:
        raise ValueError(f"need sferic-free records, got {minutes} minutes")
    allowed = int(np.floor(rate_per_min * minutes))
    peaks = np.sort(np.asarray(noise_peaks, dtype=np.float64))[::-1]
    if len(peaks) <= allowed:
        return float(low)
    return float(min(max(np.nextafter(peaks[allowed], np.inf), low), 1.0))


@dataclass(frozen=True)
class Calibration:
    """A monotone map from a candidate's peak probability to the probability that it is a sferic.

    Attributes
    ----------
    x, y
        Breakpoints (peak probability, calibrated probability), ``x`` increasing, ``y`` non-decreasing; linear
        interpolation between them, constant beyond.
    """

    x: tuple[float, ...]
    y: tuple[float, ...]

    @classmethod
    def fit(cls, scores: np.ndarray, outcomes: np.ndarray, min_count: int = 20) -> Calibration:
        """Isotonic regression of ``outcomes`` (1: the candidate is a sferic) on ``scores``.

        Candidates are first pooled into blocks of ``min_count`` in score order, so no breakpoint rests on a
        handful of candidates.
        """
        s = np.asarray(scores, dtype=np.float64)
        o = np.asarray(outcomes, dtype=np.float64)
        if s.size < min_count or s.size != o.size:
            raise ValueError(f"need at least {min_count} scored candidates with outcomes, got {s.size} and {o.size}")
        order = np.argsort(s, kind="stable")
        s, o = s[order], o[order]
        blocks = np.arange(s.size) // min_count
        n = np.bincount(blocks)
        xs, ys = np.bincount(blocks, s) / n, np.bincount(blocks, o) / n
        fitted = isotonic_regression(ys, weights=n.astype(np.float64)).x
        # keep only the ends of each flat stretch: the same interpolant with few breakpoints
        change = np.r_[True, fitted[1:] != fitted[:-1]]
        keep = change | np.r_[change[1:], True]
        return cls(tuple(float(v) for v in xs[keep]), tuple(float(v) for v in fitted[keep]))

    def __call__(self, p: np.ndarray | float) -> np.ndarray:
        """Calibrated probability of peak probabilities ``p``."""
        return np.interp(np.asarray(p, dtype=np.float64), self.x, self.y)

    def to_dict(self) -> dict[str, Any]:
        return {"x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibration:
        x, y = tuple(float(v) for v in d["x"]), tuple(float(v) for v in d["y"])
        if len(x) != len(y) or len(x) < 1 or np.any(np.diff(x) < 0) or np.any(np.diff(y) < -1e-12):
            raise ValueError("calibration needs matching, non-decreasing x and y breakpoints")
        return cls(x, y)


def reliability(p: np.ndarray, outcomes: np.ndarray, n_bins: int = 10) -> tuple[float, list[dict[str, float]]]:
    """Expected calibration error and the reliability curve over ``n_bins`` equal-width bins of ``p``.

    Returns
    -------
    (ece, curve)
        ``curve``: per non-empty bin ``{"lo", "hi", "n", "predicted", "observed"}``.
    """
    p = np.asarray(p, dtype=np.float64)
    o = np.asarray(outcomes, dtype=np.float64)
    if p.size == 0:
        return float("nan"), []
    k = np.minimum((p * n_bins).astype(int), n_bins - 1)
    ece, curve = 0.0, []
    for b in range(n_bins):
        sel = k == b
        if not sel.any():
            continue
        pred, obs = float(p[sel].mean()), float(o[sel].mean())
        ece += sel.sum() / p.size * abs(pred - obs)
        curve.append(
            {"lo": b / n_bins, "hi": (b + 1) / n_bins, "n": int(sel.sum()), "predicted": pred, "observed": obs}
        )
    return float(ece), curve
