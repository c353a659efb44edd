"""GAN-based watermark detection and removal (docs/acceptance.md#gan-removal) on a tiny backdoored model: the
backdoor's class is the anomaly, and fine-tuning on the reversed triggers removes most of the backdoor."""

from __future__ import annotations

import pytest
import torch

import dnnsec.zoo.models  # noqa: F401  (registers mnist_cnn)
from dnnsec.attacks.finetune import finetune
from dnnsec.attacks.gan_removal import TriggerGenerator, gan_removal
from shared.architectures import build_model
from tests.dnnsec.bars import BOX, bar_images


def _stamp(x: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    out[:, :, -4:-1, -4:-1] = torch.tensor([[3.0, -1.0, 3.0], [-1.0, 3.0, -1.0], [3.0, -1.0, 3.0]])
    return out


def _asr(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model.eval()(_stamp(x[y != 0])).argmax(1) == 0).double().mean())


def _acc(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model.eval()(x).argmax(1) == y).double().mean())


def test_generator_output_stays_in_the_box():
    gen = TriggerGenerator(1, BOX)
    x = torch.rand(4, 1, 16, 16) * 4 - 1
    with torch.no_grad():
        out = gen(x)
    assert out.shape == x.shape and float(out.min()) >= BOX[0] and float(out.max()) <= BOX[1]


@pytest.mark.slow
def test_backdoor_class_is_flagged_and_removed():
    torch.set_num_threads(1)
    x, y = bar_images(1500, 1)
    poisoned = torch.randperm(1500, generator=torch.Generator().manual_seed(2))[:150]
    px, py = x.clone(), y.clone()
    px[poisoned] = _stamp(x[poisoned])
    py[poisoned] = 0
    torch.manual_seed(0)
    model = finetune(build_model("mnist_cnn", {"num_classes": 4, "width": 8}), px, py, steps=250, lr=3e-3)
    tx, ty = bar_images(400, 3)
    assert _asr(model, tx, ty) > 0.9
    few_x, few_y = bar_images(60, 4)
    # 16x16 images of four bars: a mask of a few pixels flips a clean class too, so the mask penalty is 3x MNIST's
    cleaned, det = gan_removal(model, few_x, few_y, BOX, detect_steps=120, finetune_steps=150, l1_weight=0.03)
    assert det.flagged[:1] == [0]
    assert _asr(cleaned, tx, ty) < 0.2
    assert _acc(cleaned, tx, ty) > _acc(model, tx, ty) - 0.05
