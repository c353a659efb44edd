"""Shared small synthetic records (generated once per test session)."""

from __future__ import annotations

import numpy as np
import pytest

from amt.calibration.instrument import remove_response
from amt.record import StationRun
from amt.synth import QUIET, NoiseModel, Site, Storm, SynthConfig, generate, parse_earth

#: Three storms at fixed bearings and distances, so the tests do not depend on the storm draw.
STORMS = (Storm(30.0, 800.0, 50.0), Storm(150.0, 1500.0, 50.0), Storm(260.0, 2500.0, 50.0))
LAYERS = parse_earth("layers:100,1000,10/30,200")


def white_coil_noise(h_floor_nt: float) -> NoiseModel:
    """Coil self-noise only: ``h_floor_nt`` nT/sqrt(Hz), white above 1 Hz; no electrode noise, mains, spikes, drift."""
    return NoiseModel(
        h_floor_nt=h_floor_nt,
        h_corner_hz=1.0,
        e_floor_mv_km=0.0,
        powerline_h_nt=0.0,
        powerline_e_mv_km=0.0,
        spike_rate_hz=0.0,
        drift_h_nt=0.0,
        drift_e_mv_km=0.0,
    )


def config(**kw) -> SynthConfig:
    base = {"duration_s": 3.0, "sferic_rate_hz": 20.0, "storms": STORMS, "seed": 5}
    base.update(kw)
    return SynthConfig(**base)


@pytest.fixture(scope="session")
def layered():
    """3 s at 24 kHz over a three-layer earth, default noise."""
    return generate(config(sites=(Site(earth=LAYERS),)))


@pytest.fixture(scope="session")
def layered_quiet():
    """The same sources without any noise (same seed: identical sferic samples)."""
    return generate(config(sites=(Site(earth=LAYERS, noise=QUIET),)))


@pytest.fixture(scope="session")
def layered_counts():
    """The same record in raw counts."""
    return generate(config(sites=(Site(earth=LAYERS),), counts=True))


def calibrated(run: StationRun) -> dict[str, np.ndarray]:
    """Remove each channel's stated response, keeping 50 Hz-11 kHz (the coil passes no DC)."""
    return {
        c: remove_response(run.data[c], run.sample_rate_hz, run.meta[c].response, band_hz=(50.0, 11e3))
        for c in run.channels
    }
