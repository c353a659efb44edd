"""Sferic detection of a run read a part at a time: the events of a whole-segment pass, in bounded memory.

:meth:`amt.sferic.inference.SfericDetector.detect_run` high-passes each good segment whole, scales it by the median
horizontal magnitude, reads it with the CNN in overlapping windows (:func:`amt.sferic.stitch.predict_proba`) and
turns the probability trace into events (:func:`amt.sferic.calibration.candidate_peaks`,
:func:`amt.sferic.catalogue.event_peaks`): every step holds the whole segment. :func:`detect_chunked` does the same
from a :class:`~amt.io.chunked.ChunkedRun` holding only a part of it at a time:

* the causal high-pass runs part by part with its filter state carried across (the same samples);
* the median is found exactly in two passes: a histogram of the squared magnitudes' float64 bit patterns (20 high
  bits, so the order is kept) finds the bucket of the middle rank, a second pass collects that bucket's values;
* the CNN reads the windows and batches of :func:`~amt.sferic.stitch.predict_proba` (same starts, same batches of
  four, zeros after the end), a batch's samples cut from the part in hand;
* candidate events (runs above the trigger-off level, gaps under ``min_gap_s`` merged) are followed across parts
  and closed once no later run can join them; their peaks, the mains-locked veto and the event trigger are those of
  :meth:`~amt.sferic.inference.SfericDetector.events_in`.

The events equal those of :meth:`~amt.sferic.inference.SfericDetector.detect_run` (``fast=False``) on the run read
whole (tested, ``tests/amt/sferic/test_chunked_detection.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np
import scipy.signal
import torch

from amt.io.chunked import ChunkedRun
from amt.record import RecordError
from amt.sferic.calibration import locked_candidates
from amt.sferic.catalogue import SfericEvent
from amt.sferic.events import runs
from amt.sferic.preprocess import _sos, horizontal_power
from amt.sferic.stitch import BATCH, chunk_plan, kept

if TYPE_CHECKING:
    from amt.sferic.inference import SfericDetector

#: High bits of a float64 kept by the median's histogram (2^20 buckets: 8 MiB of counts).
_BUCKET_SHIFT = 43


def _highpassed(read: Callable[[int, int], np.ndarray], n: int, rate_hz: float, chunk: int) -> Iterator[np.ndarray]:
    """The causal high-pass of :func:`amt.sferic.preprocess.highpass` of samples ``0..n-1``, ``chunk`` at a time."""
    sos, zi = _sos(float(rate_hz))
    z = None
    for lo in range(0, n, chunk):
        h = np.asarray(read(lo, min(lo + chunk, n)), dtype=np.float64)
        if z is None:
            z = np.moveaxis(zi[None, :, :] * h[:, 0][:, None, None], 0, 1)
        out, z = scipy.signal.sosfilt(sos, h, axis=-1, zi=z)
        yield out


def _robust_scale(parts: Callable[[], Iterator[np.ndarray]], n: int) -> float:
    """:func:`amt.sferic.preprocess.robust_scale` of the concatenated parts, exact, in two passes over them."""
    counts = np.zeros(1 << (63 - _BUCKET_SHIFT), dtype=np.int64)
    for hp in parts():
        m2 = horizontal_power(hp)
        if np.isnan(m2).any():
            return 1.0
        counts += np.bincount(m2.view(np.int64) >> _BUCKET_SHIFT, minlength=len(counts))
    k = n // 2
    ranks = [k - 1, k] if n % 2 == 0 else [k]
    below = np.concatenate(([0], np.cumsum(counts)))
    buckets = [int(np.searchsorted(below, r, side="right")) - 1 for r in ranks]
    found: dict[int, list[np.ndarray]] = {b: [] for b in buckets}
    for hp in parts():
        m2 = horizontal_power(hp)
        key = m2.view(np.int64) >> _BUCKET_SHIFT
        for b in found:
            found[b].append(m2[key == b])
    ordered = {b: np.sort(np.concatenate(v)) for b, v in found.items()}
    mid = [float(np.sqrt(ordered[b][r - below[b]])) for r, b in zip(ranks, buckets, strict=True)]
    s = mid[0] if n % 2 else 0.5 * (mid[0] + mid[1])
    return s if s > 0 and np.isfinite(s) else 1.0


class _Buffer:
    """Consecutive parts of a segment (channels x samples), kept from a sample index on."""

    def __init__(self, parts: Iterator[np.ndarray]) -> None:
        self._parts, self._lo, self._data = parts, 0, np.zeros((0, 0))
        self._end = 0

    def get(self, lo: int, hi: int) -> np.ndarray:
        """Samples ``lo..hi-1`` (``lo`` never below an earlier call's; ``hi`` at most the segment's length)."""
        pieces = [self._data[:, lo - self._lo :]] if self._data.size else []
        while self._end < hi:
            part = next(self._parts)
            pieces.append(part if self._end >= lo else part[:, lo - self._end :])
            self._end += part.shape[1]
        self._data = np.concatenate(pieces, axis=1) if len(pieces) > 1 else pieces[0]
        self._lo = max(lo, self._end - self._data.shape[1])
        return self._data[:, : hi - self._lo]


class _Candidates:
    """Candidate events followed across parts: runs of ``p >= low``, gaps under ``min_gap`` merged (as
    :func:`amt.sferic.events.hysteresis` with ``high = low``), with the probability peak and the horizontal H
    peak of each (as :func:`amt.sferic.calibration.candidate_peaks` and :func:`amt.sferic.catalogue.event_peaks`)."""

    def __init__(self, low: float, min_gap: int) -> None:
        self.low, self.join = low, max(min_gap, 1)  # a run cut by a part's edge always joins its other half
        self.rows: list[tuple[int, int, float, int, float, float, int]] = []  # a, b, peak, where, hx, hy, k
        self._open: tuple[int, int] | None = None
        self._prob: list[np.ndarray] = []
        self._hp: list[np.ndarray] = []
        self._from = 0

    def add(self, lo: int, prob: np.ndarray, hp: np.ndarray) -> None:
        """Samples ``lo..lo+len(prob)-1`` of the trace and of the high-passed channels."""
        if self._open is not None:
            self._prob.append(prob)
            self._hp.append(hp)
        for a, b in runs(prob >= np.float64(self.low)).tolist():
            a, b = a + lo, b + lo
            if self._open is not None and a - self._open[1] < self.join:
                self._open = (self._open[0], b)
                continue
            self._close()
            self._open, self._from = (a, b), a
            self._prob, self._hp = [prob[a - lo :]], [hp[:, a - lo :]]
        if self._open is not None and lo + len(prob) - self._open[1] >= self.join:
            self._close()

    def _close(self) -> None:
        if self._open is None:
            return
        a, b = self._open
        p = np.concatenate(self._prob)[: b - a] if len(self._prob) > 1 else self._prob[0][: b - a]
        hp = np.concatenate(self._hp, axis=1)[:, : b - a] if len(self._hp) > 1 else self._hp[0][:, : b - a]
        k = int(np.argmax(np.hypot(hp[0], hp[1])))
        self.rows.append((a, b, float(p.max()), a + int(np.argmax(p)), float(hp[0, k]), float(hp[1, k]), a + k))
        self._open, self._prob, self._hp = None, [], []

    def finish(self) -> None:
        self._close()


def _probabilities(
    detector: SfericDetector, hp: _Buffer, n: int, scale: float
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``(lo, probability, high-passed samples)`` of consecutive stretches of the segment, in order: the windows
    and batches of :func:`amt.sferic.stitch.predict_proba`."""
    model = detector.model
    window, margin, starts = chunk_plan(n, model.multiple, detector.window, detector.margin)
    if len(starts) == 1:  # one window: the whole (short) segment, as predict_proba reads it
        x = hp.get(0, n)
        padded = np.zeros((x.shape[0], n + margin), dtype=np.float32)
        padded[:, :n] = (x / scale).astype(np.float32)
        with torch.inference_mode():
            yield 0, torch.sigmoid(model(torch.from_numpy(padded)[None]))[0, :n].numpy(), x
        return
    frozen = detector.frozen(window)  # every batch below holds windows of this length
    for b in range(0, len(starts), BATCH):
        group = starts[b : b + BATCH]
        first, last = int(group[0]), min(int(group[-1]) + window, n)
        x = hp.get(first, last)
        inp = np.zeros((len(group), x.shape[0], window), dtype=np.float32)
        for j, s in enumerate(group):
            seg = (x[:, s - first : min(s + window, n) - first] / scale).astype(np.float32)
            inp[j, :, : seg.shape[1]] = seg
        with torch.inference_mode():
            prob = torch.sigmoid(frozen(torch.from_numpy(inp))).numpy()
        for s, p in zip(group, prob, strict=True):
            lo, hi = kept(int(s), n, window, margin)
            yield int(s) + lo, p[lo:hi], x[:, s + lo - first : s + hi - first]


def detect_chunked(detector: SfericDetector, run: ChunkedRun, chunk: int | None = None) -> list[SfericEvent]:
    """Events of :meth:`~amt.sferic.inference.SfericDetector.detect_run` (``fast=False``) from ``run`` read
    ``chunk`` samples at a time (default ``run.chunk_samples``; module notes).

    Raises
    ------
    RecordError
        If the run lacks a magnetic channel the model reads, its rate is not the model's, or no good stretch of it
        is long enough.
    """
    where = f"{run.source or run.station} run {run.run}"
    detector.check_run(where, run.channels, run.sample_rate_hz)
    chunk = int(chunk or run.chunk_samples)
    gap = max(round(detector.min_gap_s * detector.rate_hz), 0)
    events: list[SfericEvent] = []
    processed = 0
    for a, b in run.good_segments(channels=detector.channels):
        n = b - a
        if n < 2 * detector.margin:
            continue

        def read(lo: int, hi: int, a: int = a) -> np.ndarray:
            return np.vstack([run.read(c, a + lo, a + hi) for c in detector.channels])

        def parts(n: int = n, read=read) -> Iterator[np.ndarray]:
            return _highpassed(read, n, detector.rate_hz, chunk)

        scale = _robust_scale(parts, n)
        found = _Candidates(detector.threshold / 2, gap)
        for lo, prob, hp in _probabilities(detector, _Buffer(parts()), n, scale):
            found.add(lo, prob, hp)
        found.finish()
        processed += n
        events.extend(_events(detector, run, a, found.rows))
    if processed == 0:
        raise RecordError(
            f"{where}: nothing usable: no stretch of >= {2 * detector.margin} samples where "
            f"{', '.join(detector.channels)} are all finite and free of defects"
        )
    return events


def _events(detector: SfericDetector, run: ChunkedRun, a: int, rows: list) -> list[SfericEvent]:
    """The candidates of one segment (starting at sample ``a``) that become events, as ``detect_run`` makes them."""
    if not rows:
        return []
    r = np.array([row[:2] for row in rows], dtype=np.intp)
    peaks = np.array([row[2] for row in rows])
    if detector.reject_mains_locked:
        keep = ~locked_candidates(r, np.array([row[3] for row in rows]), detector.rate_hz)
        rows, r, peaks = [row for row, k in zip(rows, keep, strict=True) if k], r[keep], peaks[keep]
    keep = peaks >= detector.event_threshold
    rows = [row for row, k in zip(rows, keep, strict=True) if k]
    if not rows:
        return []
    hx, hy = np.array([row[4] for row in rows]), np.array([row[5] for row in rows])
    amplitude = np.hypot(hx, hy)
    azimuth = (np.rad2deg(np.arctan2(hy, hx)) + run.meta[detector.channels[0]].azimuth_deg) % 180.0
    return [
        SfericEvent(
            start=run.time_of(a + ea),
            end=run.time_of(a + eb),
            peak_time=run.time_of(a + k),
            probability=detector.event_probability(peak),
            amplitude=float(amp),
            azimuth=float(az),
        )
        for (ea, eb, peak, _, _, _, k), amp, az in zip(rows, amplitude, azimuth, strict=True)
    ]
