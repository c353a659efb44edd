"""Shared fixtures: a tiny training config, the shipped detector."""

import copy

import pytest

from amt.sferic.inference import DEFAULT_WEIGHTS, SfericDetector

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
