"""Shared fixtures: a tiny training config, the shipped detector; hand-made labels."""

import copy

import pytest

from amt.sferic.inference import DEFAULT_WEIGHTS, SfericDetector
from amt.synth.labels import SfericLabel
from amt.synth.records import DONT_CARE_DB

TINY = {
    "seed": 3,
    "batch_size": 4,
    "pilot_batches": 2,
    "pos_weight": "auto",
    "calibrate": False,
    "model": {"in_channels": 2, "widths": [4, 8], "kernel_size": 5},
    "sampler": {"window": 512, "channels": ["hx", "hy"], "snr_db": [5.0, 20.0], "sferic_rate_hz": [10.0, 30.0]},
    "train": {"lr": 0.01, "max_steps": 30, "converge_tol": 0.0, "log_every": 10},
}


@pytest.fixture
def tiny_config():
    return copy.deepcopy(TINY)


@pytest.fixture(scope="session")
def detector():
    if not DEFAULT_WEIGHTS.is_file():
        pytest.fail(f"shipped weights {DEFAULT_WEIGHTS} are missing")
    return SfericDetector.from_checkpoint()


def interval_label(start: int, end: int, peak: int | None = None, snr_db: float = 0.0) -> SfericLabel:
    """A hand-made label of samples ``[start, end)`` (peak at ``start`` unless given), don't-care below -20 dB."""
    return SfericLabel(
        flash=0,
        start_index=start,
        end_index=end,
        peak_index=start if peak is None else peak,
        amplitude_nt=1.0,
        polarization_deg=0.0,
        distance_km=1000.0,
        azimuth_deg=90.0,
        storm_id=0,
        energy_nt2_s=1.0,
        snr_db=snr_db,
        dont_care=snr_db < DONT_CARE_DB,
    )
