"""Fast random training windows for the sferic detector: H (and E) samples with per-sample labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from amt.synth.earth import Earth, LayeredEarth
from amt.synth.field import FieldGenerator, Site, SynthConfig
from amt.synth.labels import SfericLabel, masks
from amt.synth.noise import NoiseModel
from amt.synth.storms import GLOBAL_FLASH_RATE_HZ


@dataclass
class Window:
    """One synthetic window.

    Attributes
    ----------
    h
        ``(2, n)`` hx, hy in nT.
    e
        ``(2, n)`` ex, ey in mV/km.
    sferic
        ``(n,)`` bool: inside the label interval of a sferic with SNR >= -20 dB.
    dont_care
        ``(n,)`` bool: inside the interval of a listed sferic below -20 dB.
    labels
        The sferics (sample indices of this window).
    rate_hz
        Sample rate, Hz.
    night
        Waveguide conditions used.
    noise_power_nt2
        P_n of the SNR definition, nT^2.
    """

    h: np.ndarray
    e: np.ndarray
    sferic: np.ndarray
    dont_care: np.ndarray
    labels: list[SfericLabel]
    rate_hz: float
    night: bool
    noise_power_nt2: float


def draw_window(
    n_samples: int,
    rate_hz: float,
    rng: np.random.Generator,
    *,
    sferic_rate_hz: tuple[float, float] = (1.0, 30.0),
    background_rate_hz: float = GLOBAL_FLASH_RATE_HZ,
    noise_scale: tuple[float, float] = (0.3, 30.0),
    night: bool | None = None,
    earth: Earth | None = None,
) -> Window:
    """Draw a random window: random storms, day or night, storm rate and noise level within ranges.

    Parameters
    ----------
    n_samples
        Window length in samples.
    rate_hz
        Sample rate in Hz (e.g. 24000).
    rng
        Source of randomness; the window is a deterministic function of its state.
    sferic_rate_hz
        Range (log-uniform) of the storm flash rate, flashes/s.
    background_rate_hz
        Global background flash rate, flashes/s.
    noise_scale
        Range (log-uniform) of the factor on :class:`~amt.synth.noise.NoiseModel` levels.
    night
        Fix day (False) or night (True); ``None`` draws it.
    earth
        True earth; default a half-space of 10-1000 ohm-m (log-uniform).

    Returns
    -------
    Window
    """
    if earth is None:
        earth = LayeredEarth((float(np.exp(rng.uniform(np.log(10.0), np.log(1000.0)))),))
    lo, hi = sferic_rate_hz
    nlo, nhi = noise_scale
    config = SynthConfig(
        duration_s=n_samples / rate_hz,
        rate_hz=rate_hz,
        sferic_rate_hz=float(np.exp(rng.uniform(np.log(lo), np.log(hi)))),
        background_rate_hz=background_rate_hz,
        night=bool(rng.integers(2)) if night is None else night,
        sites=(Site(earth=earth, noise=NoiseModel().scaled(float(np.exp(rng.uniform(np.log(nlo), np.log(nhi)))))),),
        seed=int(rng.integers(2**62)),
        chunk_s=n_samples / rate_hz,
    )
    gen = FieldGenerator(config, channels=("ex", "ey", "hx", "hy"))
    span = gen.spans[0]
    _, data = next(iter(gen.iter_chunks(span, 0)))
    labels, p_n = gen.labels(0, span)
    sferic, dont_care = masks(labels, n_samples)
    return Window(data[2:4], data[0:2], sferic, dont_care, labels, rate_hz, config.night, p_n)
