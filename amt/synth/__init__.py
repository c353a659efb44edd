"""Synthetic AMT records with known truth: distant-lightning sources, waveguide dead band, sensors, stations.

Public API
----------
- :func:`generate` (``SynthConfig -> Synthesis``): stations (:class:`amt.record.Station`) and labels.
- :func:`draw_window`: a fast random training window (H, E, per-sample masks, labels).
- :func:`parse_earth`: ``halfspace:100``, ``layers:100,1000,10/30,200``, ``edi:PATH``.
- :class:`SynthConfig`, :class:`Site`, :class:`NoiseModel`, :class:`Storm`, :class:`SynthError`.
"""

from amt.synth.earth import LayeredEarth, MeasuredEarth, parse_earth
from amt.synth.errors import SynthError
from amt.synth.field import FieldGenerator, Site, SynthConfig, Synthesis, generate
from amt.synth.labels import SfericLabel, masks
from amt.synth.noise import QUIET, QUIET_SITE_NO_POWERLINE, NoiseModel
from amt.synth.storms import Storm
from amt.synth.window import Window, draw_window

__all__ = [
    "QUIET",
    "QUIET_SITE_NO_POWERLINE",
    "FieldGenerator",
    "LayeredEarth",
    "MeasuredEarth",
    "NoiseModel",
    "SfericLabel",
    "Site",
    "Storm",
    "SynthConfig",
    "SynthError",
    "Synthesis",
    "Window",
    "draw_window",
    "generate",
    "masks",
    "parse_earth",
]
