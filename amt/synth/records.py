"""Labelled synthetic magnetic field for training and testing the sferic CNN.

The sferic CNN's records come from here (docs/acceptance.md#synthetic-labels-and-snr): where :mod:`amt.synth.field`
writes full stations (records, MTH5, counts), the CNN needs a fast draw of short labelled windows and long labelled
records of the magnetic channels, with its labels of the one label type :class:`amt.synth.labels.SfericLabel`
(``azimuth_deg`` the bearing, ``polarization_deg`` the H axis). The physics is the same in kind and deliberately
compact:

* Source: the Heidler/MTLE radiation spectrum of :func:`amt.synth.stroke.source_spectrum`.
* Earth-ionosphere waveguide (Budden, 1961, *The Waveguide Mode Theory of Wave Propagation*; Barr, Jones &
  Rodger, 2000, JASTP 62, 1689): the zero-order quasi-TEM mode with an attenuation ``alpha0(f)`` (dB/Mm)
  that peaks near the first-mode cutoff ``fc = c / 2h`` (the dead band, h = 70 km by day, 88 km by
  night), plus the first TE/TM mode above ``fc`` with the dispersive wavenumber
  ``k1 = (2 pi f / c) sqrt(1 - (fc / f)^2)`` and attenuation ``alpha1 / sqrt(1 - (fc / f)^2)``, which gives
  night-time tweeks.
* Geometry: sources cluster in 1-3 storms (bearing, range); the horizontal H of a vertical stroke is
  perpendicular to the bearing, so its polarisation azimuth is ``bearing + 90`` (mod 180).
* Noise: coil self-noise (white plus a 1/f^a part), the background of many weak distant sferics (global rate
  ~50 per second, each below the -20 dB label threshold), 50/60 Hz powerline with odd harmonics, slow
  drift, rare spikes, and optionally instrument noise filling the dead band (white noise in a band such as
  1-5 kHz, a set number of dB above the natural field there), where the natural signal is weakest.

Sferic families (``FieldConfig.sferic_model``): ``"waveguide"`` (above; the training family), and two held-out
families that training never draws from: ``"damped"`` (damped sinusoids with a downward frequency glide) and
``"modes"`` (ideal, lossless waveguide modes 1-3 with equal excitation, the mode factor ``sqrt(S_n)`` of Wait
(1962) and a small quasi-TEM part, ionosphere height 65-95 km per sferic: dispersion without the attenuation model).
Three further shapes widen the training family (``"burst"``, ``"ricker"``, ``"tweek"``: the waveforms of the
dead-band test records, :func:`amt.synth.deadband_records.sferic_waveform`, red Gaussian bursts, Ricker pulses with
a slow tail, and tweeks); training may draw them, the held-out families stay ``"damped"`` and ``"modes"``.

Labels and SNR follow docs/acceptance.md#synthetic-labels-and-snr exactly: a sferic's label interval is where its
noise-free horizontal H energy in 1-10 kHz passes 5 % and 95 % of its cumulative value;
``SNR = 10 log10(E_s / (P_n T_s))`` with ``E_s`` that energy (nT^2 s), ``T_s`` the interval length (s) and
``P_n`` the noise power in the same band (nT^2, background sferics included). Each labelled sferic is
scaled to its drawn SNR, so the SNR of every label is exact. Sferics below -20 dB are "don't care".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.fft
from obspy import UTCDateTime

from amt.record import ChannelMeta, StationRun
from amt.synth.deadband_records import PHYSICS, sferic_waveform
from amt.synth.earth import LayeredEarth
from amt.synth.labels import SfericLabel
from amt.synth.stroke import C_LIGHT, source_spectrum
from amt.synth.waveguide import EARTH_RADIUS_M

#: Sampling rate of the sferic CNN's training data, Hz.
RATE_HZ = 24_000.0
#: Band in which label energy and SNR are measured, Hz (docs/acceptance.md#synthetic-labels-and-snr).
LABEL_BAND_HZ = (1_000.0, 10_000.0)
#: Fractions of cumulative band energy that bound a label interval.
LABEL_FRACTIONS = (0.05, 0.95)
#: Below this SNR (dB) a sferic is neither a hit nor a miss.
DONT_CARE_DB = -20.0
#: Ionosphere reflection heights by day and by night, m (Budden, 1961; Barr et al., 2000).
HEIGHT_DAY_M, HEIGHT_NIGHT_M = 70e3, 88e3
#: Farthest source distance drawn, km (short of the antipode, where the spreading factor diverges).
MAX_DISTANCE_KM = 19_000.0
#: Samples of one synthesised sferic waveform (171 ms at 24 kHz) and its arrival offset inside it.
WAVE_SAMPLES, WAVE_ONSET = 4096, 96


@dataclass(frozen=True)
class FieldConfig:
    """What a synthetic record contains.

    Parameters
    ----------
    rate_hz
        Sampling rate, Hz.
    night
        Night-time ionosphere (higher, less lossy, tweeks).
    sferic_rate_hz
        Mean rate of labelled ("strong") sferics, per second (Poisson).
    snr_db
        SNR of every labelled sferic, dB; a pair ``(lo, hi)`` draws each uniformly.
    background_rate_hz
        Rate of weak distant sferics that form part of the noise, per second.
    background_snr_db
        Range of their SNRs, dB: below the -20 dB label threshold, so they count as noise.
    powerline_hz
        50 or 60 (Hz); ``None`` draws one.
    powerline_ratio
        Powerline fundamental amplitude over the band noise RMS.
    spike_rate_hz
        Rate of single-sample spikes, per second.
    drift_ratio
        Slow drift amplitude over the band noise RMS.
    n_storms
        Number of storm centres; sources scatter around them.
    distance_km
        Range of storm distances, km.
    sferic_model
        ``"waveguide"`` (the physics above), the training shapes ``"burst"``, ``"ricker"`` and ``"tweek"``
        (module notes), or the held-out families ``"damped"`` (damped sinusoid bursts with dispersion) and
        ``"modes"`` (lossless modes 1-3 plus a small quasi-TEM part), used only to test.
    coil_colour
        Exponent ``a`` of the coil noise's ``1/f^a`` part (1: pink).
    deadband_db
        Instrument noise filling ``deadband_hz``: white noise band-limited there, this many dB above the power
        of the rest of the noise in that band; ``None``: none.
    deadband_hz
        Band of that noise, Hz.
    """

    rate_hz: float = RATE_HZ
    night: bool = False
    sferic_rate_hz: float = 2.0
    snr_db: float | tuple[float, float] = 0.0
    background_rate_hz: float = 50.0
    background_snr_db: tuple[float, float] = (-40.0, -20.0)
    powerline_hz: float | None = 50.0
    powerline_ratio: float = 3.0
    spike_rate_hz: float = 0.0
    drift_ratio: float = 1.0
    n_storms: int = 2
    distance_km: tuple[float, float] = (300.0, 3000.0)
    sferic_model: str = "waveguide"
    coil_colour: float = 1.0
    deadband_db: float | None = None
    deadband_hz: tuple[float, float] = (1_000.0, 5_000.0)


#: Sferic families of :func:`sferic_waveforms`.
SFERIC_MODELS = ("waveguide", "damped", "modes", "burst", "ricker", "tweek")
#: The held-out families among them (never drawn by training).
HELDOUT_MODELS = ("damped", "modes")


@dataclass
class SynthRecord:
    """Magnetic channels with their truth.

    Attributes
    ----------
    h : numpy.ndarray
        ``(3, n)`` Hx, Hy, Hz in nT.
    labels : list of amt.synth.labels.SfericLabel
        Labelled sferics (intervals clipped to the record; no station, run or absolute time).
    noise_power_nt2 : float
        ``P_n``: horizontal noise power in the label band, nT^2.
    config : FieldConfig
        What was drawn.
    spikes : numpy.ndarray
        Sample indices of the spikes.
    waveforms : list of (int, numpy.ndarray)
        Per label, in the same order: the first sample of its noise-free waveform in the record (negative
        when it starts before) and the waveform, ``(2, WAVE_SAMPLES)`` Hx, Hy in nT, as added to ``h``.
    """

    h: np.ndarray
    labels: list[SfericLabel]
    noise_power_nt2: float
    config: FieldConfig
    spikes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    waveforms: list[tuple[int, np.ndarray]] = field(default_factory=list)

    @property
    def n_samples(self) -> int:
        return self.h.shape[1]

    def mask(self) -> np.ndarray:
        """Per-sample label: True inside a labelled sferic's interval (care or not)."""
        m = np.zeros(self.n_samples, dtype=bool)
        for lab in self.labels:
            m[lab.start_index : lab.end_index] = True
        return m

    def care_mask(self) -> np.ndarray:
        """Per-sample weight: False inside the intervals of don't-care sferics (below -20 dB)."""
        m = np.ones(self.n_samples, dtype=bool)
        for lab in self.labels:
            if lab.dont_care:
                m[lab.start_index : lab.end_index] = False
        return m

    def signal(self) -> np.ndarray:
        """``(2, n)`` noise-free Hx, Hy of the labelled sferics, nT (``h[:2]`` minus this is their noise)."""
        out = np.zeros((2, self.n_samples))
        for s, wave in self.waveforms:
            a0, a1 = max(s, 0), min(s + wave.shape[1], self.n_samples)
            if a1 > a0:
                out[:, a0:a1] += wave[:, a0 - s : a1 - s]
        return out


def mode_attenuation_db_per_mm(freq_hz: np.ndarray, night: bool, order: int) -> np.ndarray:
    """Attenuation of waveguide mode ``order`` (0: quasi-TEM; n >= 1: TE/TM n), dB per 1000 km.

    ``alpha0`` is 1-2 dB/Mm at ELF and VLF with a peak of 8-15 dB/Mm around 0.9 ``fc`` (the dead band;
    Barr et al., 2000, Fig. 4); ``alpha_n = n a1 / sqrt(1 - (n fc / f)^2)`` above the cutoff ``n fc``
    (infinite below), ``fc = c / 2h`` (Budden, 1961).
    """
    f = np.maximum(np.asarray(freq_hz, dtype=float), 1.0)
    fc = C_LIGHT / (2 * (HEIGHT_NIGHT_M if night else HEIGHT_DAY_M))
    base, bump, a1 = (1.0, 8.0, 1.5) if night else (2.0, 15.0, 3.0)
    if order == 0:
        return base + bump * np.exp(-0.5 * (np.log(f / (0.9 * fc)) / 0.35) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(f > order * fc, order * a1 / np.sqrt(np.clip(1 - (order * fc / f) ** 2, 1e-12, None)), np.inf)


#: Relative excitation of modes 1, 2, 3 by a ground-level vertical stroke, day and night.
MODE_EXCITATION = {False: (0.6, 0.4, 0.25), True: (0.9, 0.6, 0.4)}


def waveguide_transfer(freq_hz: np.ndarray, distance_m: np.ndarray, night: bool) -> np.ndarray:
    """Mode sum ``G(f, d)`` replacing ``exp(-i k d) / d``, relative to a speed-of-light arrival.

    Mode ``n`` propagates with ``k_n = (2 pi f / c) sqrt(1 - (n fc / f)^2)``; the interference of the
    dispersive modes 1-3 with the quasi-TEM mode spreads a sferic over milliseconds, and mode 1 near
    its cutoff makes the night-time tweek.

    Returns
    -------
    numpy.ndarray
        Complex, shape ``(len(distance_m), len(freq_hz))``, in 1/m.
    """
    f = np.maximum(np.asarray(freq_hz, dtype=float), 1.0)[None, :]
    d = np.asarray(distance_m, dtype=float)[:, None]
    h = HEIGHT_NIGHT_M if night else HEIGHT_DAY_M
    fc = C_LIGHT / (2 * h)
    k0 = 2 * np.pi * f / C_LIGHT
    spread = 1.0 / np.sqrt(h * EARTH_RADIUS_M * np.sin(d / EARTH_RADIUS_M))
    total = 10 ** (-mode_attenuation_db_per_mm(f, night, 0) * d / 2e7) + 0j
    for n, excite in enumerate(MODE_EXCITATION[night], start=1):
        alpha = np.minimum(mode_attenuation_db_per_mm(f, night, n), 1e6)
        kn = k0 * np.sqrt(np.clip(1 - (n * fc / f) ** 2, 0.0, None))
        total = total + np.where(f > n * fc, excite * 10 ** (-alpha * d / 2e7), 0.0) * np.exp(-1j * (kn - k0) * d)
    return spread * total


def _damped_waveforms(n: int, rate_hz: float, rng: np.random.Generator) -> np.ndarray:
    """Damped sinusoid bursts whose frequency glides down (dispersion): a second, simpler sferic model."""
    t = np.arange(WAVE_SAMPLES - WAVE_ONSET) / rate_hz
    f0 = rng.uniform(5e3, 9e3, n)[:, None]
    f1 = rng.uniform(2e3, 4e3, n)[:, None]
    glide = rng.uniform(0.5e-3, 3e-3, n)[:, None]
    tau = rng.uniform(0.3e-3, 1.5e-3, n)[:, None]
    freq = f1 + (f0 - f1) * np.exp(-t / glide)
    phase = 2 * np.pi * np.cumsum(freq, axis=1) / rate_hz
    out = np.zeros((n, WAVE_SAMPLES))
    out[:, WAVE_ONSET:] = np.exp(-t / tau) * np.sin(phase)
    return out


def _mode_waveforms(distance_m: np.ndarray, rate_hz: float, rng: np.random.Generator) -> np.ndarray:
    """Lossless waveguide modes 1-3 plus a small quasi-TEM part, unit-free spectra of the ``"modes"`` family.

    Mode ``n`` has ``S_n = sqrt(1 - (n fc / f)^2)`` above its cutoff ``n fc`` (``fc = c / 2h``, h drawn in
    65-95 km per sferic), wavenumber ``k S_n`` and amplitude ``sqrt(S_n)`` (Wait, 1962, ch. 8); the quasi-TEM
    part has 5-30 % of a mode's amplitude; no attenuation but the geometric ``1 / sqrt(d)``.
    """
    n = len(distance_m)
    freq = scipy.fft.rfftfreq(WAVE_SAMPLES, 1.0 / rate_hz)
    f = np.maximum(freq, 1.0)[None, :]
    d = np.asarray(distance_m, dtype=float)[:, None]
    fc = C_LIGHT / (2 * rng.uniform(65e3, 95e3, n))[:, None]
    k0 = 2 * np.pi * f / C_LIGHT
    total = rng.uniform(0.05, 0.3, n)[:, None] + 0j
    for order in (1, 2, 3):
        s_n = np.sqrt(np.clip(1 - (order * fc / f) ** 2, 0.0, None))
        total = total + np.sqrt(s_n) * np.exp(-1j * k0 * (s_n - 1) * d)
    spec = source_spectrum(freq)[None, :] * total / np.sqrt(d) * rate_hz
    spec = spec * np.exp(-2j * np.pi * freq[None, :] * WAVE_ONSET / rate_hz)
    spec[:, 0] = 0.0
    return scipy.fft.irfft(spec, n=WAVE_SAMPLES, axis=1)


def sferic_waveforms(
    distance_m: np.ndarray, night: bool, rate_hz: float, model: str, rng: np.random.Generator
) -> np.ndarray:
    """Noise-free horizontal-field waveforms (unit polarisation) of sferics at ``distance_m``.

    Returns
    -------
    numpy.ndarray
        ``(n, WAVE_SAMPLES)``, nT for a 1 A stroke (``"waveguide"``) or arbitrary units (the others);
        the speed-of-light arrival is at sample ``WAVE_ONSET``.
    """
    n = len(distance_m)
    if model == "damped":
        return _damped_waveforms(n, rate_hz, rng)
    if model == "modes":
        return _mode_waveforms(distance_m, rate_hz, rng)
    if model in PHYSICS:
        out = np.zeros((n, WAVE_SAMPLES))
        for k in range(n):
            w = sferic_waveform(model, rate_hz, rng)[: WAVE_SAMPLES - WAVE_ONSET]
            out[k, WAVE_ONSET : WAVE_ONSET + len(w)] = w
        return out
    if model != "waveguide":
        raise ValueError(f"unknown sferic model {model!r}; use one of {SFERIC_MODELS}")
    freq = scipy.fft.rfftfreq(WAVE_SAMPLES, 1.0 / rate_hz)
    spec = source_spectrum(freq)[None, :] * waveguide_transfer(freq, distance_m, night) * rate_hz
    spec = spec * np.exp(-2j * np.pi * freq[None, :] * WAVE_ONSET / rate_hz)
    spec[:, 0] = 0.0
    return scipy.fft.irfft(spec, n=WAVE_SAMPLES, axis=1)


def band_limit(x: np.ndarray, rate_hz: float, band_hz: tuple[float, float] = LABEL_BAND_HZ) -> np.ndarray:
    """Zero-phase ideal band-pass along the last axis by FFT masking."""
    n = x.shape[-1]
    freq = scipy.fft.rfftfreq(n, 1.0 / rate_hz)
    spec = scipy.fft.rfft(x, axis=-1)
    spec[..., (freq < band_hz[0]) | (freq > band_hz[1])] = 0.0
    return scipy.fft.irfft(spec, n=n, axis=-1)


def label_interval(wave_band: np.ndarray, rate_hz: float) -> tuple[int, int, float]:
    """5 %-95 % cumulative-energy interval ``[i0, i1)`` of a band-limited waveform and its energy (nT^2 s)."""
    energy = np.cumsum(wave_band**2)
    total = energy[-1]
    i0 = int(np.searchsorted(energy, LABEL_FRACTIONS[0] * total))
    i1 = int(np.searchsorted(energy, LABEL_FRACTIONS[1] * total)) + 1
    return i0, max(i1, i0 + 1), float(total / rate_hz)


def _coloured_noise(n: int, rng: np.random.Generator, rate_hz: float, colour: float = 1.0) -> np.ndarray:
    """Coil self-noise for Hx, Hy, Hz: white plus a ``1/f^colour`` part (unit scale), shape ``(3, n)``."""
    white = rng.standard_normal((3, n))
    freq = scipy.fft.rfftfreq(n, 1.0 / rate_hz)
    pink = scipy.fft.rfft(rng.standard_normal((3, n)), axis=1) * (300.0 / np.maximum(freq, 5.0)) ** (colour / 2)
    return white + scipy.fft.irfft(pink, n=n, axis=1)


def _place(out: np.ndarray, waves: np.ndarray, onsets: np.ndarray, pol_rad: np.ndarray, scale: np.ndarray) -> None:
    """Add ``scale * wave`` along polarisation ``pol_rad`` into ``out[0:2]`` at sample ``onsets - WAVE_ONSET``."""
    n = out.shape[1]
    for w, t0, pol, a in zip(waves, onsets, pol_rad, scale, strict=True):
        s = int(t0) - WAVE_ONSET
        a0, a1 = max(s, 0), min(s + WAVE_SAMPLES, n)
        if a1 <= a0:
            continue
        seg = a * w[a0 - s : a1 - s]
        out[0, a0:a1] += np.cos(pol) * seg
        out[1, a0:a1] += np.sin(pol) * seg


def _storms(cfg: FieldConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    bearings = rng.uniform(0.0, 360.0, cfg.n_storms)
    ranges = rng.uniform(*cfg.distance_km, cfg.n_storms)
    return bearings, ranges


def _scale_to_snr(waves: np.ndarray, snr_db: np.ndarray, p_n: float, rate_hz: float) -> tuple[np.ndarray, list]:
    """Amplitude factors giving each waveform ``snr_db`` against noise power ``p_n``, and its label interval."""
    bands = band_limit(waves, rate_hz)
    scale, spans = np.empty(len(waves)), []
    for k in range(len(waves)):
        i0, i1, e_s = label_interval(bands[k], rate_hz)
        scale[k] = np.sqrt(10 ** (snr_db[k] / 10) * p_n * (i1 - i0) / rate_hz / e_s)
        spans.append((i0, i1))
    return scale, spans


def _noise(n: int, cfg: FieldConfig, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Noise channels ``(3, n)`` in nT and their horizontal band power ``P_n`` (about 1 nT^2).

    Coil noise is scaled to 1 nT^2 in the band; each background sferic gets an SNR drawn in
    ``cfg.background_snr_db`` (below the -20 dB label threshold, so it is noise by definition).
    """
    rate = cfg.rate_hz

    def band_power(x: np.ndarray) -> float:
        xb = band_limit(x[:2], rate)
        return float(np.mean(xb[0] ** 2 + xb[1] ** 2))

    coil = _coloured_noise(n, rng, rate, cfg.coil_colour)
    noise = coil / np.sqrt(band_power(coil))
    n_bg = rng.poisson(cfg.background_rate_hz * (n + WAVE_SAMPLES) / rate)
    if n_bg:
        waves = sferic_waveforms(rng.uniform(3e6, 12e6, n_bg), cfg.night, rate, "waveguide", rng)
        scale, _ = _scale_to_snr(waves, rng.uniform(*cfg.background_snr_db, n_bg), 1.0, rate)
        _place(noise, waves, rng.integers(-WAVE_SAMPLES, n, n_bg), rng.uniform(0, 2 * np.pi, n_bg), scale)
    t = np.arange(n) / rate
    line = cfg.powerline_hz or float(rng.choice([50.0, 60.0]))
    for k in range(1, 20, 2):  # odd harmonics, amplitude falling as 1/k
        phase = rng.uniform(0, 2 * np.pi, 3)
        noise += (cfg.powerline_ratio / k) * np.sin(2 * np.pi * k * line * t + phase[:, None])
    slow = rng.uniform(0.05, 0.5)
    noise += cfg.drift_ratio * np.sin(2 * np.pi * slow * t + rng.uniform(0, 2 * np.pi, 3)[:, None])
    if cfg.deadband_db is not None:  # no draw when off: earlier records replay
        band = cfg.deadband_hz
        natural = float(np.mean(np.sum(band_limit(noise[:2], rate, band) ** 2, axis=0)))
        white = band_limit(rng.standard_normal((3, n)), rate, band)
        white *= np.sqrt(10 ** (cfg.deadband_db / 10) * natural / float(np.mean(np.sum(white[:2] ** 2, axis=0))))
        noise += white
    return noise, band_power(noise)


def synthesize(n_samples: int, cfg: FieldConfig, rng: np.random.Generator) -> SynthRecord:
    """Draw a labelled record of ``n_samples`` samples of Hx, Hy, Hz.

    Parameters
    ----------
    n_samples
        Record length in samples.
    cfg
        What to draw (:class:`FieldConfig`).
    rng
        NumPy generator; the record is a pure function of its state.

    Returns
    -------
    SynthRecord
        Channels in nT, labels with exact SNRs, and ``P_n``.
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    rate = cfg.rate_hz
    noise, p_n = _noise(n_samples, cfg, rng)
    n_s = rng.poisson(cfg.sferic_rate_hz * n_samples / rate)
    labelled: list[tuple[SfericLabel, tuple[int, np.ndarray]]] = []
    spikes = np.zeros(0, dtype=np.int64)
    if n_s:
        bearings, ranges = _storms(cfg, rng)
        storm = rng.integers(0, cfg.n_storms, n_s)
        bearing = bearings[storm] + rng.normal(0.0, 5.0, n_s)
        # the spreading factor 1 / sqrt(sin(d / R)) holds short of the antipode (pi R = 20,015 km)
        dist_km = np.clip(ranges[storm] * rng.normal(1.0, 0.1, n_s), 100.0, MAX_DISTANCE_KM)
        waves = sferic_waveforms(dist_km * 1e3, cfg.night, rate, cfg.sferic_model, rng)
        waves *= rng.choice([-1.0, 1.0], n_s)[:, None]  # stroke polarity
        onsets = rng.integers(-WAVE_SAMPLES // 8, n_samples, n_s)
        lo, hi = (cfg.snr_db, cfg.snr_db) if np.ndim(cfg.snr_db) == 0 else cfg.snr_db
        snr = rng.uniform(lo, hi, n_s)
        pol = np.deg2rad(bearing + 90.0)
        scale, spans = _scale_to_snr(waves, snr, p_n, rate)
        for k, (i0, i1) in enumerate(spans):
            pk = int(np.argmax(np.abs(waves[k])))
            s = int(onsets[k]) - WAVE_ONSET
            a, b = max(s + i0, 0), min(s + i1, n_samples)
            if b > a:
                wave = scale[k] * waves[k] * np.array([[np.cos(pol[k])], [np.sin(pol[k])]])
                label = SfericLabel(
                    flash=k,
                    start_index=a,
                    end_index=b,
                    peak_index=s + pk,
                    amplitude_nt=float(scale[k] * abs(waves[k, pk])),
                    polarization_deg=float(np.rad2deg(pol[k]) % 180.0),
                    distance_km=float(dist_km[k]),
                    azimuth_deg=float(bearing[k] % 360.0),
                    storm_id=int(storm[k]),
                    energy_nt2_s=float(10 ** (snr[k] / 10) * p_n * (i1 - i0) / rate),  # the E_s of the drawn SNR
                    snr_db=float(snr[k]),
                    dont_care=bool(snr[k] < DONT_CARE_DB),
                )
                labelled.append((label, (s, wave)))
        _place(noise, waves, onsets, pol, scale)
        labelled.sort(key=lambda pair: pair[0].start_index)
    if cfg.spike_rate_hz > 0:
        spikes = np.flatnonzero(rng.random(n_samples) < cfg.spike_rate_hz / rate)
        noise[:, spikes] += rng.choice([-1, 1], (3, len(spikes))) * rng.uniform(20, 200, (3, len(spikes)))
    return SynthRecord(
        h=noise,
        labels=[lab for lab, _ in labelled],
        noise_power_nt2=p_n,
        config=cfg,
        spikes=spikes,
        waveforms=[w for _, w in labelled],
    )


def to_run(
    rec: SynthRecord, start: str = "2026-01-01T00:00:00", station: str = "SYN", rho_ohm_m: float = 100.0
) -> StationRun:
    """A five-channel :class:`~amt.record.StationRun` of a record: E from ``E = Z H`` over a half-space.

    The electric channels (mV/km) follow from the magnetic ones (nT) through the half-space impedance of
    :class:`amt.synth.earth.LayeredEarth`, ``Ex = Zxy Hy``, ``Ey = Zyx Hx``, in the frequency domain.
    """
    rate = rec.config.rate_hz
    freq = scipy.fft.rfftfreq(rec.n_samples, 1.0 / rate)
    z = LayeredEarth((rho_ohm_m,)).impedance(freq)
    hx, hy = scipy.fft.rfft(rec.h[0]), scipy.fft.rfft(rec.h[1])
    ex = scipy.fft.irfft(z[:, 0, 1] * hy, n=rec.n_samples)
    ey = scipy.fft.irfft(z[:, 1, 0] * hx, n=rec.n_samples)
    data = {"ex": ex, "ey": ey, "hx": rec.h[0], "hy": rec.h[1], "hz": rec.h[2]}
    meta = {
        c: ChannelMeta(
            component=c,
            units="mV/km" if c.startswith("e") else "nT",
            azimuth_deg=90.0 if c in ("ey", "hy") else 0.0,
            tilt_deg=90.0 if c == "hz" else 0.0,
        )
        for c in data
    }
    return StationRun(
        station=station,
        run="001",
        sample_rate_hz=rate,
        start=UTCDateTime(start),
        data=data,
        meta=meta,
        source=f"synthetic {station}",
    )
