"""The adaptive attacker of an intrinsic fingerprint: fine-tune so that explanations move away, accuracy stays.

The attacker knows the method (DTD relevance maps compared by similarity) but not the owner's probes. They fine-tune
the stolen model on their own labelled data with the loss

    cross-entropy + weight * mean cosine(S_theta(x), S_stolen(x))

where ``S(x) = |sum_c x * d f_y / d x|`` is the gradient-times-input saliency of the labelled class, a differentiable
stand-in for DTD (for ReLU networks it is LRP's z rule; Montavon et al., "Layer-wise relevance propagation: an
overview", 2019), and ``S_stolen`` is fixed from the stolen model. Pushing the saliency away while keeping the labels
is the attack InFIP must survive (Xue et al., InFIP, adaptive attacks). For a per-sample segmenter the task loss is
its own (e.g. weighted binary cross-entropy per sample) and the saliency is that of the sample InFIP explains (the
largest logit of the window), :func:`adaptive_finetune`'s ``task_loss`` and ``explain``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from shared.data import TensorBatches
from shared.seeding import seed_everything


def saliency(model: nn.Module, x: torch.Tensor, y: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
    """|gradient x input| of the logit of class ``y``, summed over channels, flattened: (N, prod(spatial))."""
    x = x.detach().requires_grad_(True)
    logit = model(x).gather(1, y.view(-1, 1)).sum()
    (g,) = torch.autograd.grad(logit, x, create_graph=create_graph)
    return (g * x).sum(1).abs().flatten(1)


def adaptive_finetune(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, steps: int, lr: float = 1e-3,
                      weight: float = 1.0, batch_size: int = 64, seed: int = 0,
                      task_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
                      explain: Callable[[torch.Tensor], torch.Tensor] | None = None) -> nn.Module:
    """Return a copy of ``model`` fine-tuned with Adam on ``(x, y)`` to keep accuracy and move its explanations.

    BatchNorm statistics are frozen (eval mode) so the loss acts on the weights alone.

    Parameters
    ----------
    task_loss
        ``task_loss(outputs, y)``: cross-entropy for a classifier; a segmenter's per-sample loss for one.
    explain
        ``explain(stolen_outputs) -> (N,)`` output units whose saliency is pushed away (default: the labels ``y``,
        a classifier's classes; for a segmenter e.g. ``lambda z: z.argmax(1)``, the sample InFIP explains).
    """
    seed_everything(seed)
    stolen = copy.deepcopy(model).eval()
    out = copy.deepcopy(model).eval()
    opt = torch.optim.Adam(out.parameters(), lr=lr)
    batches = TensorBatches(x, y, batch_size, seed=seed)
    for step in range(steps):
        xb, yb = batches.batch(step)
        if explain is None:
            unit = yb
        else:
            with torch.no_grad():
                unit = explain(stolen(xb))
        s_old = saliency(stolen, xb, unit).detach()
        s_new = saliency(out, xb, unit, create_graph=True)
        loss = task_loss(out(xb), yb) + weight * F.cosine_similarity(s_new, s_old, dim=1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return out.eval()
