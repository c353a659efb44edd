"""Global magnitude pruning (Han et al., "Learning both Weights and Connections for Efficient Neural Networks",
NeurIPS 2015): zero the given fraction of smallest-magnitude weights over all conv and linear layers together."""

from __future__ import annotations

import torch
from torch import nn


def prunable(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weight tensors of every Conv and Linear layer, by parameter name."""
    return {f"{name}.weight": m.weight for name, m in model.named_modules()
            if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Linear)}


@torch.no_grad()
def global_magnitude_prune(model: nn.Module, fraction: float) -> int:
    """Zero the ``fraction`` (0-1) of conv/linear weights smallest in |w|, in place; return how many were zeroed."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"pruning fraction must lie in [0, 1), got {fraction}")
    weights = prunable(model)
    magnitudes = torch.cat([w.abs().flatten() for w in weights.values()])
    k = round(fraction * magnitudes.numel())
    if k == 0:
        return 0
    order = torch.argsort(magnitudes, stable=True)[:k]
    mask = torch.ones_like(magnitudes, dtype=torch.bool)
    mask[order] = False
    offset = 0
    for w in weights.values():
        n = w.numel()
        w.mul_(mask[offset:offset + n].view_as(w))
        offset += n
    return k
