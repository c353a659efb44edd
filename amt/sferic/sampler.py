"""The training sample source: a fresh, random, labelled window at every draw (the paper's strategy).

Each draw picks a random field (day or night, sferic rate, SNR range, storm geometry, noise mix,
powerline) from :class:`SamplerConfig`, synthesises a window a little longer than needed with
:func:`amt.synth.records.synthesize`, runs the augmentation chain, crops to ``window`` samples at a random
offset, and normalises (:mod:`amt.sferic.preprocess`). It is a :class:`shared.data.SampleSource`:
``source(rng) -> (x, y)`` with ``x`` float32 ``(channels, window)`` and ``y`` float32 ``(window,)``.

Label format (for mixing in labelled real windows): ``y`` is 1 on every sample inside a sferic's label
interval (5 %-95 % of its 1-10 kHz horizontal energy) and 0 elsewhere; ``x`` is the output of
:func:`amt.sferic.preprocess.normalise` on the magnetic channels named in ``channels``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from amt.sferic.augment import TimeShift, compose, default_chain
from amt.sferic.preprocess import normalise
from amt.synth.records import HELDOUT_MODELS, MAX_DISTANCE_KM, RATE_HZ, SFERIC_MODELS, FieldConfig, synthesize
from amt.synth.window import draw_window
from shared.errors import ConfigError

#: Channel name -> row of the synthetic ``h`` array.
CHANNEL_ROWS = {"hx": 0, "hy": 1, "hz": 2}


@dataclass(frozen=True)
class SamplerConfig:
    """Ranges the sample source draws from (each draw is uniform unless said otherwise).

    Parameters
    ----------
    window
        Samples per training window.
    channels
        Magnetic channels fed to the CNN, in order (``hx``, ``hy``, optionally ``hz``).
    snr_db
        Range of labelled-sferic SNRs, dB.
    strong_fraction
        Probability that a window's sferics draw their SNRs from ``strong_snr_db`` instead: nearby storms put
        sferics tens of dB above the noise, and a detector must find those too.
    strong_snr_db
        Range of SNRs of those windows, dB.
    synth_fraction
        Probability that a window comes from the project's full synthetic field instead
        (:func:`amt.synth.window.draw_window`: storms plus the global background of flashes from everywhere, whose
        far sferics the waveguide disperses over several ms); same label definition, don't-care samples count as
        background.
    distance_km
        Range of storm distances, km (uniform per storm), at most :data:`~amt.synth.records.MAX_DISTANCE_KM`.
    sferic_rate_hz
        Range of strong-sferic rates, per second (log-uniform).
    night_fraction
        Probability that a window is night-time.
    powerline_ratio
        Range of powerline amplitude over the band noise RMS (log-uniform).
    spike_rate_hz
        Range of spike rates, per second.
    deadband_fraction
        Probability that a window carries instrument noise filling the dead band (white noise in a band drawn
        inside ``deadband_hz``, ``deadband_db`` above the rest of the noise there; counted in the SNR's ``P_n``).
    deadband_db
        Range of that noise's level, dB.
    deadband_hz
        ``(lowest low edge, highest low edge, lowest high edge, highest high edge)`` of its band, Hz.
    coil_colour
        Range of the exponent ``a`` of the coil noise's ``1/f^a`` part (uniform); ``None``: 1 (pink) always.
    shapes, shape_fraction
        Further sferic shapes (:data:`amt.synth.records.SFERIC_MODELS`, never a held-out family) and the probability
        that a window's sferics take one of them (uniform) instead of the waveguide physics.
    augment
        Apply :func:`amt.sferic.augment.default_chain`.
    lead_in
        Extra samples synthesised before the window so the high-pass has settled (discarded).
    """

    window: int = 2048
    channels: tuple[str, ...] = ("hx", "hy")
    snr_db: tuple[float, float] = (-12.0, 20.0)
    strong_fraction: float = 0.0
    strong_snr_db: tuple[float, float] = (20.0, 60.0)
    synth_fraction: float = 0.0
    distance_km: tuple[float, float] = (300.0, 3000.0)
    sferic_rate_hz: tuple[float, float] = (0.5, 30.0)
    night_fraction: float = 0.5
    powerline_ratio: tuple[float, float] = (0.1, 30.0)
    spike_rate_hz: tuple[float, float] = (0.0, 5.0)
    deadband_fraction: float = 0.0
    deadband_db: tuple[float, float] = (0.0, 35.0)
    deadband_hz: tuple[float, float, float, float] = (700.0, 1_500.0, 3_500.0, 6_500.0)
    coil_colour: tuple[float, float] | None = None
    shapes: tuple[str, ...] = ()
    shape_fraction: float = 0.0
    augment: bool = True
    lead_in: int = 256

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "sampler config") -> SamplerConfig:
        """Build from parsed TOML/JSON, refusing unknown keys and bad channels."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {unknown}; known keys: {sorted(known)}")
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        cfg = cls(**d)
        bad = [c for c in cfg.channels if c not in CHANNEL_ROWS]
        if bad or cfg.channels[:2] != ("hx", "hy"):
            raise ConfigError(f"{source}: channels must start with hx, hy (then optionally hz), got {cfg.channels}")
        lo, hi = cfg.distance_km
        if not 0.0 < lo <= hi <= MAX_DISTANCE_KM:
            raise ConfigError(
                f"{source}: distance_km must satisfy 0 < low <= high <= {MAX_DISTANCE_KM:g} km, got {lo}, {hi}"
            )
        bad_shapes = [m for m in cfg.shapes if m not in SFERIC_MODELS or m in HELDOUT_MODELS or m == "waveguide"]
        if bad_shapes or (cfg.shape_fraction > 0 and not cfg.shapes):
            raise ConfigError(
                f"{source}: shapes must be training shapes of {[m for m in SFERIC_MODELS if m not in HELDOUT_MODELS]}"
                f" other than waveguide (held-out families {list(HELDOUT_MODELS)} are never trained on), given with"
                f" shape_fraction > 0; got {list(cfg.shapes)}"
            )
        for name in ("strong_fraction", "synth_fraction", "deadband_fraction", "shape_fraction"):
            if not 0.0 <= getattr(cfg, name) <= 1.0:
                raise ConfigError(f"{source}: {name} must lie in [0, 1], got {getattr(cfg, name)}")
        if cfg.window < 64 or cfg.lead_in < 0:
            raise ConfigError(f"{source}: window must be >= 64 and lead_in >= 0, got {cfg.window}, {cfg.lead_in}")
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


class SfericSource:
    """Draw ``(x, y)`` training windows; see the module docstring.

    Parameters
    ----------
    config
        :class:`SamplerConfig`.
    """

    def __init__(self, config: SamplerConfig) -> None:
        self.config = config
        self.rows = [CHANNEL_ROWS[c] for c in config.channels]
        chain = default_chain() if config.augment else []
        self.augment = compose([*chain, TimeShift(config.window + config.lead_in)])

    def field(self, rng: np.random.Generator) -> FieldConfig:
        """A random field for one window."""
        c = self.config
        night = bool(rng.random() < c.night_fraction)
        rate = _log_uniform(rng, *c.sferic_rate_hz)
        strong = c.strong_fraction > 0 and rng.random() < c.strong_fraction  # no draw when off: old runs replay
        extra: dict[str, Any] = {}
        if c.coil_colour is not None:
            extra["coil_colour"] = float(rng.uniform(*c.coil_colour))
        if c.deadband_fraction > 0 and rng.random() < c.deadband_fraction:
            e = c.deadband_hz
            extra["deadband_db"] = float(rng.uniform(*c.deadband_db))
            extra["deadband_hz"] = (float(rng.uniform(e[0], e[1])), float(rng.uniform(e[2], e[3])))
        if c.shape_fraction > 0 and rng.random() < c.shape_fraction:  # no draw when off: old runs replay
            extra["sferic_model"] = str(rng.choice(c.shapes))
        return FieldConfig(
            night=night,
            sferic_rate_hz=rate,
            snr_db=c.strong_snr_db if strong else c.snr_db,
            powerline_hz=float(rng.choice([50.0, 60.0])),
            powerline_ratio=_log_uniform(rng, *c.powerline_ratio),
            spike_rate_hz=float(rng.uniform(*c.spike_rate_hz)),
            drift_ratio=_log_uniform(rng, 0.1, 10.0),
            n_storms=int(rng.integers(1, 4)),
            distance_km=c.distance_km,
            **extra,
        )

    def __call__(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        c = self.config
        n = c.window + c.lead_in + c.window // 4  # room for the random crop
        if c.synth_fraction > 0 and rng.random() < c.synth_fraction:  # no draw when off: old runs replay
            h, y = _synth_window(n, rng)
        else:
            rec = synthesize(n, self.field(rng), rng)
            h, y = rec.h, rec.mask().astype(np.float32)
        s = self.augment({"h": h, "y": y, "rate_hz": RATE_HZ}, rng)
        x, _ = normalise(s["h"][self.rows], RATE_HZ)
        return x[:, c.lead_in :], s["y"][c.lead_in :]


def _synth_window(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A window of :func:`amt.synth.window.draw_window` as ``(h (3, n) with Hz zero, nT; labels (n,))``."""
    w = draw_window(n, RATE_HZ, rng)
    return np.vstack([w.h, np.zeros((1, n))]), w.sferic.astype(np.float32)
