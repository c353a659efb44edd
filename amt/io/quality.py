"""Defect detection and the assembly of runs from pieces of samples.

Every reader hands its samples here as *pieces*: ``(utc_start, samples)`` per channel at one sample rate.
:func:`assemble_runs` places them on one sample grid and

* merges pieces that touch; fills a short gap (at most ``max_fill_s``) with NaN and reports it as a
  ``"gap"`` defect; starts a new run after a longer gap (so a burst recording becomes one run per burst
  and never a NaN-filled 28 s hole);
* reports overlapping samples that disagree as an ``"overlap"`` defect (the first piece's samples are kept);
* pads a channel that starts late or ends early with NaN and reports ``"length_mismatch"``; a channel with
  no samples at all in a run is left out of that run and reported as a ``"gap"`` over the run;
* reports NaN runs (``"nan"``) and flat tops at a channel's extreme value (``"clipped"``).

All defect times are UTC with an exclusive end, as :class:`~amt.record.Defect` says; the defects mark
samples that :meth:`~amt.record.StationRun.good_segments` then leaves out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from obspy import UTCDateTime

from amt.record import CHANNELS, ChannelMeta, Defect, StationRun

Piece = tuple[UTCDateTime, np.ndarray]


def _runs_of_true(mask: np.ndarray) -> np.ndarray:
    """``(k, 2)`` array of half-open index ranges where ``mask`` is True."""
    if not mask.any():
        return np.empty((0, 2), dtype=np.int64)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.view(np.int8), [0]))))
    return edges.reshape(-1, 2)


def nan_defects(channel: str, x: np.ndarray, start: UTCDateTime, rate_hz: float) -> list[Defect]:
    """One ``"nan"`` defect per run of non-finite samples."""
    bad = ~np.isfinite(x)
    return [
        Defect(channel, "nan", start + int(a) / rate_hz, start + int(b) / rate_hz, f"{b - a:,} samples")
        for a, b in _runs_of_true(bad)
    ]


def clip_defects(
    channel: str,
    x: np.ndarray,
    start: UTCDateTime,
    rate_hz: float,
    min_run: int = 3,
    full_scale: float | None = None,
) -> list[Defect]:
    """``"clipped"`` defects: runs of at least ``min_run`` equal samples at the channel's extreme values.

    A clipped or saturated digitiser repeats its limit; a natural or synthetic signal almost never
    repeats its maximum exactly three times in a row. With ``full_scale`` given, any sample at or beyond
    ``+-full_scale`` counts as clipped as well. A constant channel is reported as clipped over its whole
    length (a dead or disconnected sensor).
    """
    finite = np.isfinite(x)
    if not finite.any():
        return []
    hi = np.max(x, where=finite, initial=-np.inf)
    lo = np.min(x, where=finite, initial=np.inf)
    if hi == lo:
        n = len(x)
        return [Defect(channel, "clipped", start, start + n / rate_hz, f"constant value {hi:g} (dead channel?)")]
    at_limit = (x == hi) | (x == lo)
    out: list[Defect] = []
    for a, b in _runs_of_true(at_limit):
        if b - a >= min_run:
            # equal samples must also be equal to each other (a run could alternate hi/lo only at 1 sample)
            out.append(
                Defect(
                    channel,
                    "clipped",
                    start + int(a) / rate_hz,
                    start + int(b) / rate_hz,
                    f"{b - a:,} samples at {x[a]:g}",
                )
            )
    if full_scale is not None:
        for a, b in _runs_of_true(np.abs(np.where(finite, x, 0.0)) >= full_scale):
            out.append(
                Defect(
                    channel,
                    "clipped",
                    start + int(a) / rate_hz,
                    start + int(b) / rate_hz,
                    f"{b - a:,} samples at or beyond full scale {full_scale:g}",
                )
            )
    return out


def scan_run(run: StationRun, min_clip_run: int = 3) -> None:
    """Append NaN and clipping defects of every channel of ``run`` (in place)."""
    for c in run.channels:
        run.defects.extend(nan_defects(c, run.data[c], run.start, run.sample_rate_hz))
        run.defects.extend(clip_defects(c, run.data[c], run.start, run.sample_rate_hz, min_clip_run))


def _merge_channel(
    name: str, pieces: list[tuple[int, np.ndarray]], rate_hz: float, t0: UTCDateTime, max_fill: int
) -> tuple[list[tuple[int, list[tuple[int, np.ndarray]]]], list[Defect]]:
    """Group one channel's pieces (grid index, samples) into blocks separated by long gaps.

    Returns ``[(block_start_index, [(index, samples), ...]), ...]`` and the overlap defects found; gaps
    are found later from the coverage of each run.
    """
    defects: list[Defect] = []
    blocks: list[tuple[int, list[tuple[int, np.ndarray]]]] = []
    end = None
    for i0, x in sorted(pieces, key=lambda p: p[0]):
        if len(x) == 0:
            continue
        if end is None or i0 - end > max_fill:
            blocks.append((i0, [(i0, x)]))
            end = i0 + len(x)
            continue
        if i0 < end:  # overlap with what is already there
            n_ov = min(end, i0 + len(x)) - i0
            prev = _samples_at(blocks[-1][1], i0, n_ov)
            same = np.array_equal(prev, x[:n_ov], equal_nan=True)
            if not same:
                defects.append(
                    Defect(
                        name,
                        "overlap",
                        t0 + i0 / rate_hz,
                        t0 + (i0 + n_ov) / rate_hz,
                        f"{n_ov:,} samples recorded twice with different values; first kept",
                    )
                )
            x = x[n_ov:]
            i0 = i0 + n_ov
            if len(x) == 0:
                continue
        blocks[-1][1].append((i0, x))
        end = max(end, i0 + len(x))
    return blocks, defects


def _samples_at(parts: list[tuple[int, np.ndarray]], i0: int, n: int, covered: np.ndarray | None = None) -> np.ndarray:
    """Samples ``[i0, i0 + n)`` of the grid from ``parts``; NaN where no part covers (marked in ``covered``)."""
    out = np.full(n, np.nan)
    for j, x in parts:
        a, b = max(i0, j), min(i0 + n, j + len(x))
        if b > a:
            out[a - i0 : b - i0] = x[a - j : b - j]
            if covered is not None:
                covered[a - i0 : b - i0] = True
    return out


def assemble_runs(
    pieces: dict[str, Sequence[Piece]],
    rate_hz: float,
    station: str,
    meta_for: Callable[[str], ChannelMeta],
    *,
    max_fill_s: float = 1.0,
    run_ids: Callable[[int], str] | None = None,
    source: str = "",
    scan: bool = True,
    report_run_gaps: bool = True,
) -> list[StationRun]:
    """Build time-ordered runs at one sample rate from per-channel pieces (see the module docstring).

    Parameters
    ----------
    pieces
        Channel name -> list of ``(utc_start, samples)``.
    rate_hz
        Common sample rate in Hz.
    station
        Station id.
    meta_for
        Channel name -> its :class:`ChannelMeta`.
    max_fill_s
        Longest gap, in seconds, that is NaN-filled inside a run; longer gaps start a new run.
    run_ids
        Run number (0-based, time order) -> run id; default ``"001"``, ``"002"``, ...
    source
        File or folder, for messages.
    scan
        Also look for NaN runs and clipping.
    report_run_gaps
        Report the time between consecutive runs as a ``"gap"`` defect of channel ``"all"`` (attached to
        the later run; it lies outside its samples). Off for scheduled bursts.
    """
    run_ids = run_ids or (lambda k: f"{k + 1:03d}")
    names = [c for c in CHANNELS if c in pieces and any(len(x) for _, x in pieces[c])]
    if not names:
        return []
    t0 = min(t for c in names for t, x in pieces[c] if len(x))
    max_fill = round(max_fill_s * rate_hz)
    gridded = {
        c: [(round((UTCDateTime(t) - t0) * rate_hz), np.asarray(x, dtype=np.float64)) for t, x in pieces[c]]
        for c in names
    }
    blocks: dict[str, list[tuple[int, list[tuple[int, np.ndarray]]]]] = {}
    chan_defects: list[Defect] = []
    for c in names:
        blocks[c], d = _merge_channel(c, gridded[c], rate_hz, t0, max_fill)
        chan_defects.extend(d)

    # run spans: union of all channels' blocks, joined when they overlap or are within max_fill
    spans = sorted((i0, max(j + len(x) for j, x in parts)) for c in names for i0, parts in blocks[c])
    merged: list[list[int]] = []
    for a, b in spans:
        if merged and a - merged[-1][1] <= max_fill:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])

    runs: list[StationRun] = []
    for k, (a, b) in enumerate(merged):
        n = b - a
        start = t0 + a / rate_hz
        data: dict[str, np.ndarray] = {}
        covered: dict[str, np.ndarray] = {}
        defects: list[Defect] = []
        absent: list[str] = []
        for c in names:
            parts = [(j, x) for i0, ps in blocks[c] for j, x in ps if j < b and j + len(x) > a]
            if not parts:
                absent.append(c)
                continue
            if len(parts) == 1 and parts[0][0] == a and len(parts[0][1]) == n:
                data[c] = parts[0][1]
                continue
            covered[c] = np.zeros(n, dtype=bool)
            data[c] = _samples_at(parts, a, n, covered[c])
            for i, j in _runs_of_true(~covered[c]):
                t_i, t_j = start + int(i) / rate_hz, start + int(j) / rate_hz
                if i == 0:
                    defects.append(
                        Defect(c, "length_mismatch", t_i, t_j, f"starts {j:,} samples after the other channels")
                    )
                elif j == n:
                    defects.append(
                        Defect(c, "length_mismatch", t_i, t_j, f"ends {j - i:,} samples before the other channels")
                    )
                else:
                    defects.append(Defect(c, "gap", t_i, t_j, f"{j - i:,} samples missing"))
        for c in absent:
            defects.append(Defect(c, "gap", start, start + n / rate_hz, "channel has no samples in this run"))
        end_t = start + n / rate_hz
        defects.extend(d for d in chan_defects if d.end > start and d.start < end_t)
        if report_run_gaps and runs:
            prev_end = runs[-1].start + runs[-1].n_samples / rate_hz
            defects.append(
                Defect(
                    "all",
                    "gap",
                    prev_end,
                    start,
                    f"{(start - prev_end):.6g} s without samples between runs {runs[-1].run} and {run_ids(k)}",
                )
            )
        run = StationRun(
            station=station,
            run=run_ids(k),
            sample_rate_hz=float(rate_hz),
            start=start,
            data=data,
            meta={c: meta_for(c) for c in data},
            defects=defects,
            source=source,
        )
        if scan:
            for c in run.channels:
                x = run.data[c]
                if c in covered:  # NaN written by the recorder, not the fill of a gap already reported
                    x = np.where(covered[c], x, 0.0)
                run.defects.extend(nan_defects(c, x, run.start, rate_hz))
                run.defects.extend(clip_defects(c, run.data[c], run.start, rate_hz))
        runs.append(run)
    return runs
