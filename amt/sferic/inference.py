"""Detect sferics in long records: stitched CNN probabilities, hysteresis events, and a fast path.

:class:`SfericDetector` answers on :class:`amt.record.StationRun` s and, like SeisBench's models, on obspy
Streams: :meth:`~SfericDetector.annotate` gives probability traces, :meth:`~SfericDetector.classify` gives
events. Each run is cut into its good segments (:meth:`amt.record.StationRun.good_segments`: no gap, NaN,
clipped or otherwise defective sample in the magnetic channels), each segment is high-passed and scaled once
(:mod:`amt.sferic.preprocess`) and read by the CNN in overlapping chunks (:mod:`amt.sferic.stitch`).

Fast path (``fast=True``): ObsPy's C recursive STA/LTA proposes candidate stretches with permissive
thresholds and the CNN reads only those, padded by a margin; elsewhere the probability is 0.

Events are :class:`amt.sferic.catalogue.SfericEvent` s: peak, amplitude and azimuth are measured by
:func:`amt.sferic.catalogue.event_peaks` on the high-passed field. An event's ``probability`` is its peak CNN
probability mapped through the checkpoint's calibration (:class:`amt.sferic.calibration.Calibration`, the
probability that such a candidate is a sferic) where the checkpoint carries one, else the raw peak.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from obspy import Stream, Trace

from amt.record import RecordError, StationRun
from amt.sferic.calibration import Calibration, candidate_peaks
from amt.sferic.catalogue import SfericEvent, event_peaks
from amt.sferic.events import runs
from amt.sferic.frozen import freeze_for_length
from amt.sferic.model import SfericUNet
from amt.sferic.preprocess import highpass, robust_scale
from amt.sferic.stalta import StaLta
from amt.sferic.stitch import predict_proba
from shared.checkpoint import load_checkpoint

#: The shipped default weights.
DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "default.safetensors"
#: Candidate proposer of the fast path: permissive, so the CNN sees nearly every sferic.
FAST_PROPOSER = StaLta(sta_s=1e-3, lta_s=20e-3, on=2.0, off=1.2)


@dataclass
class RunDetection:
    """Result for one run: events, the probability trace (NaN where not processed), and notes on defects."""

    run: StationRun
    events: list[SfericEvent] = field(default_factory=list)
    probability: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    processed_samples: int = 0


class SfericDetector:
    """The sferic CNN with its input convention and decision thresholds.

    Parameters
    ----------
    model
        A :class:`~amt.sferic.model.SfericUNet`.
    channels
        Magnetic channels it reads, in order (``hx``, ``hy``[, ``hz``]).
    rate_hz
        Sampling rate it was trained at, Hz.
    threshold
        Sample decision probability (``p >= threshold`` marks sferic samples); the trigger-off level of events
        is ``threshold / 2``.
    event_threshold
        Trigger-on probability of events: an event holds at least one sample at or above it (default
        ``threshold``; never below it).
    min_gap_s
        Events closer than this are merged, s.
    window, margin
        Chunking of :func:`amt.sferic.stitch.predict_proba`, samples.
    fast_margin
        Context (samples) each fast-path candidate is read with on either side: at least half the CNN's receptive
        field (~1,100 samples for the shipped U-Net), so that the CNN sees around a candidate what the full pass
        sees. On training-family validation records (12 x 15 s, 0.1-100 sferics/s, the validation seed;
        ``python -m benchmarks.amt_sferic_fast_path``) the fast path of a false-alarm-trigger model found 97.8 % of
        the full pass's events with 512 samples and 99.4 % with 640 (99.6 % with 1024 at 25 % less speed); the
        shipped weights at their 0.35 trigger 86.3 % and 90.0 % (the rest are weak sferics the proposer misses).
    fast_proposer
        STA/LTA settings that propose the fast path's candidates (:data:`FAST_PROPOSER`).
    calibration
        Map of an event's peak probability to the probability that it is a sferic (``None``: report the peak).
    reject_mains_locked
        Drop candidates that repeat at whole mains periods (:func:`amt.sferic.calibration.mains_locked`).
    """

    def __init__(
        self,
        model: SfericUNet,
        channels: tuple[str, ...] = ("hx", "hy"),
        rate_hz: float = 24_000.0,
        threshold: float = 0.5,
        event_threshold: float | None = None,
        min_gap_s: float = 0.5e-3,
        window: int = 32768,
        margin: int = 512,
        fast_margin: int = 640,
        fast_proposer: StaLta = FAST_PROPOSER,
        calibration: Calibration | None = None,
        reject_mains_locked: bool = True,
    ) -> None:
        self.model = model.eval()
        self.calibration = calibration
        self.reject_mains_locked = reject_mains_locked
        self.channels, self.rate_hz, self.threshold = tuple(channels), float(rate_hz), float(threshold)
        self.event_threshold = max(self.threshold, float(threshold if event_threshold is None else event_threshold))
        self.min_gap_s, self.window, self.margin, self.fast_margin = min_gap_s, window, margin, fast_margin
        self.fast_proposer = fast_proposer
        self._frozen: tuple[int, Callable[[torch.Tensor], torch.Tensor]] | None = None

    def frozen(self, length: int) -> Callable[[torch.Tensor], torch.Tensor]:
        """The model for inputs of exactly ``length`` samples, traced and frozen (:mod:`amt.sferic.frozen`: the
        same outputs, less CPU); made at the first call for a length and kept (the weights as they were then)."""
        if self._frozen is None or self._frozen[0] != length:
            self._frozen = (length, freeze_for_length(self.model, len(self.channels), length))
        return self._frozen[1]

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, **kw) -> SfericDetector:
        """Load a checkpoint written by :func:`amt.sferic.train.train` (default: the shipped weights)."""
        model, meta = load_checkpoint(path or DEFAULT_WEIGHTS, expected_arch="sferic_unet")
        return cls.from_model(model, meta.get("extra", {}), **kw)

    @classmethod
    def from_model(cls, model: SfericUNet, extra: dict, **kw) -> SfericDetector:
        """A detector of ``model`` with the input convention and thresholds of a checkpoint's ``extra``."""
        return cls(
            model,
            channels=tuple(extra.get("channels", ("hx", "hy"))),
            rate_hz=float(extra.get("rate_hz", 24_000.0)),
            threshold=float(extra.get("threshold", 0.5)),
            event_threshold=float(extra.get("event_threshold", extra.get("threshold", 0.5))),
            calibration=Calibration.from_dict(extra["calibration"]) if "calibration" in extra else None,
            **kw,
        )

    def event_probability(self, peak: float) -> float:
        """The reported probability of an event whose CNN probability peaks at ``peak``."""
        return float(self.calibration(peak)) if self.calibration is not None else float(peak)

    # -- arrays --------------------------------------------------------------------------------------------
    def probability(self, hp: np.ndarray, scale: float, fast: bool = False) -> np.ndarray:
        """Per-sample probability of a high-passed segment ``(channels, n)`` with robust ``scale``."""
        if not fast:
            return predict_proba(self.model, (hp / scale).astype(np.float32), self.window, self.margin)
        return self._fast_probability(hp, scale)

    def _fast_probability(self, hp: np.ndarray, scale: float, batch: int = 32) -> np.ndarray:
        """CNN probability on the STA/LTA candidates only, each read with ``fast_margin`` samples of context.

        Candidates are batched by their padded length; when they would cost the CNN more samples than the whole
        segment (dense sferics), the segment is read whole instead, and the STA/LTA pass is the only extra cost.
        Only the samples read are scaled (the same float32 values as the full pass).
        """
        n = hp.shape[1]
        p = np.zeros(n, dtype=np.float32)
        cand = self.fast_proposer.events(hp, self.rate_hz)
        if not len(cand):
            return p
        pad, k = self.fast_margin, self.model.multiple
        mask = np.zeros(n, dtype=bool)
        for a, b in cand:
            mask[max(a - pad // 2, 0) : b + pad // 2] = True
        regions = sorted(runs(mask), key=lambda r: r[1] - r[0])
        q = k * max(1, 256 // k)  # few distinct chunk lengths: each new input shape costs the CNN about twice
        need = [-(-(b - a + 2 * pad) // q) * q for a, b in regions]
        if sum(need) >= n:
            return predict_proba(self.model, (hp / scale).astype(np.float32), self.window, self.margin)
        with torch.inference_mode():
            for i in range(0, len(regions), batch):
                group, length = regions[i : i + batch], need[min(i + batch, len(regions)) - 1]
                starts = [max(a - pad, 0) // k * k for a, _ in group]
                chunk = np.zeros((len(group), hp.shape[0], length), dtype=np.float32)
                for j, s in enumerate(starts):
                    seg = (hp[:, s : s + length] / scale).astype(np.float32)
                    chunk[j, :, : seg.shape[1]] = seg
                prob = torch.sigmoid(self.model(torch.from_numpy(chunk))).numpy()
                for (a, b), s, q in zip(group, starts, prob, strict=True):
                    p[a:b] = q[a - s : b - s]
        return p

    def events_in(self, prob: np.ndarray) -> np.ndarray:
        """Event ranges ``[start, end)`` of a probability trace: hysteresis runs (on at the event trigger, off at half
        the sample threshold) that are not mains-locked (:func:`amt.sferic.calibration.mains_locked`)."""
        gap = max(round(self.min_gap_s * self.rate_hz), 0)
        r, peaks = candidate_peaks(prob, self.threshold / 2, gap, self.rate_hz if self.reject_mains_locked else None)
        return r[peaks >= self.event_threshold]

    # -- records -------------------------------------------------------------------------------------------
    def check_run(self, where: str, channels: Iterable[str], rate_hz: float) -> None:
        """Refuse a run (named ``where``) lacking a magnetic channel the model reads or sampled at another rate (Hz).

        Raises
        ------
        RecordError
            Naming the missing channels or the two rates.
        """
        have = set(channels)
        missing = [c for c in self.channels if c not in have]
        if missing:
            raise RecordError(
                f"{where}: missing magnetic channel(s) {missing}; the detector reads {list(self.channels)}"
            )
        if abs(rate_hz - self.rate_hz) > 1e-6 * self.rate_hz:
            raise RecordError(f"{where}: sampled at {rate_hz:g} Hz; the sferic model reads {self.rate_hz:g} Hz data")

    def detect_run(self, run: StationRun, fast: bool = False) -> RunDetection:
        """Detect sferics on the good parts of ``run``; unusable parts are reported in ``notes``.

        Raises
        ------
        RecordError
            If the run lacks a magnetic channel the model reads, or its rate is not the model's.
        """
        where = f"{run.source or run.station} run {run.run}"
        self.check_run(where, run.data, run.sample_rate_hz)
        out = RunDetection(run=run, probability=np.full(run.n_samples, np.nan, dtype=np.float32))
        out.notes.extend(str(d) for d in run.defects if d.channel in self.channels or d.channel == "all")
        for c in self.channels:
            bad = int(np.count_nonzero(~np.isfinite(run.data[c])))
            if bad:
                out.notes.append(f"{c}: {bad} non-finite samples skipped")
        min_len = 2 * self.margin
        segments = run.good_segments(channels=self.channels)
        for a, b in segments:
            if b - a < min_len:
                out.notes.append(
                    f"segment {run.time_of(a)} - {run.time_of(b - 1)}: {b - a} samples, too short; skipped"
                )
                continue
            hp = highpass(np.vstack([run.data[c][a:b] for c in self.channels]), self.rate_hz)
            prob = self.probability(hp, robust_scale(hp), fast=fast)
            out.probability[a:b] = prob
            out.processed_samples += b - a
            ranges = self.events_in(prob)
            peaks, amplitudes, azimuths = event_peaks(hp, ranges, run.meta[self.channels[0]].azimuth_deg)
            for (ea, eb), k, amplitude, azimuth in zip(ranges, peaks, amplitudes, azimuths, strict=True):
                out.events.append(
                    SfericEvent(
                        start=run.time_of(a + ea),
                        end=run.time_of(a + eb),
                        peak_time=run.time_of(a + k),
                        probability=self.event_probability(prob[ea:eb].max()),
                        amplitude=float(amplitude),
                        azimuth=float(azimuth),
                    )
                )
        if out.processed_samples == 0:
            raise RecordError(
                f"{where}: nothing usable: no stretch of >= {min_len} samples where {', '.join(self.channels)} "
                f"are all finite and free of defects" + (f" ({'; '.join(out.notes[:3])})" if out.notes else "")
            )
        return out

    # -- obspy ---------------------------------------------------------------------------------------------
    def annotate(self, stream: Stream, fast: bool = False) -> Stream:
        """Probability traces (channel ``SFP``, one per station) for a Stream holding HX and HY (and HZ)."""
        out = Stream()
        for run in _runs_of(stream):
            det = self.detect_run(run, fast=fast)
            tr = Trace(
                data=det.probability,
                header={
                    "network": stream[0].stats.network,
                    "station": stream[0].stats.station,
                    "channel": "SFP",
                    "sampling_rate": run.sample_rate_hz,
                    "starttime": run.start,
                },
            )
            out.append(tr)
        return out

    def classify(self, stream: Stream, fast: bool = False) -> list[SfericEvent]:
        """Events, in time order, for a Stream holding HX and HY (and HZ)."""
        events = [e for run in _runs_of(stream) for e in self.detect_run(run, fast=fast).events]
        return sorted(events, key=lambda e: e.start)


def _runs_of(stream: Stream) -> list[StationRun]:
    """One run per station of a Stream (traces of a station must share rate and start)."""
    stations: dict[str, Stream] = {}
    for tr in stream:
        stations.setdefault(tr.stats.station, Stream()).append(tr)
    if not stations:
        raise RecordError("stream holds no traces")
    return [StationRun.from_stream(st, station=name, source=f"stream station {name}") for name, st in stations.items()]
