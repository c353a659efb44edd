"""Small synthetic daytime records over a measured earth, in raw counts, with their truth.

The records are the named dead-band scenarios of :mod:`amt.synth.scenarios` (4 s at 24 kHz, seed 3, storm flashes
20/s, 2/s in the sparse record, from :data:`~amt.synth.scenarios.TWO_STORMS` or
:data:`~amt.synth.scenarios.ONE_STORM`, over the measured earth of ``tf_edi_quantec.edi``, quiet noise without
powerline, written as raw counts); each test names the record it uses.
"""

from __future__ import annotations

import numpy as np
import pytest

from amt.deadband import detect_events, events_from_labels
from amt.synth import Storm, generate, parse_earth
from amt.synth.scenarios import ONE_STORM, QUANTEC_EDI, TWO_STORMS, dead_band_record
from amt.transfer import process_station


def earth():
    if not QUANTEC_EDI.is_file():
        pytest.skip(f"real EDI {QUANTEC_EDI} is absent (shared data not mounted)")
    return parse_earth(f"edi:{QUANTEC_EDI}")


class Record:
    """A synthetic record with its conventional estimate, CNN detections and true-label events."""

    def __init__(self, storms: tuple[Storm, ...], sferic_rate_hz: float = 20.0) -> None:
        self.synthesis = generate(dead_band_record(earth(), storms, sferic_rate_hz))
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
