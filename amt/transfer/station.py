"""A station's transfer function from all its streams, merged at a documented crossover.

Each sample rate (e.g. 24 kHz bursts and a continuous 150 Hz run) is processed on its own
(:func:`amt.spectra.compute_station_spectra`, :func:`estimate_transfer_function`). All streams share one grid of
target frequencies (``per_decade`` to a decade, aligned to 1 Hz). Where the streams' ranges overlap, each target
frequency is taken from the stream whose band held the most data points (windows x bins); the crossover is
therefore where the lower-rate stream starts to hold more data than the higher-rate one, and the stream used is
recorded per frequency in ``diagnostics["sample_rate_hz"]``. A remote station is matched stream by stream (same
sample rate, same window start times).
"""

from __future__ import annotations

import numpy as np

from amt.mt.transfer_function import TransferFunction
from amt.record import Station
from amt.spectra import Spectra, SpectraConfig, SpectraError, compute_station_spectra, plan_bins
from amt.transfer.estimate import EstimateConfig, estimate_transfer_function


def _merge(tfs: dict[float, TransferFunction]) -> TransferFunction:
    rows = []  # (target frequency, rate, index)
    for rate, tf in tfs.items():
        for i, f in enumerate(tf.diagnostics["target_hz"]):
            rows.append((f, rate, i))
    chosen: dict[int, tuple[float, int]] = {}
    for f, rate, i in rows:
        key = round(float(np.log10(f)) * 1e6)
        pts = tfs[rate].diagnostics["n_points"][i]
        if key not in chosen or pts > tfs[chosen[key][0]].diagnostics["n_points"][chosen[key][1]]:
            chosen[key] = (rate, i)
    picks = sorted(chosen.values(), key=lambda ri: -tfs[ri[0]].frequency_hz[ri[1]])
    first = next(iter(tfs.values()))

    def take(get):
        return np.stack([get(tfs[r])[i] for r, i in picks])

    with_tipper = all(t.tipper is not None for t in tfs.values())
    diagnostics = {k: take(lambda t, k=k: t.diagnostics[k]) for k in first.diagnostics}
    diagnostics["sample_rate_hz"] = np.array([r for r, _ in picks])
    return TransferFunction(
        station=first.station,
        frequency_hz=take(lambda t: t.frequency_hz),
        z=take(lambda t: t.z),
        z_var=take(lambda t: t.z_var),
        tipper=take(lambda t: t.tipper) if with_tipper else None,
        tipper_var=take(lambda t: t.tipper_var) if with_tipper else None,
        flags=take(lambda t: t.flags),
        diagnostics=diagnostics,
    )


def process_station(
    station: Station,
    remote: Station | None = None,
    spectra_config: SpectraConfig | None = None,
    config: EstimateConfig | None = None,
) -> TransferFunction:
    """Impedance and tipper of ``station`` from every stream, single-site or with a remote reference.

    Returns
    -------
    TransferFunction
        Frequencies of all streams merged (see module notes), with the station's location and declination.

    Raises
    ------
    SpectraError
        If no stream holds enough data for one window level, or a channel is missing.
    """
    spectra_config = spectra_config or SpectraConfig()
    config = config or EstimateConfig()
    # only the bins the local band plan uses are kept, locally and at the remote's levels of the same stream (the
    # plan is the local one): the same estimate in less memory
    chosen: dict[float, list[np.ndarray]] = {}

    def keep_local(levels: list[Spectra]) -> list[np.ndarray]:
        chosen[levels[0].sample_rate_hz] = plan_bins(levels, config.per_decade, config.min_bin)
        return chosen[levels[0].sample_rate_hz]

    def keep_remote(levels: list[Spectra]) -> list[np.ndarray | None]:
        bins = chosen.get(levels[0].sample_rate_hz, [])
        return [bins[i] if i < len(bins) else None for i in range(len(levels))]

    local = compute_station_spectra(station, spectra_config, select_bins=keep_local)
    if not local:
        raise SpectraError(
            f"{station.source or station.station}: no stream holds {spectra_config.min_windows} windows of "
            f"{spectra_config.window_length} samples"
        )
    remote_levels = None
    if remote is not None:
        remote_levels = compute_station_spectra(remote, spectra_config, select_bins=keep_remote)
    return estimate_station(station, local, remote_levels, config)


def estimate_station(
    station: Station,
    local: dict[float, list[Spectra]],
    remote: dict[float, list[Spectra]] | None = None,
    config: EstimateConfig | None = None,
) -> TransferFunction:
    """:func:`process_station` from spectra already computed (sample rate -> levels, local and remote).

    Raises
    ------
    SpectraError
        If the remote has no stream at a local stream's rate, or a channel is missing.
    """
    config = config or EstimateConfig()
    tfs = {}
    for rate, levels in local.items():
        rem = remote.get(rate) if remote is not None else None
        if remote is not None and rem is None:
            raise SpectraError(f"remote: no stream at {rate} Hz to match {station.station} (rates: {sorted(remote)})")
        tfs[rate] = estimate_transfer_function(levels, rem, config)
    tf = _merge(tfs)
    tf.latitude_deg = 0.0 if np.isnan(station.latitude_deg) else station.latitude_deg
    tf.longitude_deg = 0.0 if np.isnan(station.longitude_deg) else station.longitude_deg
    tf.elevation_m = 0.0 if np.isnan(station.elevation_m) else station.elevation_m
    tf.declination_deg = station.declination_deg
    return tf
