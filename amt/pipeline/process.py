"""The processing chain of ``amt process``: a record to its transfer functions and their per-frequency summary.

Data flow one way: read the record (:func:`amt.io.read`) -> conventional robust estimate from all windows
(:func:`amt.transfer.process_station`) -> with ``mode`` ``"compensated"`` or ``"both"``, every frequency also
estimated from the windows that hold sferics and the estimate kept that the data show good, else flagged
(:func:`amt.deadband.compensate`; Jiang et al., 2023, Geophysics 88(3), doi:10.1190/geo2022-0254.1), the
sferics read from an events CSV (:func:`amt.sferic.catalogue.read_events_csv`) or detected by the shipped CNN,
else STA/LTA (:func:`amt.deadband.detect_events`) -> EDI and JSON summaries (:func:`write_outputs`, one
per-frequency record schema: :func:`summary`).

Memory: an MTH5 file we wrote is read as h5py slices while the spectra are computed a part at a time
(:func:`amt.io.mth5_file.open_mth5_chunked`, :func:`amt.spectra.compute_station_spectra`), so the record is never
held whole, and the sferic CNN reads it a part at a time too (:func:`detect_record`). What
grows with the record is the Fourier coefficients every estimate keeps (and the estimator's working arrays).

``amt process`` (:mod:`amt.pipeline.cli`) and the field demo (``field_examples/amt_field_demo.py``) both run
:func:`process_record` and :func:`write_outputs`, so they write the same files.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import amt.io
from amt.deadband import CompensationResult, DeadBandError, compensate, detect_events
from amt.io.chunked import ChunkedRun
from amt.mt import TransferFunction, apparent_resistivity, phase_deg
from amt.pipeline import MODES
from amt.pipeline.preload import preload
from amt.record import MAGNETIC, Station, StationRun
from amt.sferic.catalogue import SfericEventTable, read_events_csv, write_events_csv
from amt.transfer import process_station
from shared.atomic import atomic_paths, write_json_atomic

if TYPE_CHECKING:  # torch loads when the CNN detects, not with the chain (a conventional run never needs it)
    from amt.sferic.inference import SfericDetector


@dataclass
class ProcessResult:
    """Transfer functions of one record.

    Attributes
    ----------
    record
        The record as read: for an MTH5 file we wrote, runs read as h5py slices whose file closed when
        :func:`process_record` returned (metadata only; read samples with :func:`amt.io.read`).
    transfer_function
        The main estimate: the compensated one (modes ``"compensated"``, ``"both"``) or the conventional one.
    conventional
        The conventional estimate from all windows (the same object as ``transfer_function`` in mode
        ``"conventional"``).
    mode
        One of :data:`MODES`.
    compensation
        The dead-band compensation (edges and events used), None in mode ``"conventional"``.
    notes
        One-line reports for the user (the dead band found and the events used).
    """

    record: Station
    transfer_function: TransferFunction
    conventional: TransferFunction
    mode: str
    compensation: CompensationResult | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def station(self) -> str:
        """Station name of the estimate (the stem of its output files)."""
        return self.transfer_function.station


def process_record(
    record: str | Path,
    remote: str | Path | None = None,
    mode: str = "compensated",
    detections: str | Path | None = None,
    dead_band_hz: tuple[float, float] | None = None,
    on_step: Callable[[], None] | None = None,
    detector: SfericDetector | None = None,
) -> ProcessResult:
    """Read ``record`` (and ``remote``) and estimate its transfer functions.

    Parameters
    ----------
    record
        Any file or folder :func:`amt.io.read` reads.
    remote
        Remote-reference record (its hx, hy), or None for a single-site estimate.
    mode
        ``"conventional"``: robust estimate from all windows; ``"compensated"``: the dead band from sferic windows
        (:mod:`amt.deadband`); ``"both"``: the two side by side.
    detections
        Sferic events CSV (``amt detect``); default: the shipped CNN, else STA/LTA. Read only if a dead band is
        found or given.
    dead_band_hz
        Dead-band edges ``(low, high)`` in Hz; default: found from the data.
    on_step
        Called after reading and after estimating (a progress bar's step).
    detector
        The sferic CNN to detect with when no ``detections`` are given (e.g. a protected model opened by
        :func:`amt.sferic.protected.load_detector`); default: the shipped CNN, else STA/LTA.

    Returns
    -------
    ProcessResult

    Raises
    ------
    ValueError
        If ``mode`` is not one of :data:`MODES`, or ``detections`` or ``dead_band_hz`` is given in mode
        ``"conventional"``.
    amt.record.RecordError
        If a record or the events file cannot be read, or the dead-band edges are invalid.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; use one of {MODES}")
    if mode == "conventional" and (detections is not None or dead_band_hz is not None):
        raise ValueError("detections and dead-band edges are used only by the compensated estimate")
    step = on_step or (lambda: None)
    events = read_events_csv(detections) if detections is not None else None
    with _opened(record) as station, _opened(remote) as rem:
        step()
        if mode == "conventional":
            conventional = process_station(station, rem)
            step()
            return ProcessResult(station, conventional, conventional, mode)
        if events is None:  # detected once the conventional estimate is done: its arrays and the CNN's not together
            events = _detector(station, detector)
        result = compensate(station, events, rem, dead_band_hz)  # the conventional estimate from the same spectra
        step()
        return ProcessResult(station, result.compensated, result.conventional, mode, result, [_report(result)])


@contextlib.contextmanager
def _opened(path: str | Path | None) -> Iterator[Station | None]:
    """The record at ``path``, read as h5py slices while open where it is an MTH5 file we wrote (the spectra then
    take bounded memory, :func:`amt.spectra.compute_station_spectra`), else read whole (:func:`amt.io.read`)."""
    if path is None:
        yield None
        return
    if amt.io.detect_format(path) == "mth5":
        from amt.io.mth5_file import open_mth5_chunked

        with open_mth5_chunked(path) as station:
            if station is not None:
                yield station
                return
    yield amt.io.read(path)


def read_magnetic(path: str | Path) -> Station:
    """The record's magnetic channels in memory (the detector reads H only): an MTH5 file we wrote reads only those
    datasets; other formats are read whole (:func:`amt.io.read`)."""
    with _opened(path) as station:
        return _magnetic(station)


def _magnetic(station: Station) -> Station:
    """``station`` itself where it is in memory; its magnetic channels read into memory where it is read in parts."""
    if not any(isinstance(r, ChunkedRun) for r in station.runs):
        return station
    runs = []
    for r in station.runs:
        data = {c: r.read(c, 0, r.n_samples) for c in r.channels if c in MAGNETIC}
        runs.append(StationRun(r.station, r.run, r.sample_rate_hz, r.start, data, r.meta, r.defects, r.source))
    return replace(station, runs=runs)


def detect_record(record: str | Path, detector: SfericDetector | None = None) -> SfericEventTable:
    """Sferics of every run of ``record`` at the detector's rate: ``detector``, else the shipped CNN, else STA/LTA.

    Runs of an MTH5 file we wrote are read a part at a time (:func:`amt.sferic.chunked.detect_chunked`: the events of
    a whole-segment pass in bounded memory); other formats are detected on their magnetic channels in memory
    (:func:`amt.deadband.detect_events`).

    Raises
    ------
    amt.deadband.DeadBandError
        If no run has the detector's rate.
    """
    with _opened(record) as station:
        return detect_station(station, detector)


def detect_station(station: Station, detector: SfericDetector | None = None) -> SfericEventTable:
    """:func:`detect_record` of a record already open (:func:`_opened`): runs read in parts are detected a part at
    a time, a record in memory as it is; nothing is read where no run has the detector's rate.

    Raises
    ------
    amt.deadband.DeadBandError
        If no run has the detector's rate.
    """
    cnn = detector if detector is not None else _shipped_cnn()
    if cnn is not None and any(isinstance(r, ChunkedRun) for r in station.runs):
        runs = station.runs_at(cnn.rate_hz)
        if not runs:
            where = station.source or station.station
            raise DeadBandError(f"{where}: no run at the detector's rate {cnn.rate_hz:g} Hz")
        from amt.sferic.chunked import detect_chunked

        parts = [SfericEventTable.from_events(detect_chunked(cnn, r), "cnn") for r in runs]
        return SfericEventTable.concatenate(parts, "cnn")
    return detect_events(_magnetic(station), "auto" if cnn is not None else "stalta", detector=cnn)


def _shipped_cnn() -> SfericDetector | None:
    """The shipped sferic CNN, or None where it cannot load (as ``detect_events(..., "auto")`` decides)."""
    preload("amt.sferic.inference")  # torch: its objects frozen, never traversed by the collector again
    from amt.sferic.inference import SfericDetector

    try:
        return SfericDetector.from_checkpoint()
    except Exception:  # missing weights, a torch or checkpoint error: all mean "no CNN"
        return None


def _detector(station: Station, detector: SfericDetector | None) -> Callable[[], SfericEventTable]:
    """:func:`detect_station` as a function of no arguments, which :func:`amt.deadband.compensate` calls when the
    conventional estimate is done (where no run has the detector's rate it raises that
    :class:`~amt.deadband.DeadBandError`: "no sferic estimate")."""
    return lambda: detect_station(station, detector)


def _report(result: CompensationResult) -> str:
    """One line on the per-frequency choice: estimates from sferic windows, conventional, flagged; the dead band."""
    tf = result.compensated
    d = tf.diagnostics
    flagged = np.array([bool(f) for f in tf.flags])
    sferic = (d["estimator"] == "sferic") & ~flagged
    band = "none found" if result.dead_band_hz is None else "{:.0f}-{:.0f} Hz".format(*result.dead_band_hz)
    ev = result.events
    return (
        f"{int(sferic.sum())} of {tf.n_frequencies} frequencies from sferic windows, "
        f"{int((~sferic & ~flagged).sum())} conventional, {int(flagged.sum())} flagged "
        f"({len(ev) if ev is not None else 0} sferic events, {ev.source if ev is not None else 'none'}); "
        f"dead band (diagnostic): {band}"
    )


def summary(tf: TransferFunction) -> list[dict]:
    """Per-frequency JSON records of a transfer function (the schema of every ``<station>.json``).

    Each record holds ``frequency_hz``, ``period_s``; apparent resistivity (ohm-m) and phase (deg) of xy and yx
    with their standard errors (:func:`amt.mt.apparent_resistivity`, :func:`amt.mt.phase_deg`); the
    coherences of Ex and Ey, the condition number of the H cross-power, the number of windows, ``window_stride``
    (k > 1 where a band of a long record was estimated from every k-th window,
    :class:`amt.transfer.EstimateConfig`), the sample rate (Hz) of the stream estimated from and the flag (empty
    when estimated). A compensated estimate
    (:func:`amt.deadband.compensate`; its diagnostics hold ``estimator``) adds at every frequency ``estimator``
    (``"conventional"`` or ``"sferic"``), ``n_sferics`` (sferics whose windows hold band H SNR >= 1),
    ``n_sferic_windows``, ``h_signal_fraction`` (mean H signal fraction of those windows), ``azimuth_spread_deg``
    (their polarisation spread, degrees), ``bias_bound`` (bound on the conventional estimate's relative ``|Z|``
    bias) and ``dead_band`` (inside the diagnostic dead band). Values that are not finite are None.
    """
    rho, rho_err = apparent_resistivity(tf.z, tf.frequency_hz, tf.z_var)
    ph, ph_err = phase_deg(tf.z, tf.z_var)
    d = tf.diagnostics

    def num(x) -> float | None:
        return None if not np.isfinite(x) else float(x)

    rows = []
    for i, f in enumerate(tf.frequency_hz):
        row = {
            "frequency_hz": float(f),
            "period_s": float(1 / f),
            "rho_xy_ohm_m": num(rho[i, 0, 1]),
            "rho_xy_err_ohm_m": num(rho_err[i, 0, 1]),
            "rho_yx_ohm_m": num(rho[i, 1, 0]),
            "rho_yx_err_ohm_m": num(rho_err[i, 1, 0]),
            "phase_xy_deg": num(ph[i, 0, 1]),
            "phase_xy_err_deg": num(ph_err[i, 0, 1]),
            "phase_yx_deg": num(ph[i, 1, 0]),
            "phase_yx_err_deg": num(ph_err[i, 1, 0]),
            "coherence_ex": num(d["coherence"][i, 0]),
            "coherence_ey": num(d["coherence"][i, 1]),
            "condition_number": num(d["condition_number"][i]),
            "n_windows": int(d["n_windows"][i]),
            "window_stride": int(d["window_stride"][i]) if "window_stride" in d else 1,
            "sample_rate_hz": num(d["sample_rate_hz"][i]) if "sample_rate_hz" in d else None,
            "flag": str(tf.flags[i]),
        }
        if "estimator" in d:
            row["estimator"] = str(d["estimator"][i])
            row["n_sferics"] = int(d["n_sferics"][i])
            row["n_sferic_windows"] = int(d["n_sferic_windows"][i])
            row["h_signal_fraction"] = num(d["h_signal_fraction"][i])
            row["azimuth_spread_deg"] = num(d["azimuth_spread_deg"][i])
            row["bias_bound"] = num(d["bias_bound"][i])
            row["dead_band"] = bool(d["dead_band"][i])
        rows.append(row)
    return rows


def write_outputs(result: ProcessResult, out_dir: str | Path) -> dict[str, Path]:
    """Write ``DIR/<station>.edi`` and ``.json`` (and in mode ``"both"`` ``<station>_conventional.*``).

    EDIs hold jackknife variances, flagged frequencies as the EDI empty value 1.0E32
    (:func:`amt.io.transfer_functions.write_transfer_function`); each JSON is ``{"station", "record", "mode",
    "frequencies": summary(tf)}`` (``record``: the file read, for the report's time series). A compensated estimate
    also writes the sferic events it used as ``DIR/<station>.events.csv`` (the ``amt detect`` CSV; amplitude
    empty when the source did not give it). All files are written atomically together
    (:func:`shared.atomic.atomic_paths`): on an error none is left behind.

    Returns
    -------
    dict
        ``"edi"``, ``"json"`` (and ``"conventional edi"``, ``"conventional json"``, ``"events"``) -> path written.
    """
    preload("amt.io.transfer_functions")  # mt_metadata (seconds): only when writing; its objects frozen
    from amt.io.transfer_functions import write_transfer_function

    out = Path(out_dir)
    stem = result.station
    items = [("", stem, result.transfer_function)]
    if result.mode == "both":
        items.append(("conventional ", f"{stem}_conventional", result.conventional))
    targets = {}
    for prefix, name, _ in items:
        targets[f"{prefix}edi"] = out / f"{name}.edi"
        targets[f"{prefix}json"] = out / f"{name}.json"
    events = result.compensation.events if result.compensation is not None else None
    if events is not None:
        targets["events"] = out / f"{stem}.events.csv"
    source = result.record.source
    with atomic_paths(*targets.values()) as tmp:
        paths = dict(zip(targets, tmp, strict=True))
        for prefix, _, tf in items:
            write_transfer_function(tf, paths[f"{prefix}edi"])
            doc = {"station": stem, "record": str(Path(source).resolve()) if source else None, "mode": result.mode}
            write_json_atomic(paths[f"{prefix}json"], {**doc, "frequencies": summary(tf)})
        if events is not None:
            write_events_csv(paths["events"], events)
    return targets
