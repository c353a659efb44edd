"""An adaptive attacker's view of an AdvParams-encrypted model: which positions look suspicious.

Scores every parameter value by |w|, |dL/dw|, |w dL/dw| (gradients of the cross-entropy on the attacker's data)
or the per-layer z-score |w - mean| / std, and counts how many true encrypted positions land in the top k.
Reference: Xue et al., "AdvParams", IEEE TETC (the paper argues its perturbations are hard to localise).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

SCORES = ("abs_w", "abs_grad", "abs_w_grad", "layer_z")


def parameter_scores(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, dict[str, torch.Tensor]]:
    """Per-score, per-parameter tensors of suspicion (larger is more suspicious)."""
    model.eval()
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    out: dict[str, dict[str, torch.Tensor]] = {s: {} for s in SCORES}
    for name, p in model.named_parameters():
        w = p.detach()
        g = p.grad.detach() if p.grad is not None else torch.zeros_like(w)
        out["abs_w"][name] = w.abs()
        out["abs_grad"][name] = g.abs()
        out["abs_w_grad"][name] = (w * g).abs()
        std = w.std() if w.numel() > 1 else torch.tensor(0.0)
        out["layer_z"][name] = (w - w.mean()).abs() / std if std > 0 else torch.zeros_like(w)
    model.zero_grad(set_to_none=True)
    return out


def top_k_positions(scores: dict[str, torch.Tensor], k: int) -> set[tuple[str, int]]:
    """The ``k`` (parameter name, flat index) positions of highest score over all parameters."""
    names = list(scores)
    flat = torch.cat([scores[n].flatten() for n in names])
    sizes = [scores[n].numel() for n in names]
    bounds = torch.tensor([0, *sizes]).cumsum(0)
    top = torch.topk(flat, min(k, flat.numel())).indices
    layer = torch.searchsorted(bounds, top, right=True) - 1
    return {(names[int(i)], int(t - bounds[i])) for t, i in zip(top, layer, strict=True)}


def hits_in_top_k(scores: dict[str, torch.Tensor], truth: set[tuple[str, int]], k: int) -> int:
    """How many true positions are among the top ``k`` by ``scores``."""
    return len(top_k_positions(scores, k) & truth)
