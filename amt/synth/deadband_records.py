"""Dead-band test records with analytic truth: a notched 1/f field, sferics of several physics, white noise.

The scenario of ``docs/acceptance.md#dead-band-decided-by-the-data``, built independently of the physical
generator :func:`amt.synth.generate` (no waveguide, no storms), so that the dead-band estimator is tested on a
sferic physics it was not built with. One station, one run, calibrated units (nT, mV/km), 24 kHz by default:

* **Natural background**: two independent Gaussian H sources with power spectral density ``P0 (100 Hz / f)``
  (nT^2/Hz, 1/f) whose power in the dead band (1-5 kHz, cosine edges over 20 % in frequency) is 30 times weaker.
* **Sferics**: Poisson arrivals at ``sferic_rate_hz``, each linearly polarised at a uniform random azimuth,
  amplitude log-normal (``sigma = 1`` in ln amplitude); the median sferic's energy in the dead band is
  ``sferic_db`` dB above the background's dead-band energy in one second. Three physics
  (:data:`PHYSICS`), each with its own spectrum and duration:

  - ``"burst"``: a red (1/f power) Gaussian burst under a Hann taper, 4-12 ms;
  - ``"ricker"``: a Ricker wavelet (peak 2-8 kHz) followed by a slow 300-600 Hz decaying oscillation;
  - ``"tweek"``: a waveguide-like sferic, a 0.2 ms bipolar TEM pulse followed by the dispersed first-mode tail
    ``cos(2 pi f_c sqrt(t^2 - t_0^2))`` of a flash 1000-3000 km away (``t_0 = d / c``, cutoff ``f_c``
    1.6-2.2 kHz), decaying over 3-8 ms (Wood & Inan 2004 describe this form).

* **Earth**: ``E = Z(f) H`` in the frequency domain over the whole record (circular), with ``Z`` of a
  :class:`amt.synth.LayeredEarth` (half-space or layers; analytic truth).
* **Instrument noise**: white Gaussian noise on every channel. On H its power spectral density is ``noise_db`` dB
  above the background's H density at the dead band's centre (2.24 kHz); on E it is ``noise_db`` dB above
  ``|Z_xy|^2`` times that density, at the same frequency.

References
----------
Garcia, X. and Jones, A. G. (2002), Atmospheric sources for audio-magnetotelluric (AMT) sounding, Geophysics 67,
448-458.
Wood, T. G. and Inan, U. S. (2004), Localization of individual lightning discharges via directional and temporal
triangulation of sferic measurements at two distant sites, J. Geophys. Res. 109, D21109.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from obspy import UTCDateTime

from amt.record import ChannelMeta, Station, StationRun
from amt.synth.earth import LayeredEarth, parse_earth
from amt.synth.errors import SynthError
from amt.synth.labels import SfericLabel

#: Sferic physics the generator knows.
PHYSICS = ("burst", "ricker", "tweek")
#: Nominal dead band (Hz) of the background (Garcia & Jones 2002).
DEAD_BAND_HZ = (1000.0, 5000.0)
#: Earths of the benchmark: three half-spaces and a three-layer earth (resistivities ohm-m / thicknesses m).
EARTHS = ("halfspace:10", "halfspace:100", "halfspace:1000", "layers:100,10,1000/300,700")
_START = UTCDateTime(2024, 6, 1, 12)
_C_KM_S = 299_792.458


@dataclass(frozen=True)
class DeadBandScenario:
    """Settings of one dead-band record (module notes).

    Parameters
    ----------
    earth
        Earth spec for :func:`amt.synth.parse_earth` (``halfspace:100``, ``layers:...``; a 1-D earth).
    sferic_rate_hz
        Sferics per second.
    noise_db
        Instrument noise over the natural background in the dead band, dB.
    physics
        One of :data:`PHYSICS`.
    duration_s
        Record length, s.
    rate_hz
        Sample rate, Hz.
    seed
        Seed of everything drawn.
    sferic_db
        Median sferic dead-band energy over one second of background dead-band energy, dB.
    notch
        Power ratio of the background outside and inside the dead band.
    noise_seed
        Seed of the instrument noise alone; None draws it after the field from ``seed``. Two records with one
        ``seed`` and different ``noise_seed`` hold the same natural field with independent noise: a station and
        its remote reference.
    """

    earth: str = "halfspace:100"
    sferic_rate_hz: float = 2.0
    noise_db: float = 20.0
    physics: str = "tweek"
    duration_s: float = 16.0
    rate_hz: float = 24000.0
    seed: int = 0
    sferic_db: float = 20.0
    notch: float = 30.0
    noise_seed: int | None = None

    def __post_init__(self) -> None:
        if self.physics not in PHYSICS:
            raise SynthError(f"dead-band record: unknown sferic physics {self.physics!r} (one of {PHYSICS})")
        if not (self.duration_s > 0 and self.rate_hz > 2 * DEAD_BAND_HZ[1] and self.sferic_rate_hz >= 0):
            raise SynthError(
                f"dead-band record: need duration > 0, rate > {2 * DEAD_BAND_HZ[1]:g} Hz and a rate of sferics "
                f">= 0, got {self.duration_s}, {self.rate_hz}, {self.sferic_rate_hz}"
            )


@dataclass
class DeadBandRecord:
    """A generated record with its truth.

    Attributes
    ----------
    station
        The record (ex, ey in mV/km; hx, hy in nT).
    earth
        The true earth (``earth.impedance(f)`` is the truth).
    labels
        The true sferics (:func:`amt.deadband.events_from_labels` turns them into events).
    scenario
        The settings.
    """

    station: Station
    earth: LayeredEarth
    labels: list[SfericLabel]
    scenario: DeadBandScenario


def _notch(f: np.ndarray, ratio: float) -> np.ndarray:
    """Power factor: 1 outside the dead band, ``1 / ratio`` inside, cosine edges over 20 % in frequency."""
    lo, hi = DEAD_BAND_HZ
    lf = np.log(np.maximum(f, 1e-9))
    w = np.log(1.2)
    up = np.clip((lf - np.log(lo)) / w, 0.0, 1.0)
    down = np.clip((np.log(hi) - lf) / w, 0.0, 1.0)
    inside = np.sin(0.5 * np.pi * up) ** 2 * np.sin(0.5 * np.pi * down) ** 2
    return 1.0 - (1.0 - 1.0 / ratio) * inside


def background_psd(f: np.ndarray, ratio: float = 30.0, p0: float = 1e-6) -> np.ndarray:
    """Background H power spectral density (nT^2/Hz) of each component: ``p0 (100 / f)`` notched in the dead band."""
    f = np.maximum(np.asarray(f, dtype=float), 1e-3)
    return p0 * (100.0 / f) * _notch(f, ratio)


def sferic_waveform(physics: str, rate: float, rng: np.random.Generator) -> np.ndarray:
    """One sferic's waveform of :data:`PHYSICS` (arbitrary scale, 45 ms at ``rate`` Hz), starting at sample 0."""
    n = int(0.045 * rate)
    t = np.arange(n) / rate
    if physics == "burst":
        m = int(rng.uniform(0.004, 0.012) * rate)
        spec = (rng.normal(size=m // 2 + 1) + 1j * rng.normal(size=m // 2 + 1)) / np.sqrt(
            np.maximum(np.fft.rfftfreq(m, 1 / rate), rate / m)
        )
        x = np.zeros(n)
        x[:m] = np.fft.irfft(spec, m) * np.hanning(m)
        return x
    if physics == "ricker":
        fp = rng.uniform(2000.0, 8000.0)
        t0 = 1.5 / fp
        a = (np.pi * fp * (t - t0)) ** 2
        slow = rng.uniform(300.0, 600.0)
        tail = 0.3 * np.sin(2 * np.pi * slow * (t - t0)) * np.exp(-np.maximum(t - t0, 0) / 0.004) * (t > t0)
        return (1 - 2 * a) * np.exp(-a) + tail
    d_km = rng.uniform(1000.0, 3000.0)
    fc = rng.uniform(1600.0, 2200.0)
    t0 = d_km / _C_KM_S
    tt = t + t0 + 1e-4  # arrival of the TEM pulse at sample 0
    tau = rng.uniform(0.003, 0.008)
    tail = np.cos(2 * np.pi * fc * np.sqrt(tt**2 - t0**2)) * np.exp(-(tt - t0) / tau)
    pulse = -np.gradient(np.exp(-(((t - 1e-4) / 5e-5) ** 2)))
    pulse *= 3.0 / max(np.abs(pulse).max(), 1e-300)
    return pulse + tail


def _band_energy(x: np.ndarray, rate: float) -> float:
    """Energy of ``x`` in the dead band, (units)^2 s."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / rate)
    band = (f >= DEAD_BAND_HZ[0]) & (f <= DEAD_BAND_HZ[1])
    return float(2 * np.sum(np.abs(spec[band]) ** 2) / (rate * len(x)))


def _gaussian(rng: np.random.Generator, psd: np.ndarray, n: int, rate: float) -> np.ndarray:
    """Real Gaussian noise of one-sided power spectral density ``psd`` on the rfft grid of ``n`` samples."""
    amp = np.sqrt(psd * rate * n / 4.0)
    spec = amp * (rng.normal(size=len(psd)) + 1j * rng.normal(size=len(psd)))
    spec[0] = 0.0
    return np.fft.irfft(spec, n)


def generate_dead_band_record(scenario: DeadBandScenario) -> DeadBandRecord:
    """Generate the record of ``scenario`` (module notes) with its true earth and sferic labels.

    Raises
    ------
    SynthError
        If the earth is not a 1-D layered earth.
    """
    sc = scenario
    earth = parse_earth(sc.earth)
    if not isinstance(earth, LayeredEarth):
        raise SynthError(f"dead-band record: earth {sc.earth!r} must be a half-space or layers (analytic truth)")
    rng = np.random.default_rng(sc.seed)
    rate = sc.rate_hz
    n = round(sc.duration_s * rate)
    f = np.fft.rfftfreq(n, 1 / rate)
    psd = background_psd(f, sc.notch)
    h = np.vstack([_gaussian(rng, psd, n, rate), _gaussian(rng, psd, n, rate)])
    centre = float(np.sqrt(DEAD_BAND_HZ[0] * DEAD_BAND_HZ[1]))
    p_dead = float(background_psd(np.array([centre]), sc.notch)[0])
    e_sferic = 10 ** (sc.sferic_db / 10) * p_dead * (DEAD_BAND_HZ[1] - DEAD_BAND_HZ[0]) * 1.0
    n_sferics = rng.poisson(sc.sferic_rate_hz * sc.duration_s)
    arrivals = np.sort(rng.uniform(0.0, n - 0.05 * rate, n_sferics)).astype(int)
    labels = []
    for k, i0 in enumerate(arrivals):
        w = sferic_waveform(sc.physics, rate, rng)
        energy = rng.lognormal(0.0, 2.0) * e_sferic  # sigma 1 in ln amplitude is sigma 2 in ln energy
        w *= np.sqrt(energy / _band_energy(w, rate))
        az = rng.uniform(0.0, 180.0)
        pol = np.array([np.cos(np.radians(az)), np.sin(np.radians(az))])
        m = min(len(w), n - i0)
        h[:, i0 : i0 + m] += np.outer(pol, w[:m])
        cum = np.cumsum(w[:m] ** 2)
        end = i0 + int(np.searchsorted(cum, 0.99 * cum[-1])) + 1
        peak = i0 + int(np.argmax(np.abs(w[:m])))
        labels.append(
            SfericLabel(
                station="DB01",
                run="001",
                flash=k,
                start_index=int(i0),
                end_index=end,
                peak_index=peak,
                start=str(_START + i0 / rate),
                end=str(_START + end / rate),
                peak_time=str(_START + peak / rate),
                amplitude_nt=float(np.abs(w[:m]).max()),
                polarization_deg=float(az),
                distance_km=float("nan"),
                azimuth_deg=float((az - 90.0) % 360.0),
                storm_id=0,
                energy_nt2_s=float(energy),
                snr_db=float(10 * np.log10(energy / (p_dead * (DEAD_BAND_HZ[1] - DEAD_BAND_HZ[0]) * 1.0))),
                dont_care=False,
            )
        )
    z = earth.impedance(np.maximum(f, f[1]))
    hf = np.fft.rfft(h, axis=1)
    e = np.fft.irfft(np.einsum("fij,jf->if", z, hf), n, axis=1)
    noise_h = 10 ** (sc.noise_db / 10) * p_dead
    noise_e = noise_h * float(np.abs(earth.impedance(np.array([centre]))[0, 0, 1]) ** 2)
    noise_rng = rng if sc.noise_seed is None else np.random.default_rng([sc.seed, sc.noise_seed])
    white = lambda level: noise_rng.normal(scale=np.sqrt(level * rate / 2.0), size=n)  # noqa: E731
    data = {"ex": e[0] + white(noise_e), "ey": e[1] + white(noise_e), "hx": h[0] + white(noise_h)}
    data["hy"] = h[1] + white(noise_h)
    meta = {
        c: ChannelMeta(component=c, units="nT" if c.startswith("h") else "mV/km", azimuth_deg=90.0 * (c[1] == "y"))
        for c in data
    }
    name = f"DB01 {sc.earth} {sc.physics} {sc.sferic_rate_hz:g}/s {sc.noise_db:g} dB seed {sc.seed}"
    run = StationRun("DB01", "001", rate, _START, data, meta, source=f"synthetic {name}")
    station = Station(station="DB01", runs=[run], latitude_deg=0.0, longitude_deg=0.0, elevation_m=0.0, source=name)
    return DeadBandRecord(station, earth, labels, sc)
