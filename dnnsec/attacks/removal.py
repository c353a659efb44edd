"""Watermark removal by editing the weights with clean data: fine-tuning, global magnitude pruning, fine-pruning.

* Fine-tuning: continue training on the attacker's clean samples (Uchida et al., ICMR 2017; Adi et al., USENIX
  Security 2018 evaluate watermarks against it).
* Pruning: zero the fraction of smallest-magnitude weights over all conv and linear layers at once (Han et al.,
  "Learning both weights and connections", NeurIPS 2015).
* Fine-pruning (Liu, Dolan-Gavitt and Garg, "Fine-Pruning: Defending Against Backdooring Attacks on Deep Neural
  Networks", RAID 2018): remove the penultimate-layer features least active on clean data, then fine-tune with them
  kept removed.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import prune

from shared.data import TensorBatches
from shared.trainer import Trainer


def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, lr: float, steps: int, batch_size: int,
           seed: int) -> None:
    cfg = {"optimizer": "adam", "lr": lr, "max_steps": steps, "converge_tol": 0.0, "seed": seed}
    Trainer(model, F.cross_entropy, cfg, TensorBatches(x, y, batch_size, seed=seed), progress=False).fit()
    model.eval()


def fine_tune(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, lr: float, steps: int, batch_size: int = 64,
              seed: int = 0) -> nn.Module:
    """Return a copy of ``model`` fine-tuned on clean ``(x, y)`` with Adam (cross-entropy over all its outputs)."""
    out = copy.deepcopy(model)
    _train(out, x, y, lr, steps, batch_size, seed)
    return out


def _prunable(model: nn.Module) -> list[tuple[nn.Module, str]]:
    return [(m, "weight") for m in model.modules() if isinstance(m, nn.Conv1d | nn.Conv2d | nn.Linear)]


def prune_global(model: nn.Module, fraction: float) -> nn.Module:
    """Return a copy with the ``fraction`` smallest-|w| conv/linear weights (pooled over layers) set to zero."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"pruning fraction must lie in [0, 1), got {fraction}")
    out = copy.deepcopy(model)
    params = _prunable(out)
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=fraction)
    for module, name in params:
        prune.remove(module, name)
    return out.eval()


@torch.no_grad()
def _feature_activity(model: nn.Module, head: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    acts: list[torch.Tensor] = []
    handle = head.register_forward_pre_hook(lambda _m, inp: acts.append(inp[0].detach()))
    try:
        model.eval()
        for i in range(0, len(x), 500):
            model(x[i:i + 500])
    finally:
        handle.remove()
    return torch.cat(acts).mean(0)


def fine_prune(model: nn.Module, head_name: str, x: torch.Tensor, y: torch.Tensor, *, fraction: float, lr: float,
               steps: int, seed: int = 0) -> nn.Module:
    """Return a copy with the ``fraction`` least clean-active inputs of linear layer ``head_name`` removed, then
    fine-tuned on ``(x, y)`` with the removed features kept at zero."""
    out = copy.deepcopy(model)
    head = dict(out.named_modules())[head_name]
    if not isinstance(head, nn.Linear):
        raise ValueError(f"{head_name!r} is {type(head).__name__}, not nn.Linear")
    activity = _feature_activity(out, head, x[:2000])
    n_cut = round(fraction * head.in_features)
    mask = torch.ones_like(head.weight)
    mask[:, torch.argsort(activity)[:n_cut]] = 0.0
    prune.custom_from_mask(head, "weight", mask)
    _train(out, x, y, lr, steps, 64, seed)
    prune.remove(head, "weight")
    return out
