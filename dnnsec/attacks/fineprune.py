"""Fine-pruning (Liu, Dolan-Gavitt and Garg, "Fine-Pruning: Defending Against Backdooring Attacks on Deep Neural
Networks", RAID 2018): remove the penultimate-layer features least active on clean data, then fine-tune with them
kept removed. Against a watermark it is a removal attack: key-specific features tend to be dormant on clean data.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from dnnsec.attacks.finetune import finetune


@torch.no_grad()
def feature_activity(model: nn.Module, head: nn.Module, x: torch.Tensor, magnitude: bool = False,
                     batch_size: int = 500) -> torch.Tensor:
    """Mean input of layer ``head`` (the penultimate features) over the samples ``x``, per feature (channel 1 of the
    input; a 1-D convolution's input is averaged over time too); ``magnitude``: the mean of its absolute value (for
    signed features, which a plain mean lets cancel)."""
    acts: list[torch.Tensor] = []
    handle = head.register_forward_pre_hook(lambda _m, inp: acts.append(inp[0].abs() if magnitude else inp[0]))
    try:
        model.eval()
        for i in range(0, len(x), batch_size):
            model(x[i:i + batch_size])
    finally:
        handle.remove()
    a = torch.cat(acts)
    return a.mean(dim=[d for d in range(a.ndim) if d != 1])


def fine_prune(model: nn.Module, head_name: str, x: torch.Tensor, y: torch.Tensor, *, fraction: float, lr: float,
               steps: int, seed: int = 0) -> nn.Module:
    """Return a copy with the ``fraction`` least clean-active inputs of linear layer ``head_name`` zeroed, then
    fine-tuned on ``(x, y)`` (:func:`dnnsec.attacks.finetune.finetune`) with those weights held at zero."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"pruning fraction must lie in [0, 1), got {fraction}")
    out = copy.deepcopy(model)
    head = dict(out.named_modules()).get(head_name)
    if not isinstance(head, nn.Linear):
        raise ValueError(f"{head_name!r} of {type(model).__name__} is not an nn.Linear layer")
    activity = feature_activity(out, head, x[:2000])
    mask = torch.ones_like(head.weight)
    mask[:, torch.argsort(activity)[: round(fraction * head.in_features)]] = 0.0
    with torch.no_grad():
        head.weight.mul_(mask)
    return finetune(out, x, y, steps=steps, lr=lr, seed=seed, grad_mask={f"{head_name}.weight": mask})
