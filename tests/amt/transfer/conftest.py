"""Fixtures for the transfer-function tests: EMTF's test1 record and its EMTF result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from amt.io.emtf_ascii import read_emtf_ascii
from amt.io.transfer_functions import read_transfer_function
from amt.record import Station


@pytest.fixture(scope="session")
def test1_station(shared_data: Path) -> Station:
    path = shared_data / "amt" / "emtf_synthetic" / "test1.asc"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return read_emtf_ascii(path)  # converts EMTF's synthetic E sign to ours


@pytest.fixture(scope="session")
def test1_emtf(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    """EMTF's robust single-station result: (periods s ascending, Z (n, 2, 2)) in our convention."""
    path = shared_data / "amt" / "emtf_synthetic" / "test1.zss"
    tf = read_transfer_function(path, negate_impedance=True)
    order = np.argsort(tf.period_s)
    return tf.period_s[order], tf.z[order]
