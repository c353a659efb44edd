"""Under CI a missing real-data folder fails the run with its path; elsewhere the real-data tests skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: A small test module that needs the EMTF synthetic record from the data folder.
PROBE = "tests/amt/test_io_emtf.py"


def _pytest(tmp_path: Path, ci: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CI": ci, "SHARED_DATA": str(tmp_path / "no-data-here")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", PROBE],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )


def test_missing_data_fails_under_ci_with_its_path(tmp_path) -> None:
    run = _pytest(tmp_path, "true")
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert "CI needs the real data" in out and str(tmp_path / "no-data-here") in out
    assert "amt/emtf_synthetic/test1.asc" in out


def test_missing_data_skips_outside_ci(tmp_path) -> None:
    run = _pytest(tmp_path, "")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "skipped" in run.stdout and "failed" not in run.stdout


def test_a_skip_for_missing_data_fails_under_ci(tmp_path) -> None:
    root = tmp_path / "data"
    for rel in ("amt/phoenix_mtu5c/10128_2021-04-27-032436", "amt/emtf_synthetic", "amt/transfer_functions",
                "images/mnist"):
        (root / rel).mkdir(parents=True)
    for rel in ("amt/emtf_synthetic/test1.asc", "amt/emtf_synthetic/test1.zss",
                "amt/transfer_functions/tf_edi_quantec.edi", "amt/transfer_functions/tf_zmm.zmm",
                "images/mnist/t10k-images-idx3-ubyte.gz", "images/cifar10-jpeg.zip"):
        (root / rel).touch()
    probe = tmp_path / "test_probe.py"
    probe.write_text(
        "import pytest\nfrom shared.paths import data_root\n\n"
        "def test_needs_a_file():\n    pytest.skip(f'not found at {data_root() / \"amt/other.edi\"}')\n"
    )
    env = {**os.environ, "CI": "true", "SHARED_DATA": str(root)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "tests.conftest",
         str(probe)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed" in run.stdout and "skipped for missing real data" in run.stdout
