"""Assemble synthetic AMT records: shared sferic sources, per-station earth and noise, chunked output.

Chunk scheme. A record span at one rate is cut into chunks of ``chunk_s`` seconds. Every sferic is a
finite window of ``n_window`` samples (:mod:`amt.synth.sferic`); chunk ``[a, b)`` sums, in catalogue
order, the part inside ``[a, b)`` of every window that overlaps it, so a sferic straddling a boundary
is added exactly (overlap-add of its finite response). Noise is a function of the global sample index
(:mod:`amt.synth.noise`). Hence one chunk or many give the same samples, and memory is bounded by the
chunk, the windows of one batch of sferics and the flash catalogue (about 40 bytes per flash).

Stations share the catalogue: the field is a plane wave over the array, so station j sees each flash
``-(north_j cos theta + east_j sin theta) / c`` seconds later than the reference (bearing theta), with
its own earth (E = Z H) and its own noise. Burst schedules record ``on`` seconds every ``every``
seconds at the high rate beside a continuous run at ``low_rate_hz``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import scipy.fft
from obspy import UTCDateTime
from tqdm import tqdm

from amt.record import CHANNELS, ELECTRIC, ChannelMeta, Station, StationRun
from amt.synth.earth import Earth, LayeredEarth
from amt.synth.errors import SynthError
from amt.synth.labels import SfericLabel, features, snr_fixed_point
from amt.synth.noise import ChannelNoise, NoiseModel
from amt.synth.sensors import channel_response
from amt.synth.sferic import SfericSynth, window_length
from amt.synth.storms import GLOBAL_FLASH_RATE_HZ, Catalogue, Storm, draw_catalogue, draw_storms
from amt.synth.stroke import C_LIGHT
from amt.synth.waveguide import ionosphere
from shared.seeding import stream_rng

_BATCH = 64


@dataclass(frozen=True)
class Site:
    """One station: name, true earth, offset from the reference (m, north and east) and noise levels."""

    name: str = "S00"
    earth: Earth = field(default_factory=lambda: LayeredEarth((100.0,)))
    north_m: float = 0.0
    east_m: float = 0.0
    noise: NoiseModel = field(default_factory=NoiseModel)


@dataclass(frozen=True)
class SynthConfig:
    """What to synthesise.

    Parameters
    ----------
    duration_s
        Record length, s.
    rate_hz
        Sample rate, Hz (the burst rate when ``burst`` is set).
    sferic_rate_hz
        Storm flashes per second (1-3 storm centres).
    background_rate_hz
        Global background flashes per second (about 50).
    night
        Night-time waveguide (h = 87 km) instead of day-time (h = 70 km).
    sites
        Stations; all share the sources.
    storms
        Storm centres, or ``None`` to draw 1-3 from the seed.
    counts
        Write raw counts through :func:`amt.synth.sensors.channel_response` instead of mV/km and nT.
    burst
        ``(on_s, every_s)``: high-rate bursts beside a continuous ``low_rate_hz`` run; ``None``: one run.
    low_rate_hz
        Continuous rate in burst mode, Hz.
    seed
        Everything is a deterministic function of the seed.
    start
        UTC time of the first sample.
    chunk_s
        Generation chunk, s (results do not depend on it).
    window_s
        Minimum sferic window, s.
    band_hz
        Label band, Hz.
    label_threshold_db, dont_care_db
        Sferics at or above the first are listed; below the second they are "don't care".
    """

    duration_s: float
    rate_hz: float = 24000.0
    sferic_rate_hz: float = 5.0
    background_rate_hz: float = GLOBAL_FLASH_RATE_HZ
    night: bool = False
    sites: tuple[Site, ...] = (Site(),)
    storms: tuple[Storm, ...] | None = None
    counts: bool = False
    burst: tuple[float, float] | None = None
    low_rate_hz: float = 150.0
    seed: int = 0
    start: UTCDateTime = field(default_factory=lambda: UTCDateTime(2026, 1, 1))
    chunk_s: float = 10.0
    window_s: float = 0.15
    band_hz: tuple[float, float] = (1e3, 1e4)
    label_threshold_db: float = -30.0
    dont_care_db: float = -20.0

    def __post_init__(self) -> None:
        checks = {
            "duration_s": self.duration_s > 0,
            "rate_hz": self.rate_hz > 0,
            "low_rate_hz": self.low_rate_hz > 0,
            "chunk_s": self.chunk_s > 0,
            "window_s": self.window_s > 0,
            "sferic_rate_hz": self.sferic_rate_hz >= 0,
            "background_rate_hz": self.background_rate_hz >= 0,
        }
        for name, ok in checks.items():
            value = getattr(self, name)
            if not (np.isfinite(value) and ok):
                raise SynthError(f"synth: {name} must be finite and positive, got {value}")
        if self.seed < 0:
            raise SynthError(f"synth: seed must be >= 0, got {self.seed}")
        if not self.sites:
            raise SynthError("synth: at least one station is needed")
        names = [s.name for s in self.sites]
        if len(set(names)) != len(names):
            raise SynthError(f"synth: station names must be unique, got {names}")
        if self.burst is not None:
            on, every = self.burst
            if not (0 < on <= every):
                raise SynthError(f"synth: burst needs 0 < ON <= EVERY seconds, got {on}/{every}")
        lo, hi = self.band_hz
        if not 0 < lo < hi:
            raise SynthError(f"synth: label band must be 0 < low < high Hz, got {self.band_hz}")


@dataclass(frozen=True)
class Span:
    """One run to generate: rate, first global sample on that rate's grid, length, run id."""

    rate_hz: float
    g0: int
    n: int
    run: str
    labelled: bool


@dataclass
class Synthesis:
    """A generated set of stations with their labels and truth."""

    config: SynthConfig
    storms: tuple[Storm, ...]
    catalogue: Catalogue
    stations: list[Station]
    labels: list[SfericLabel]
    noise_power_nt2: dict[str, dict[str, float]]  # station -> run -> P_n


def spans(config: SynthConfig) -> list[Span]:
    """The runs of a record (one run, or bursts plus a continuous low-rate run)."""
    rate = config.rate_hz
    labelled = min(config.band_hz[1], 0.425 * rate) > config.band_hz[0]
    if config.burst is None:
        return [Span(rate, 0, round(config.duration_s * rate), "001", labelled)]
    on, every = config.burst
    out = []
    k = 0
    while k * every < config.duration_s:
        g0 = round(k * every * rate)
        n = round(min(on, config.duration_s - k * every) * rate)
        if n > 0:
            out.append(Span(rate, g0, n, f"burst{k:04d}", labelled))
        k += 1
    low = config.low_rate_hz
    out.append(Span(low, 0, round(config.duration_s * low), "continuous", False))
    return out


class FieldGenerator:
    """Generates the runs of a :class:`SynthConfig` chunk by chunk (see the module notes)."""

    def __init__(self, config: SynthConfig, channels: tuple[str, ...] = CHANNELS) -> None:
        self.config = config
        self.channels = channels
        rng = stream_rng(config.seed, 0)
        self.storms = config.storms if config.storms is not None else draw_storms(rng)
        self.spans = spans(config)
        lead = max(window_length(s.rate_hz, config.window_s) / s.rate_hz for s in self.spans)
        self.catalogue = draw_catalogue(
            -lead, config.duration_s, self.storms, config.sferic_rate_hz, config.background_rate_hz, rng
        )
        th = np.deg2rad(self.catalogue.azimuth_deg)
        self._arrival = [
            self.catalogue.arrival_s - (s.north_m * np.cos(th) + s.east_m * np.sin(th)) / C_LIGHT for s in config.sites
        ]
        self.iono = ionosphere(config.night)
        #: Per station and run: label features of sferics first met in that run.
        self.features: dict[tuple[int, str], list[dict[str, np.ndarray]]] = {}
        self.noise: dict[tuple[int, float], dict[str, ChannelNoise]] = {}

    def _synth(self, j: int, rate: float) -> SfericSynth:
        c = self.config
        resp = {ch: channel_response(ch, rate) for ch in self.channels} if c.counts else None
        return SfericSynth(rate, window_length(rate, c.window_s), self.iono, c.sites[j].earth, resp, c.band_hz)

    def _channel_noise(self, j: int, rate: float) -> dict[str, ChannelNoise]:
        key = (j, rate)
        if key not in self.noise:
            c = self.config
            self.noise[key] = {
                ch: ChannelNoise(
                    c.sites[j].noise, ch, rate, c.seed, j, channel_response(ch, rate) if c.counts else None
                )
                for ch in self.channels
            }
        return self.noise[key]

    def iter_chunks(self, span: Span, j: int) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(offset, samples)`` of station ``j``'s run ``span``: samples ``(n_channels, n)``."""
        c = self.config
        synth = self._synth(j, span.rate_hz)
        nw, pre = synth.n, synth.n_pre
        pos = self._arrival[j] * span.rate_hz - span.g0  # arrival, samples of the run
        base = np.floor(pos).astype(np.int64)
        start = base - pre
        order = np.argsort(start, kind="stable")
        start_sorted = start[order]
        noise = self._channel_noise(j, span.rate_hz)
        chunk = max(1, round(c.chunk_s * span.rate_hz))
        feats = self.features.setdefault((j, span.run), [])
        for a in range(0, span.n, chunk):
            b = min(span.n, a + chunk)
            out = np.zeros((len(self.channels), b - a))
            lo = np.searchsorted(start_sorted, a - nw, side="right")
            hi = np.searchsorted(start_sorted, b, side="left")
            idx = order[lo:hi]
            for k in range(0, len(idx), _BATCH):
                sel = idx[k : k + _BATCH]
                h = synth.h_spectra(
                    self.catalogue.distance_m[sel],
                    self.catalogue.azimuth_deg[sel],
                    self.catalogue.current_a[sel],
                    pre + pos[sel] - base[sel],
                )
                waves = synth.channel_waveforms(h, self.channels)
                for m, s0 in enumerate(start[sel]):
                    a0, b0 = max(a, s0), min(b, s0 + nw)
                    out[:, a0 - a : b0 - a] += waves[:, m, a0 - s0 : b0 - s0]
                first = (start[sel] >= a) | ((a == 0) & (start[sel] < 0))
                if span.labelled and np.any(first):
                    hf = h[first]
                    if c.counts:
                        full = scipy.fft.irfft(hf, nw, axis=-1)
                    else:
                        ih = [self.channels.index("hx"), self.channels.index("hy")]
                        full = waves[ih][:, first].swapaxes(0, 1)
                    f = features(synth.band_waveforms(hf), full, span.rate_hz)
                    f["flash"] = sel[first]
                    f["start"] = start[sel][first]
                    feats.append(f)
            for i, ch in enumerate(self.channels):
                out[i] += noise[ch].samples(span.g0 + a, span.g0 + b, c.band_hz)
            if c.counts:
                np.rint(out, out=out)
            yield a, out

    def labels(self, j: int, span: Span) -> tuple[list[SfericLabel], float]:
        """Labels of station ``j`` in ``span`` (after its chunks were generated) and P_n (nT^2)."""
        c = self.config
        feats = self.features.get((j, span.run), [])
        if not span.labelled or not feats:
            return [], float("nan")
        cat = {k: np.concatenate([f[k] for f in feats]) for k in feats[0]}
        noise = self._channel_noise(j, span.rate_hz)
        record_s = span.n / span.rate_hz
        band = (c.band_hz[0], min(c.band_hz[1], 0.425 * span.rate_hz))
        model = c.sites[j].noise
        p_stat = sum(model.band_power(ch, span.rate_hz, band) for ch in ("hx", "hy"))
        p_stat += sum(noise[ch].spike_energy for ch in ("hx", "hy")) / record_s
        length = (cat["i1"] - cat["i0"] + 1) / span.rate_hz
        snr, listed, p_n = snr_fixed_point(cat["energy"], cat["total"], length, p_stat, record_s, c.label_threshold_db)
        t0 = c.start + span.g0 / span.rate_hz
        out = []
        for m in np.flatnonzero(listed):
            i0, i1, ip = (int(cat["start"][m] + cat[k][m]) for k in ("i0", "i1", "ipeak"))
            if i1 < 0 or i0 >= span.n:
                continue  # the sferic's interval lies outside this run
            fl = int(cat["flash"][m])
            out.append(
                SfericLabel(
                    station=c.sites[j].name,
                    run=span.run,
                    flash=fl,
                    start_index=i0,
                    end_index=i1 + 1,
                    peak_index=ip,
                    start=str(t0 + i0 / span.rate_hz),
                    end=str(t0 + (i1 + 1) / span.rate_hz),
                    peak_time=str(t0 + ip / span.rate_hz),
                    amplitude_nt=float(cat["amplitude"][m]),
                    polarization_deg=float(cat["polarization"][m]),
                    distance_km=float(self.catalogue.distance_m[fl] / 1e3),
                    azimuth_deg=float(self.catalogue.azimuth_deg[fl]),
                    storm_id=int(self.catalogue.storm_id[fl]),
                    energy_nt2_s=float(cat["energy"][m]),
                    snr_db=float(snr[m]),
                    dont_care=bool(snr[m] < c.dont_care_db),
                )
            )
        out.sort(key=lambda lab: lab.start_index)
        return out, p_n


def channel_meta(channel: str, rate_hz: float, counts: bool) -> ChannelMeta:
    """Metadata of a synthetic channel (units, orientation, dipole length, response when in counts)."""
    electric = channel in ELECTRIC
    return ChannelMeta(
        component=channel,
        units="counts" if counts else ("mV/km" if electric else "nT"),
        azimuth_deg=90.0 if channel in ("ey", "hy") else 0.0,
        tilt_deg=90.0 if channel == "hz" else 0.0,
        dipole_length_m=50.0 if electric else None,
        sensor="synthetic " + ("dipole" if electric else "induction coil"),
        response=channel_response(channel, rate_hz) if counts else None,
        extra={"synthetic": True},
    )


def generate(config: SynthConfig, progress: bool = False) -> Synthesis:
    """Generate every station and run of ``config`` in memory, with labels (``progress``: a tqdm bar).

    Returns
    -------
    Synthesis
        Stations (one :class:`~amt.record.Station` per site, runs in time order), the sferic labels of
        all stations, the flash catalogue, the storms, and P_n per station and run.
    """
    gen = FieldGenerator(config)
    stations, labels, p_n = [], [], {}
    total = len(config.sites) * sum(s.n / s.rate_hz for s in gen.spans)
    bar = tqdm(total=round(total, 3), unit="s", desc="synth", disable=not progress)
    for j, site in enumerate(config.sites):
        runs = []
        p_n[site.name] = {}
        for span in gen.spans:
            data = np.empty((len(gen.channels), span.n))
            for a, chunk in gen.iter_chunks(span, j):
                data[:, a : a + chunk.shape[1]] = chunk
                bar.update(round(chunk.shape[1] / span.rate_hz, 3))
            runs.append(
                StationRun(
                    station=site.name,
                    run=span.run,
                    sample_rate_hz=span.rate_hz,
                    start=config.start + span.g0 / span.rate_hz,
                    data={ch: data[i] for i, ch in enumerate(gen.channels)},
                    meta={ch: channel_meta(ch, span.rate_hz, config.counts) for ch in gen.channels},
                    source=f"synthetic {site.name}",
                )
            )
            labs, pn = gen.labels(j, span)
            labels.extend(labs)
            if span.labelled:
                p_n[site.name][span.run] = pn
        runs.sort(key=lambda r: (r.start, -r.sample_rate_hz))
        stations.append(Station(station=site.name, runs=runs))
    bar.close()
    return Synthesis(config, gen.storms, gen.catalogue, stations, labels, p_n)
