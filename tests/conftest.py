"""Test-wide settings: small torch thread pool, the shared data folder, and a skip helper."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from shared.paths import data_root

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder beside the checkout; skips (with the path) when it is absent."""
    root = data_root()
    if not root.is_dir():
        pytest.skip(f"real data not found at {root} (set SHARED_DATA)")
    return root
