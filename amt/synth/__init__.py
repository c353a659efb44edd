"""Synthetic AMT records with known truth: distant-lightning sources, waveguide dead band, sensors, stations.

Public API
----------
- :func:`generate` (``SynthConfig -> Synthesis``): stations (:class:`amt.record.Station`) and labels.
- :func:`draw_window`: a fast random training window (H, E, per-sample masks, labels).
- :func:`parse_earth`: ``halfspace:100``, ``layers:100,1000,10/30,200``, ``edi:PATH``.
- :class:`SynthConfig`, :class:`Site`, :class:`NoiseModel`, :class:`Storm`, :class:`SynthError`.
"""

import importlib

#: Public name -> module defining it; imported on first use (PEP 562), so that ``amt --help`` and the modules that
#: need only one part (errors, labels) do not load the generator and scipy.signal.
_WHERE = {
    "LayeredEarth": "earth", "MeasuredEarth": "earth", "parse_earth": "earth", "SynthError": "errors",
    "FieldGenerator": "field", "Site": "field", "SynthConfig": "field", "Synthesis": "field", "generate": "field",
    "SfericLabel": "labels", "masks": "labels", "QUIET": "noise", "QUIET_SITE_NO_POWERLINE": "noise",
    "NoiseModel": "noise", "Storm": "storms", "Window": "window", "draw_window": "window",
}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"amt.synth.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'amt.synth' has no attribute {name!r}")


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


def __dir__() -> list[str]:
    return sorted(__all__)
