"""Cascade decimation of gap-free segments.

Each good segment is low-passed and down-sampled on its own (a zero-phase FIR filter, so sample ``j`` of the
decimated segment sits at sample ``i0 + factor * j`` of the original), so no filter ever reaches across a gap. The
filter's pass band ends near 0.8 of the new Nyquist frequency; the band planner never uses frequencies above a
quarter of a level's sample rate from a decimated level, where the filter's gain is flat.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.signal


def decimate_segments(
    data: Sequence[np.ndarray], segments: Sequence[tuple[int, int]], factor: int
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Decimate ``data`` (channels x samples) segment by segment, one channel at a time (bounded temporaries).

    Parameters
    ----------
    data
        ``(n_channels, n_samples)`` float array, or a sequence of equally long 1-D channels, at the input rate.
    segments
        Half-open good ranges ``[i0, i1)`` at the input rate.
    factor
        Integer decimation factor (>= 2).

    Returns
    -------
    decimated, new_segments
        The decimated array on the output grid (samples outside segments are NaN) and the good ranges at the
        output rate. Segments shorter than ``8 * factor`` samples are dropped (too short to filter).
    """
    n_out = len(data[0]) // factor + 1
    out = np.full((len(data), n_out), np.nan)
    new_segments: list[tuple[int, int]] = []
    for i0, i1 in segments:
        if i1 - i0 < 8 * factor:
            continue
        # align the decimated grid to global multiples of ``factor`` so that all segments share one grid
        first = -(-i0 // factor) * factor
        n_keep = (i1 - first) // factor
        if n_keep < 8:
            continue
        j0 = first // factor
        for c, x in enumerate(data):
            out[c, j0 : j0 + n_keep] = scipy.signal.decimate(x[first:i1], factor, ftype="fir", zero_phase=True)[:n_keep]
        new_segments.append((j0, j0 + n_keep))
    return out, new_segments
