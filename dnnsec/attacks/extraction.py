"""Attacks needing no knowledge of the keys: removing the extra output, and black-box distillation.

* Removing the additional output: anyone with the weights can delete its row from the last layer; the model then
  has K outputs and can never answer K+1, so black-box verification has nothing to test. A segmenter's fingerprint
  channels are cut off its head the same way.
* Distillation (Hinton, Vinyals and Dean, "Distilling the knowledge in a neural network", 2015): train a fresh model
  on the stolen model's soft outputs for the attacker's unlabeled clean queries; a watermark transfers only if the
  queries happen to exercise it.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from dnnsec.watermark.adapter import LinearHead, SegmenterHead
from shared.data import TensorBatches
from shared.trainer import Trainer


def remove_extra_output(model: nn.Module, head: LinearHead) -> nn.Module:
    """Return a copy whose last linear layer lost its final (watermark) row: K outputs instead of K + 1."""
    out = copy.deepcopy(model)
    old = head.linear(out)
    new = nn.Linear(old.in_features, old.out_features - 1, bias=old.bias is not None)
    with torch.no_grad():
        new.weight.copy_(old.weight[:-1])
        if old.bias is not None:
            new.bias.copy_(old.bias[:-1])
    parent_path, _, attr = head.layer.rpartition(".")
    setattr(dict(out.named_modules())[parent_path] if parent_path else out, attr, new)
    return out.eval()


def remove_fingerprint_channels(model: nn.Module, head: SegmenterHead) -> nn.Module:
    """Return a copy of a segmenter whose head computes its decision channel alone: the fingerprint channels after
    it (:mod:`dnnsec.watermark.segmenter`) are cut off, the decision channel bit for bit the same."""
    out = copy.deepcopy(model)
    old = dict(out.named_modules())[head.layer]
    new = nn.Conv1d(old.in_channels, 1, old.kernel_size, stride=old.stride, padding=old.padding,
                    dilation=old.dilation, groups=old.groups, bias=old.bias is not None)
    with torch.no_grad():
        new.weight.copy_(old.weight[:1])
        if old.bias is not None:
            new.bias.copy_(old.bias[:1])
    parent_path, _, attr = head.layer.rpartition(".")
    setattr(dict(out.named_modules())[parent_path] if parent_path else out, attr, new)
    return out.eval()


def distill(teacher: nn.Module, student: nn.Module, x: torch.Tensor, *, steps: int, lr: float = 3e-3,
            temperature: float = 2.0, seed: int = 0) -> nn.Module:
    """Train ``student`` (in place; same number of outputs) to match ``teacher``'s softened outputs on ``x``."""
    teacher.eval()
    with torch.no_grad():
        soft = torch.cat([F.softmax(teacher(x[i:i + 500]) / temperature, 1) for i in range(0, len(x), 500)])

    def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.kl_div(F.log_softmax(logits / temperature, 1), target, reduction="batchmean") * temperature**2

    cfg = {"optimizer": "adam", "lr": lr, "max_steps": steps, "converge_tol": 0.0, "schedule": "cosine", "seed": seed}
    Trainer(student, loss, cfg, TensorBatches(x, soft, 128, seed=seed), progress=False).fit()
    return student.eval()
