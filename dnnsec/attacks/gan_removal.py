"""GAN-based watermark detection and removal (Wang, Xue, Sun, Zhang, Wang and Liu, arXiv:2106.08104).

Phase 1, detection and reversal: with a few clean images (at most 1 % of the training set), one generator per
candidate class ``t`` learns an input-dependent perturbation ``G_t(x)`` that makes the watermarked model, held fixed
as the discriminator, answer ``t`` for ``x + G_t(x)``, while an L1 penalty keeps the perturbation small. A
watermarked (backdoored) class needs a far smaller perturbation than the others, so it is the anomaly across
classes: its anomaly index ``(median - n_t) / (1.4826 MAD)`` of the perturbation norms ``n`` exceeds 2 (the MAD test of
Wang et al., Neural Cleanse, IEEE S&P 2019, which the paper adopts).

Phase 2, removal: the model is fine-tuned on the clean images and on their reversed-trigger versions
``x + G_t(x)`` labelled with their correct classes, so the trigger no longer leads to ``t``.

Targets: docs/acceptance.md#gan-removal.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dnnsec.attacks.finetune import finetune
from dnnsec.defence.neural_cleanse import ANOMALY_THRESHOLD, anomaly_index
from shared.seeding import seed_everything


class TriggerGenerator(nn.Module):
    """Fully convolutional generator of a trigger for each clean input: a mask ``m`` in [0, 1] (one value per
    position) and a pattern ``p`` inside the input box, applied as ``(1 - m) x + m p``."""

    def __init__(self, channels: int, box: tuple[float, float], width: int = 16, dims: int = 2) -> None:
        super().__init__()
        conv = nn.Conv2d if dims == 2 else nn.Conv1d
        self.net = nn.Sequential(conv(channels, width, 3, padding=1), nn.ReLU(),
                                 conv(width, width, 3, padding=1), nn.ReLU(),
                                 conv(width, channels + 1, 3, padding=1))
        with torch.no_grad():  # start from small masks
            self.net[-1].bias[0] = -3.0
        self.box = box

    def parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mask (N, 1, ...) and pattern (N, C, ...) for the inputs ``x``."""
        out = self.net(x)
        low, high = self.box
        return torch.sigmoid(out[:, :1]), low + (high - low) * torch.sigmoid(out[:, 1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The triggered inputs."""
        mask, pattern = self.parts(x)
        return (1 - mask) * x + mask * pattern


@dataclass
class ReversedTrigger:
    """The generator of one class, its flip rate on the clean images and the mean L1 norm of its masks."""

    target: int
    generator: TriggerGenerator
    flip_rate: float
    l1_norm: float


@dataclass
class Detection:
    """Phase 1 over all classes: per-class reversed triggers, anomaly indices and the flagged classes."""

    triggers: list[ReversedTrigger]
    anomaly: np.ndarray

    @property
    def flagged(self) -> list[int]:
        """Classes whose anomaly index exceeds :data:`ANOMALY_THRESHOLD`, most anomalous first."""
        order = np.argsort(-self.anomaly)
        return [self.triggers[t].target for t in order if self.anomaly[t] > ANOMALY_THRESHOLD]


def reverse_trigger(model: nn.Module, x: torch.Tensor, target: int, box: tuple[float, float], *, steps: int = 300,
                    l1_weight: float = 0.01, lr: float = 1e-2, batch_size: int = 32, seed: int = 0
                    ) -> ReversedTrigger:
    """Train a generator flipping the clean inputs ``x`` (model units, inside ``box``) to class ``target``."""
    seed_everything(seed)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    gen = TriggerGenerator(x.shape[1], box, dims=x.ndim - 2)
    opt = torch.optim.Adam(gen.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    labels = torch.full((batch_size,), target, dtype=torch.long)
    try:
        for _ in range(steps):
            xb = x[torch.as_tensor(rng.integers(0, len(x), batch_size))]
            mask, pattern = gen.parts(xb)
            triggered = (1 - mask) * xb + mask * pattern
            loss = F.cross_entropy(model(triggered), labels) + l1_weight * mask.flatten(1).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    finally:
        for p in model.parameters():
            p.requires_grad_(True)
    gen.eval()
    with torch.no_grad():
        mask, _ = gen.parts(x)
        flipped = model(gen(x)).argmax(1) == target
    return ReversedTrigger(target, gen, float(flipped.double().mean()), float(mask.flatten(1).sum(1).mean()))


def detect(model: nn.Module, x: torch.Tensor, box: tuple[float, float], *, classes: list[int] | None = None,
           steps: int = 300, l1_weight: float = 0.01, seed: int = 0) -> Detection:
    """Phase 1 for every class of ``model`` (or ``classes``): reversed triggers and the anomaly across classes.

    A class whose generator flips fewer than half of the clean images gets an infinite norm (not anomalous).
    """
    with torch.no_grad():
        n_out = int(model.eval()(x[:1]).shape[1])
    triggers = [reverse_trigger(model, x, t, box, steps=steps, l1_weight=l1_weight, seed=seed + t)
                for t in (classes if classes is not None else range(n_out))]
    norms = np.array([t.l1_norm if t.flip_rate >= 0.5 else np.inf for t in triggers])
    finite = norms[np.isfinite(norms)]
    anomaly = anomaly_index(np.where(np.isfinite(norms), norms, finite.max() if len(finite) else 0.0)) \
        if len(finite) else np.zeros(len(norms))
    anomaly[~np.isfinite(norms)] = -np.inf
    return Detection(triggers, anomaly)


def remove(model: nn.Module, x: torch.Tensor, y: torch.Tensor, triggers: list[ReversedTrigger],
           box: tuple[float, float], *, steps: int = 300, lr: float = 1e-3, seed: int = 0) -> nn.Module:
    """Phase 2: a copy of ``model`` fine-tuned on ``x`` and on each trigger's reversed images, all correctly labelled.

    The generators' outputs are drawn once (the model is fine-tuned on a fixed set of 1 + len(triggers) copies of
    the clean images).
    """
    with torch.no_grad():
        reversed_x = [t.generator(x) for t in triggers]
    xs = torch.cat([x, *reversed_x])
    ys = torch.cat([y] * (1 + len(reversed_x)))
    return finetune(copy.deepcopy(model), xs, ys, steps=steps, lr=lr, seed=seed)


def gan_removal(model: nn.Module, x: torch.Tensor, y: torch.Tensor, box: tuple[float, float], *,
                detect_steps: int = 300, finetune_steps: int = 300, lr: float = 1e-3, l1_weight: float = 0.01,
                seed: int = 0) -> tuple[nn.Module, Detection]:
    """Both phases: detect the watermarked class(es) and fine-tune them away (the model is not changed in place).

    If no class is flagged, the most anomalous class's trigger is still reversed into the fine-tuning (the attacker
    has nothing to lose).
    """
    det = detect(model, x, box, steps=detect_steps, l1_weight=l1_weight, seed=seed)
    chosen = det.flagged or [int(np.argmax(det.anomaly))]
    triggers = [t for t in det.triggers if t.target in chosen]
    return remove(model, x, y, triggers, box, steps=finetune_steps, lr=lr, seed=seed), det
