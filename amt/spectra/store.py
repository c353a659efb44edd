"""Fourier coefficients of long records kept in a temporary file, so that memory does not grow with the record.

A level's coefficients, ``(windows, channels, bins)`` complex64, take 40 bytes a window and bin for five channels:
about 2.1 GiB for the band plan's bins of an hour at 24 kHz. Above :data:`IN_MEMORY_BYTES` they are written to an
anonymous temporary file (removed when the last array using it goes) and mapped, laid out bin by bin: the
coefficients of one channel and bin over all windows are contiguous, so a band's rows are read as whole pages and
nothing else. The array is an ordinary numpy view of the mapping (the same shape, dtype and values as one in
memory); :func:`release` drops its resident pages after each band or part (the data stay in the file and the page
cache, outside the process), so the process holds only what it is using. The file lives in the temporary
directory (``TMPDIR``), which should be on disk, not in memory.
"""

from __future__ import annotations

import mmap
import os
import tempfile

import numpy as np

from amt.errors import AmtError


class CoefficientStoreError(AmtError):
    """The temporary file for a long record's coefficients cannot be made (the message says where and why)."""

#: Coefficient arrays larger than this (bytes) are kept in a temporary file (64 MiB: 10 s of 24 kHz data stays in
#: memory, a 10-minute record's level 0 goes to the file).
IN_MEMORY_BYTES = 64 << 20


def allocate(n_windows: int, n_channels: int, n_bins: int, in_memory_bytes: int | None = None) -> np.ndarray:
    """An uninitialised ``(n_windows, n_channels, n_bins)`` complex64 array, file-backed when large (module notes).

    Parameters
    ----------
    in_memory_bytes
        Size above which the array is file-backed (default :data:`IN_MEMORY_BYTES`).
    """
    shape = (n_windows, n_channels, n_bins)
    nbytes = n_windows * n_channels * n_bins * np.dtype(np.complex64).itemsize
    if nbytes <= (IN_MEMORY_BYTES if in_memory_bytes is None else in_memory_bytes) or nbytes == 0:
        return np.empty(shape, np.complex64)
    try:
        with tempfile.TemporaryFile(prefix="amt-coefficients-") as f:  # the mapping keeps the data once it is closed
            if hasattr(os, "posix_fallocate"):  # the space taken now: a full disk is an error here, not a SIGBUS later
                os.posix_fallocate(f.fileno(), 0, nbytes)
            else:
                f.truncate(nbytes)
            mapping = mmap.mmap(f.fileno(), nbytes)
    except OSError as exc:
        raise CoefficientStoreError(
            f"cannot keep {nbytes / 2**20:.0f} MiB of Fourier coefficients in the temporary directory "
            f"{tempfile.gettempdir()} ({exc.strerror or exc}); set TMPDIR to a directory on a disk with room"
        ) from exc
    return np.frombuffer(mapping, np.complex64).reshape(n_channels, n_bins, n_windows).transpose(2, 0, 1)


def take_bins(array: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``array[:, :, keep]``; file-backed when ``array`` is, copied one channel and bin at a time (each a contiguous
    row of the file), so that neither array is resident at once."""
    if mapping_of(array) is None:
        return array[:, :, keep]
    out = allocate(array.shape[0], array.shape[1], len(keep), in_memory_bytes=0)
    for c in range(array.shape[1]):
        for j, k in enumerate(keep):
            out[:, c, j] = array[:, c, k]
        release(array)
        release(out)
    return out


def mapping_of(array: np.ndarray) -> mmap.mmap | None:
    """The file mapping behind ``array`` (a view of one :func:`allocate` made), or None for an array in memory."""
    base = array
    while base is not None:
        if isinstance(base, mmap.mmap):
            return base
        base = getattr(base, "base", None) if not isinstance(base, memoryview) else base.obj
    return None


def release(array: np.ndarray) -> None:
    """Drop the resident pages of a file-backed ``array`` from this process (its values stay; no-op in memory)."""
    mapping = mapping_of(array)
    advice = getattr(mmap, "MADV_DONTNEED", None)  # POSIX; elsewhere the system pages the file as it sees fit
    if mapping is not None and not mapping.closed and advice is not None:
        mapping.madvise(advice)
