"""STRIP: the threshold keeps false rejections at most the target by construction; a trigger that survives
superposition is flagged; entropies are in bits."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dnnsec.backdoor.triggers import PatchTrigger
from dnnsec.defence.classifier import DefenceError
from dnnsec.defence.strip import StripDetector


class LevelOrPatch(nn.Module):
    """Six classes by mean grey level (soft logits), class 0 with a large logit where the BadNets patch's white
    cells are saturated: the patch survives any superposition, the level does not."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        level = x.mean(dim=(1, 2, 3)) * 6 / 0.8
        logits = -2.0 * (level[:, None] - torch.arange(6.0)).abs()
        white = x[:, 0, 24:27, 24:27][:, ::2, ::2]   # cells (0,0), (0,2), (2,0), (2,2) of the 3x3 checkerboard
        logits[:, 0] += 20.0 * (white.amin(dim=(1, 2)) > 0.99).float()
        return logits


def _levels(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 1, 1, generator=g) * 0.3 + torch.rand(n, 1, 28, 28, generator=g) * 0.1


def test_strip_flags_a_trigger_that_survives_superposition_at_the_target_false_rejection_rate():
    model = LevelOrPatch()
    det = StripDetector(model, _levels(200, 0), n=32).calibrate(_levels(300, 1), frr=0.02)
    rejected, _ = det.flag(_levels(300, 1))
    assert float(rejected.double().mean()) <= 0.02                  # by construction on the calibration set
    clean = _levels(300, 2)
    flags, entropy = det.flag(PatchTrigger().apply(clean))
    assert bool(flags.all()) and float(entropy.max()) < 1e-3
    assert float(det.flag(clean)[0].double().mean()) < 0.1


def test_strip_threshold_bounds_false_rejections_of_a_trained_model(backdoored):
    clf, _, _, test = backdoored
    x = test.intensities()
    det = StripDetector(clf, x[:100], n=16).calibrate(x[100:300], frr=0.05)
    rejected, entropy = det.flag(x[100:300])
    assert float(rejected.double().mean()) <= 0.05
    assert float(entropy.min()) >= 0.0 and float(entropy.max()) <= float(torch.log2(torch.tensor(6.0))) + 1e-9


def test_strip_entropy_is_zero_for_a_constant_prediction():
    class Constant(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tensor([[50.0, 0.0, 0.0]]).repeat(len(x), 1)

    det = StripDetector(Constant(), torch.rand(5, 1, 4, 4), n=3)
    assert torch.allclose(det.entropy(torch.rand(4, 1, 4, 4)), torch.zeros(4, dtype=torch.float64), atol=1e-12)
    with pytest.raises(DefenceError, match="no threshold"):
        det.flag(torch.rand(1, 1, 4, 4))
