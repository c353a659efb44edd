"""The samples of a run read on demand, so that spectra and detection take bounded memory however
long the record.

A :class:`ChunkedRun` carries a run's metadata (station, run id, sample rate, start, channel metadata, defects)
and reads any slice of a channel when asked: from a record already in memory (:meth:`ChunkedRun.of`), or from
the file itself (:func:`amt.io.mth5_file.open_mth5_chunked` reads h5py slices). :func:`amt.spectra.compute_spectra`
reads every run through one, a chunk of samples at a time, so a record on disk is never held whole.

Its good segments are those of :meth:`amt.record.StationRun.good_segments` (samples where every channel is finite
and no defect applies), found chunk by chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from obspy import UTCDateTime

from amt.record import ChannelMeta, Defect, StationRun

#: Samples per channel read at a time (8 MiB of float64): small beside the record, large beside any window.
CHUNK_SAMPLES = 2**20


@dataclass
class ChunkedRun:
    """A station run whose samples are read a slice at a time.

    Attributes
    ----------
    station, run
        Identifiers of the record.
    sample_rate_hz
        Sample rate in Hz.
    start
        UTC time of sample 0.
    n_samples
        Samples per channel.
    channels
        Channel names present, in canonical order.
    meta
        Channel name -> :class:`~amt.record.ChannelMeta` (units, response, orientation).
    reader
        ``reader(channel, lo, hi)`` -> samples ``lo..hi-1`` of ``channel`` (any numeric array of that length).
    defects
        Defects of the run (:class:`~amt.record.Defect`), as the reader reported them.
    source
        The file read, for messages.
    chunk_samples
        Samples per channel read at a time by :meth:`good_segments` and :func:`amt.spectra.compute_spectra`.
    """

    station: str
    run: str
    sample_rate_hz: float
    start: UTCDateTime
    n_samples: int
    channels: tuple[str, ...]
    meta: dict[str, ChannelMeta]
    reader: Callable[[str, int, int], np.ndarray]
    defects: list[Defect] = field(default_factory=list)
    source: str | None = None
    chunk_samples: int = CHUNK_SAMPLES
    _segments: dict[tuple[str, ...], list[tuple[int, int]]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, run: StationRun, chunk_samples: int = CHUNK_SAMPLES) -> ChunkedRun:
        """A view of a run held in memory (slices of its arrays; nothing is copied)."""
        return cls(
            run.station,
            run.run,
            run.sample_rate_hz,
            run.start,
            run.n_samples,
            run.channels,
            run.meta,
            lambda c, lo, hi: run.data[c][lo:hi],
            run.defects,
            run.source,
            chunk_samples,
        )

    def read(self, channel: str, lo: int, hi: int) -> np.ndarray:
        """Samples ``lo..hi-1`` of ``channel`` as float64 (``0 <= lo <= hi <= n_samples``)."""
        return np.asarray(self.reader(channel, lo, hi), dtype=np.float64)

    def index_of(self, t: UTCDateTime) -> int:
        """Sample index nearest to UTC time ``t`` (as :meth:`amt.record.StationRun.index_of`)."""
        return round((UTCDateTime(t) - self.start) * self.sample_rate_hz)

    def time_of(self, index: int) -> UTCDateTime:
        """UTC time of sample ``index`` (as :meth:`amt.record.StationRun.time_of`)."""
        return self.start + float(index) * (1.0 / self.sample_rate_hz)

    def good_segments(self, min_samples: int = 1, channels: Iterable[str] | None = None) -> list[tuple[int, int]]:
        """Half-open ranges ``[i0, i1)`` of at least ``min_samples`` valid samples (as
        :meth:`amt.record.StationRun.good_segments`), read ``chunk_samples`` at a time once per set of channels
        (the estimators ask again for each configuration)."""
        names = tuple(channels) if channels is not None else self.channels
        if names not in self._segments:
            self._segments[names] = self._all_segments(names)
        return [(a, b) for a, b in self._segments[names] if b - a >= min_samples]

    def _all_segments(self, names: tuple[str, ...]) -> list[tuple[int, int]]:
        """Every maximal run of samples where ``names`` are finite and no defect applies."""
        cuts = [
            (max(self.index_of(d.start), 0), min(self.index_of(d.end), self.n_samples))
            for d in self.defects
            if d.channel in names or d.channel == "all"
        ]
        pairs: list[list[int]] = []
        for lo in range(0, self.n_samples, self.chunk_samples):
            hi = min(lo + self.chunk_samples, self.n_samples)
            mask = np.ones(hi - lo, dtype=bool)
            for name in names:
                mask &= np.isfinite(self.read(name, lo, hi))
            for i0, i1 in cuts:
                if i1 > lo and i0 < hi:
                    mask[max(i0 - lo, 0) : i1 - lo] = False
            edges = lo + np.flatnonzero(np.diff(np.concatenate(([0], mask.view(np.int8), [0])))).reshape(-1, 2)
            for a, b in edges.tolist():
                if pairs and pairs[-1][1] == a:  # a segment running on from the previous chunk
                    pairs[-1][1] = b
                else:
                    pairs.append([a, b])
        return [(a, b) for a, b in pairs]
