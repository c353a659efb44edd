"""Fixtures for the dnnsec tests: a tiny trained classifier on Gaussian blobs, checkpoints, owner keys."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import dnnsec.zoo  # noqa: F401  (registers the zoo architectures)
from dnnsec.package.signing import generate_owner_keys
from shared.architectures import register_model
from shared.checkpoint import save_checkpoint


@register_model("dnnsec_test_mlp")
def build_test_mlp(n_in: int = 8, hidden: int = 32, n_classes: int = 10) -> nn.Module:
    """A two-layer MLP with batch normalisation, small enough to train in a second."""
    return nn.Sequential(nn.Linear(n_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, n_classes))


def make_blobs(n: int, seed: int, n_in: int = 8, n_classes: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """Ten well-separated Gaussian clusters in ``n_in`` dimensions (fixed centres, seeded samples)."""
    centres = torch.randn(n_classes, n_in, generator=torch.Generator().manual_seed(1234)) * 3.0
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, n_classes, (n,), generator=g)
    return centres[y] + torch.randn(n, n_in, generator=g), y


@pytest.fixture(scope="session")
def blobs_train() -> tuple[torch.Tensor, torch.Tensor]:
    return make_blobs(2000, seed=1)


@pytest.fixture(scope="session")
def blobs_test() -> tuple[torch.Tensor, torch.Tensor]:
    return make_blobs(1000, seed=2)


@pytest.fixture(scope="session")
def trained_mlp(blobs_train) -> nn.Module:
    torch.manual_seed(0)
    model = build_test_mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = blobs_train
    for step in range(150):
        idx = torch.arange(step * 100, step * 100 + 100) % len(y)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    return model.eval()


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


@pytest.fixture()
def checkpoint(tmp_path: Path, trained_mlp) -> Path:
    return save_checkpoint(tmp_path / "plain.safetensors", trained_mlp, arch="dnnsec_test_mlp", config={},
                           extra={"dataset": "blobs"})


@pytest.fixture()
def owner(tmp_path: Path) -> tuple[Path, Path]:
    generate_owner_keys(tmp_path / "alice.key", tmp_path / "alice.pub")
    return tmp_path / "alice.key", tmp_path / "alice.pub"
