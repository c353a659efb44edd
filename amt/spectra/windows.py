"""Placing tapered windows inside good segments, so that no window ever spans a gap.

A window of ``length`` samples advances by ``length - overlap`` samples; windows are placed independently in each
good segment (half-open sample ranges from :meth:`amt.record.StationRun.good_segments`), starting at the segment's
first sample. Samples left over at a segment's end are not used.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.signal


def window_starts(segments: Sequence[tuple[int, int]], length: int, overlap: int) -> np.ndarray:
    """First sample index of every window that fits wholly inside one segment.

    Parameters
    ----------
    segments
        Half-open ranges ``[i0, i1)`` of valid samples.
    length
        Window length in samples.
    overlap
        Samples shared by consecutive windows (``0 <= overlap < length``).

    Returns
    -------
    numpy.ndarray
        Integer start indices, ascending.
    """
    if not 0 <= overlap < length:
        raise ValueError(f"overlap must be in [0, {length}), got {overlap}")
    step = length - overlap
    starts = [np.arange(i0, i1 - length + 1, step) for i0, i1 in segments if i1 - i0 >= length]
    return np.concatenate(starts).astype(np.int64) if starts else np.zeros(0, dtype=np.int64)


def taper(name: str, length: int) -> np.ndarray:
    """A periodic (DFT-even) taper of ``length`` samples from :func:`scipy.signal.get_window`.

    ``name`` is any scipy window name (``"hann"``, ``"hamming"``, ``"blackmanharris"``, ``"boxcar"``...) or a
    ``"name:parameter"`` pair such as ``"kaiser:8"`` or ``"dpss:3"``.
    """
    if ":" in name:
        base, param = name.split(":", 1)
        return np.asarray(scipy.signal.get_window((base, float(param)), length, fftbins=True))
    return np.asarray(scipy.signal.get_window(name, length, fftbins=True))


def bin_correlation(window: np.ndarray) -> np.ndarray:
    """Squared correlation of the Fourier coefficients of white noise ``l`` bins apart, for ``l = 0, 1, ...``.

    For a taper ``w`` of ``N`` samples, ``c_l = |sum w_n^2 exp(-2 pi i l n / N)| / sum w_n^2``; the array holds
    ``c_l^2`` (1, 4/9, 1/36, 0, ... for Hann), which is the correlation of products of two such coefficients as
    they enter a cross-spectrum.

    Reference: Harris, F. J. (1978), On the use of windows for harmonic analysis with the discrete Fourier
    transform, Proc. IEEE 66, 51-83.
    """
    w2 = window**2
    c = np.abs(np.fft.fft(w2)) / np.sum(w2)
    return c[: len(window) // 2 + 1] ** 2
