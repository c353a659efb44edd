"""Fine-tuning a (possibly encrypted) model on a small labelled set, optionally only some of its parameters.

Used to attack AdvParams (Xue et al., IEEE TETC): an attacker with a fraction of the training data fine-tunes the
encrypted model, or trains the same architecture from scratch on the same data, with the same step budget.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from shared.data import TensorBatches
from shared.trainer import Trainer

GradMask = dict[str, torch.Tensor]


def finetune(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, steps: int, lr: float, seed: int = 0,
             batch_size: int = 64, augment: Callable | None = None, trainable: Callable[[str], bool] | None = None,
             grad_mask: GradMask | None = None) -> nn.Module:
    """Train ``model`` in place with Adam for ``steps`` steps on ``(x, y)`` and return it (eval mode).

    Parameters
    ----------
    trainable : callable, optional
        ``trainable(parameter_name) -> bool``; the other parameters are frozen.
    grad_mask : dict, optional
        Per-parameter 0/1 masks; only masked-in values change (Adam without weight decay leaves values with zero
        gradient untouched).
    """
    names = dict(model.named_parameters())
    for name, p in names.items():
        p.requires_grad_(trainable is None or trainable(name))
    hooks = []
    for name, mask in (grad_mask or {}).items():
        hooks.append(names[name].register_hook(lambda g, m=mask: g * m))
    try:
        cfg = {"optimizer": "adam", "lr": lr, "max_steps": steps, "converge_tol": 0.0, "seed": seed,
               "log_every": max(1, steps)}
        Trainer(model, F.cross_entropy, cfg, TensorBatches(x, y, batch_size, seed=seed, augment=augment),
                progress=False).fit()
    finally:
        for h in hooks:
            h.remove()
        for p in names.values():
            p.requires_grad_(True)
    return model.eval()


def refit_classifier(model: nn.Module, head: str, x: torch.Tensor, y: torch.Tensor, *, steps: int, lr: float,
                     seed: int = 0) -> nn.Module:
    """Re-initialise and train only the final linear layer named ``head`` (features frozen, BN in eval mode)."""
    layer = dict(model.named_modules())[head]
    if not isinstance(layer, nn.Linear):
        raise ValueError(f"{head} is not a linear layer")
    torch.manual_seed(seed)
    layer.reset_parameters()
    captured: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda m, inp, out: captured.append(inp[0].detach()))
    with torch.no_grad():
        model.eval()
        model(x)
    handle.remove()
    features = captured[0]
    finetune(layer, features, y, steps=steps, lr=lr, seed=seed)
    return model.eval()
