"""From a per-sample probability trace to discrete events: hysteresis thresholds (a Schmitt trigger).

An event is a maximal run of samples with ``p >= low`` that contains at least one sample with
``p >= high``; runs separated by fewer than ``min_gap`` samples are merged first, and events shorter than
``min_samples`` are dropped. This is the trigger-on/trigger-off rule of seismic STA/LTA pickers
(obspy.signal.trigger.trigger_onset) applied to the CNN's probability.
"""

from __future__ import annotations

import numpy as np


def runs(mask: np.ndarray) -> np.ndarray:
    """Half-open ``[start, end)`` sample ranges of the True runs of ``mask``, shape ``(k, 2)``."""
    m = np.asarray(mask, dtype=bool).reshape(-1)
    if m.size == 0:
        return np.zeros((0, 2), dtype=np.intp)
    edges = np.flatnonzero(m[1:] != m[:-1]) + 1
    head, tail = ([0] if m[0] else []), ([m.size] if m[-1] else [])
    return np.concatenate((head, edges, tail)).astype(np.intp).reshape(-1, 2)


def hysteresis(
    prob: np.ndarray, high: float = 0.5, low: float = 0.3, min_gap: int = 0, min_samples: int = 1
) -> np.ndarray:
    """Event sample ranges ``[start, end)`` of a probability trace, shape ``(k, 2)``.

    Parameters
    ----------
    prob
        Per-sample probability in [0, 1] (NaN counts as 0), or any characteristic function (e.g. STA/LTA).
    high, low
        Trigger-on and trigger-off thresholds, ``low <= high``.
    min_gap
        Runs above ``low`` separated by fewer samples than this are merged.
    min_samples
        Events shorter than this are dropped.
    """
    if not low <= high:
        raise ValueError(f"thresholds must satisfy low <= high, got low={low}, high={high}")
    p = np.asarray(prob)
    if p.dtype.kind != "f":
        p = p.astype(np.float64)
    above = p >= np.float64(low)  # compared in double precision, without a double copy of the trace
    if low <= 0:
        above |= np.isnan(p)  # NaN counts as 0
    r = runs(above)
    if len(r) and min_gap > 0:
        keep_break = np.r_[True, r[1:, 0] - r[:-1, 1] >= min_gap]
        starts = r[keep_break, 0]
        ends = np.r_[r[np.flatnonzero(keep_break)[1:] - 1, 1], r[-1, 1]]
        r = np.stack([starts, ends], axis=1)
    if not len(r):
        return r
    peak = np.nan_to_num(run_max(p, r), nan=0.0)
    keep = (peak >= np.float64(high)) & (r[:, 1] - r[:, 0] >= min_samples)
    return r[keep]


def run_max(p: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Maximum of ``p`` over each ``[a, b)`` of ``r`` (non-empty, sorted, separated by >= 1 sample), NaN ignored."""
    idx = r.reshape(-1)
    m = np.fmax.reduceat(p, idx[idx < len(p)])
    return m[0::2][: len(r)]


def to_mask(events: np.ndarray, n: int) -> np.ndarray:
    """Boolean mask of length ``n`` that is True inside the ``[start, end)`` ranges."""
    m = np.zeros(n, dtype=bool)
    for a, b in events:
        m[a:b] = True
    return m
