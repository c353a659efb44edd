"""Cascade decimation of gap-free segments, a part at a time.

Each good segment is low-passed and down-sampled on its own (scipy's zero-phase FIR decimation, 20 * factor + 1
Hamming taps, so sample ``j`` of the decimated segment sits at sample ``first + factor * j`` of the original,
``first`` the segment's first sample on the global grid of multiples of ``factor``), so no filter ever reaches
across a gap. The filter's pass band ends near 0.8 of the new Nyquist frequency; the band planner never uses
frequencies above a quarter of a level's sample rate from a decimated level, where the filter's gain is flat.

:func:`decimate_part` computes any run of output samples from the input samples their taps reach (plus the
segment's own edges, where the filter sees zeros): equal, sample for sample, to decimating the whole segment at
once, so a record is decimated in parts of bounded size however long it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.signal

#: Half the length of scipy's FIR decimation filter, in output samples (it spans ``10 * factor`` input samples).
_HALF_TAPS_OUT = 10


@dataclass(frozen=True)
class DecimatedSegment:
    """One good segment's decimated samples: inputs ``[first, end)``, outputs ``[j0, j0 + n)`` on the new grid."""

    first: int
    end: int
    j0: int
    n: int


def decimated_segments(segments: Sequence[tuple[int, int]], factor: int) -> list[DecimatedSegment]:
    """How ``segments`` (half-open good ranges at the input rate) map to the decimated grid.

    Segments shorter than ``8 * factor`` samples, or leaving fewer than 8 output samples, are dropped (too short
    to filter). The decimated grid is aligned to global multiples of ``factor``, so all segments share one grid.
    """
    out = []
    for i0, i1 in segments:
        if i1 - i0 < 8 * factor:
            continue
        first = -(-i0 // factor) * factor
        n_keep = (i1 - first) // factor
        if n_keep < 8:
            continue
        out.append(DecimatedSegment(first, i1, first // factor, n_keep))
    return out


def decimate_part(
    read: Callable[[int, int], np.ndarray], seg: DecimatedSegment, a: int, b: int, factor: int
) -> np.ndarray:
    """Decimated samples ``a..b-1`` (counted from the segment's first output) of segment ``seg``.

    Parameters
    ----------
    read
        ``read(lo, hi)`` -> input samples ``lo..hi-1``.
    seg
        The segment (:func:`decimated_segments`).
    a, b
        Output range, ``0 <= a < b <= seg.n``.
    factor
        Integer decimation factor (>= 2).

    Returns
    -------
    numpy.ndarray
        ``b - a`` samples, equal to ``scipy.signal.decimate(x[seg.first:seg.end], factor, ftype="fir",
        zero_phase=True)[a:b]``: the input is read with a margin of the filter's half length either side (the
        segment's edges, where the whole-segment filter sees zeros, are kept as they are).
    """
    lead = max(a - _HALF_TAPS_OUT, 0)
    lo = seg.first + factor * lead
    hi = min(seg.end, seg.first + factor * (b + _HALF_TAPS_OUT))
    y = scipy.signal.decimate(read(lo, hi), factor, ftype="fir", zero_phase=True)
    return y[a - lead : b - lead]
