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


def _span_defect(channel: str, kind: str, start: UTCDateTime, rate_hz: float, a: int, b: int, detail: str) -> Defect:
    """A defect over samples ``[a, b)`` of a run starting at ``start``."""
    return Defect(channel, kind, start + int(a) / rate_hz, start + int(b) / rate_hz, detail)


def nan_defects(channel: str, x: np.ndarray, start: UTCDateTime, rate_hz: float) -> list[Defect]:
    """One ``"nan"`` defect per run of non-finite samples."""
    bad = ~np.isfinite(x)
    return [_span_defect(channel, "nan", start, rate_hz, a, b, f"{b - a:,} samples") for a, b in _runs_of_true(bad)]


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
    out = [
        _span_defect(channel, "clipped", start, rate_hz, a, b, f"{b - a:,} samples at {x[a]:g}")
        for a, b in _runs_of_true(at_limit)
        if b - a >= min_run
    ]
    if full_scale is not None:
        out.extend(
            _span_defect(
                channel, "clipped", start, rate_hz, a, b, f"{b - a:,} samples at or beyond full scale {full_scale:g}"
            )
            for a, b in _runs_of_true(np.abs(np.where(finite, x, 0.0)) >= full_scale)
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


Blocks = list[tuple[int, list[tuple[int, np.ndarray]]]]


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
    blocks: dict[str, Blocks] = {}
    chan_defects: list[Defect] = []
    for c in names:
        gridded = [(round((UTCDateTime(t) - t0) * rate_hz), np.asarray(x, dtype=np.float64)) for t, x in pieces[c]]
        blocks[c], d = _merge_channel(c, gridded, rate_hz, t0, max_fill)
        chan_defects.extend(d)

    runs: list[StationRun] = []
    for k, (a, b) in enumerate(_run_spans(blocks, max_fill)):
        start = t0 + a / rate_hz
        data, covered, defects = _fill_run(blocks, a, b, start, rate_hz)
        end_t = start + (b - a) / rate_hz
        defects.extend(d for d in chan_defects if d.end > start and d.start < end_t)
        if report_run_gaps and runs:
            prev_end = runs[-1].start + runs[-1].n_samples / rate_hz
            gap = f"{(start - prev_end):.6g} s without samples between runs {runs[-1].run} and {run_ids(k)}"
            defects.append(Defect("all", "gap", prev_end, start, gap))
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
            _scan_assembled(run, covered)
        runs.append(run)
    return runs


def _run_spans(blocks: dict[str, Blocks], max_fill: int) -> list[list[int]]:
    """Grid-index spans ``[a, b)`` of the runs: the union of all channels' blocks, joined when they overlap or
    are at most ``max_fill`` samples apart."""
    spans = sorted((i0, max(j + len(x) for j, x in parts)) for bl in blocks.values() for i0, parts in bl)
    merged: list[list[int]] = []
    for a, b in spans:
        if merged and a - merged[-1][1] <= max_fill:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return merged


def _fill_run(
    blocks: dict[str, Blocks], a: int, b: int, start: UTCDateTime, rate_hz: float
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[Defect]]:
    """Samples of each channel over grid span ``[a, b)``, the coverage masks of channels that needed filling,
    and the gap, length-mismatch and absent-channel defects."""
    n = b - a
    data: dict[str, np.ndarray] = {}
    covered: dict[str, np.ndarray] = {}
    defects: list[Defect] = []
    absent: list[str] = []
    for c in CHANNELS:
        if c not in blocks:
            continue
        parts = [(j, x) for _, ps in blocks[c] for j, x in ps if j < b and j + len(x) > a]
        if not parts:
            absent.append(c)
            continue
        if len(parts) == 1 and parts[0][0] == a and len(parts[0][1]) == n:
            data[c] = parts[0][1]
            continue
        covered[c] = np.zeros(n, dtype=bool)
        data[c] = _samples_at(parts, a, n, covered[c])
        defects.extend(_coverage_defects(c, covered[c], start, rate_hz))
    defects.extend(Defect(c, "gap", start, start + n / rate_hz, "channel has no samples in this run") for c in absent)
    return data, covered, defects


def _coverage_defects(c: str, covered: np.ndarray, start: UTCDateTime, rate_hz: float) -> list[Defect]:
    """``"length_mismatch"`` for samples missing at the start or end of a run, ``"gap"`` for those inside."""
    n = len(covered)
    out = []
    for i, j in _runs_of_true(~covered):
        if i == 0:
            out.append(
                _span_defect(
                    c, "length_mismatch", start, rate_hz, i, j, f"starts {j:,} samples after the other channels"
                )
            )
        elif j == n:
            out.append(
                _span_defect(
                    c, "length_mismatch", start, rate_hz, i, j, f"ends {j - i:,} samples before the other channels"
                )
            )
        else:
            out.append(_span_defect(c, "gap", start, rate_hz, i, j, f"{j - i:,} samples missing"))
    return out


def _scan_assembled(run: StationRun, covered: dict[str, np.ndarray]) -> None:
    """NaN and clipping defects of an assembled run; NaN that fill a gap already reported are not repeated."""
    for c in run.channels:
        x = run.data[c]
        if c in covered:  # NaN written by the recorder, not the fill of a gap already reported
            x = np.where(covered[c], x, 0.0)
        run.defects.extend(nan_defects(c, x, run.start, run.sample_rate_hz))
        run.defects.extend(clip_defects(c, run.data[c], run.start, run.sample_rate_hz))


def assemble_by_rate(
    pieces_by_rate: dict[float, dict[str, Sequence[Piece]]],
    station: str,
    meta_for: Callable[[str], ChannelMeta],
    *,
    run_id: Callable[[float, int], str],
    max_fill_s: float = 1.0,
    source: str = "",
    report_run_gaps: bool = True,
) -> list[StationRun]:
    """:func:`assemble_runs` at every sample rate; the runs of all rates in time order (higher rate first at
    the same start).

    Parameters
    ----------
    pieces_by_rate
        Sample rate in Hz -> channel name -> list of ``(utc_start, samples)``.
    station, meta_for, max_fill_s, source, report_run_gaps
        As for :func:`assemble_runs`.
    run_id
        ``(rate_hz, run number at that rate)`` -> run id.
    """
    runs: list[StationRun] = []
    for rate in sorted(pieces_by_rate, reverse=True):
        runs.extend(
            assemble_runs(
                pieces_by_rate[rate],
                rate,
                station,
                meta_for,
                max_fill_s=max_fill_s,
                run_ids=lambda k, r=rate: run_id(r, k),
                source=source,
                report_run_gaps=report_run_gaps,
            )
        )
    runs.sort(key=lambda r: (r.start.ns, -r.sample_rate_hz))  # Station.runs are in time order
    return runs
