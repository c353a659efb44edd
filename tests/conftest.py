"""Test-wide settings: small torch thread pool, the shared data folder, and its rule under CI.

Tests read real data in place from :func:`shared.paths.data_root` (``../shared/data`` beside the checkout,
``SHARED_DATA`` overrides). On a developer's machine a test whose data is absent skips with the path. Under CI
(``CI`` set to ``true``/``1``) the data must be there: a missing data set stops the run before any test with a
message naming each missing path, and a test that would skip for missing data fails instead, so a green CI always
means the real-data tests ran. Under CI the hypothesis tests are derandomised.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hypothesis import settings

from shared.paths import data_root

torch.set_num_threads(1)

#: Data sets the tests read, relative to the data root.
REQUIRED_DATA = (
    "amt/phoenix_mtu5c/10128_2021-04-27-032436",
    "amt/emtf_synthetic/test1.asc",
    "amt/emtf_synthetic/test1.zss",
    "amt/transfer_functions/tf_edi_quantec.edi",
    "amt/transfer_functions/tf_zmm.zmm",
    "images/mnist/t10k-images-idx3-ubyte.gz",
    "images/cifar10-jpeg.zip",
)


def under_ci() -> bool:
    """Whether the tests run under CI (``CI`` set to ``true``, ``1`` or ``yes``)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


#: Under CI the property-based tests draw the same examples every run (a red CI must be reproducible); on a
#: developer's machine they explore new ones each run.
settings.register_profile("ci", derandomize=True, print_blob=True)


def pytest_configure(config: pytest.Config) -> None:
    if not under_ci():
        return
    settings.load_profile("ci")
    root = data_root()
    missing = [rel for rel in REQUIRED_DATA if not (root / rel).exists()]
    if missing:
        raise pytest.UsageError(
            f"CI needs the real data at {root} (set SHARED_DATA to move it); missing: {', '.join(missing)}"
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if under_ci() and report.skipped and str(data_root()) in str(report.longrepr):
        report.outcome = "failed"
        report.longrepr = f"CI: a test skipped for missing real data ({report.longrepr})"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder beside the checkout; skips (with the path) when it is absent."""
    root = data_root()
    if not root.is_dir():
        pytest.skip(f"real data not found at {root} (set SHARED_DATA)")
    return root
