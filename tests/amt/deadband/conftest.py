"""Small synthetic daytime records over a measured earth, in raw counts, with their truth.

Every setting is stated here, and each test names the record it uses:

* 4 s at 24 kHz, day-time waveguide (h = 70 km, first cutoff ``c / 2h`` = 2.14 kHz), seed 3;
* storm flashes 20/s (2/s in the sparse record) from storm centres 1000 km away (radius 50 km) at bearings 30
  and 90 degrees (two storms, 60 degrees apart) or at 30 degrees only (one storm); global background 50
  flashes/s from everywhere;
* earth: the measured impedance of ``tf_edi_quantec.edi`` (``shared.paths.data_root()``);
* noise (:class:`amt.synth.NoiseModel`): coil self-noise 2e-6 nT/sqrt(Hz) white above a 100 Hz corner, electrode
  noise 2e-4 (mV/km)/sqrt(Hz) above 10 Hz, on each channel independently; no powerline (its harmonics, E/H = 50
  mV/km/nT at every frequency, would be a second coherent source); spikes 0.05/s (0.5 nT on H, 5 mV/km on E);
  drift 1 nT and 10 mV/km;
* written as raw counts through the stated recording chain of :func:`amt.synth.sensors.channel_response`
  (coil 0.3 V/nT or 50 m dipole x10, 4-pole anti-alias at 0.4 fs, 24-bit ADC, multiplexing delay).
"""

from __future__ import annotations

import numpy as np
import pytest

from amt.deadband import detect_events, events_from_labels
from amt.synth import QUIET_SITE_NO_POWERLINE, Site, Storm, SynthConfig, generate, parse_earth
from amt.transfer import process_station
from shared.paths import data_root

EDI = data_root() / "amt" / "transfer_functions" / "tf_edi_quantec.edi"
NOISE = QUIET_SITE_NO_POWERLINE  # the noise stated in the module docstring
TWO_STORMS = (Storm(azimuth_deg=30.0, distance_km=1000.0, radius_km=50.0), Storm(90.0, 1000.0, 50.0))
ONE_STORM = (Storm(azimuth_deg=30.0, distance_km=1000.0, radius_km=50.0),)


def earth():
    if not EDI.is_file():
        pytest.skip(f"real EDI {EDI} is absent (shared data not mounted)")
    return parse_earth(f"edi:{EDI}")


def config(storms: tuple[Storm, ...], sferic_rate_hz: float = 20.0) -> SynthConfig:
    return SynthConfig(
        duration_s=4.0,
        rate_hz=24000.0,
        sferic_rate_hz=sferic_rate_hz,
        background_rate_hz=50.0,
        night=False,
        storms=storms,
        counts=True,
        seed=3,
        sites=(Site(name="Q01", earth=earth(), noise=NOISE),),
    )


class Record:
    """A synthetic record with its conventional estimate, CNN detections and true-label events."""

    def __init__(self, storms: tuple[Storm, ...], sferic_rate_hz: float = 20.0) -> None:
        self.synthesis = generate(config(storms, sferic_rate_hz))
        self.station = self.synthesis.stations[0]
        self.earth = self.synthesis.config.sites[0].earth
        self.conventional = process_station(self.station)
        self.detections = detect_events(self.station, "cnn")
        self.labels = events_from_labels(self.synthesis.labels)

    def truth(self, freq_hz: np.ndarray) -> np.ndarray:
        return self.earth.impedance(np.asarray(freq_hz))


@pytest.fixture(scope="session")
def two_storms() -> Record:
    return Record(TWO_STORMS)


@pytest.fixture(scope="session")
def two_storms_sparse() -> Record:
    """The two-storm record with 2 storm sferics/s instead of 20."""
    return Record(TWO_STORMS, sferic_rate_hz=2.0)


@pytest.fixture(scope="session")
def one_storm() -> Record:
    return Record(ONE_STORM)
