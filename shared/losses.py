"""Losses for imbalanced binary targets.

* :class:`WeightedBCELoss` - binary cross-entropy on logits with a positive-class weight, the loss of the
  sferic CNN (Jiang et al., 2023, Geophysics 88(4), "Deep learning based sferics recognition for AMT data
  processing in the dead band"): positives (sferic samples) are rare, so they are up-weighted by
  ``w = n_negative / n_positive`` measured from the class balance, or by a given weight.
* :class:`FocalLoss` - Lin et al. (2017), "Focal loss for dense object detection", ICCV.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from shared.errors import ConfigError


def pos_weight_from_labels(labels: np.ndarray | torch.Tensor) -> float:
    """Positive-class weight ``n_negative / n_positive`` from binary labels (0/1).

    Raises
    ------
    ConfigError
        If there are no positives or no negatives (the weight is undefined).
    """
    y = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    n_pos = float(np.count_nonzero(y > 0.5))
    n_neg = float(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        raise ConfigError(f"cannot measure a positive weight: {int(n_pos)} positives and {int(n_neg)} negatives")
    return n_neg / n_pos


class WeightedBCELoss(torch.nn.Module):
    """Mean binary cross-entropy on logits, with positives weighted by ``pos_weight``.

    ``loss = -mean( w * y * log sigmoid(z) + (1 - y) * log(1 - sigmoid(z)) )``; ``pos_weight = 1`` is
    plain BCE.
    """

    def __init__(self, pos_weight: float = 1.0) -> None:
        super().__init__()
        if not (np.isfinite(pos_weight) and pos_weight > 0):
            raise ConfigError(f"pos_weight must be positive and finite, got {pos_weight!r}")
        self.register_buffer("pos_weight", torch.tensor(float(pos_weight)))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype), pos_weight=self.pos_weight)


class FocalLoss(torch.nn.Module):
    """Binary focal loss on logits: ``-alpha_t (1 - p_t)^gamma log p_t`` averaged (Lin et al. 2017)."""

    def __init__(self, gamma: float = 2.0, alpha: float | None = 0.25) -> None:
        super().__init__()
        if gamma < 0:
            raise ConfigError(f"gamma must be >= 0, got {gamma}")
        if alpha is not None and not 0 < alpha < 1:
            raise ConfigError(f"alpha must lie in (0, 1), got {alpha}")
        self.gamma, self.alpha = gamma, alpha

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = target.to(logits.dtype)
        ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        p = torch.sigmoid(logits)
        p_t = p * target + (1 - p) * (1 - target)
        loss = ce * (1 - p_t) ** self.gamma
        if self.alpha is not None:
            loss = loss * (self.alpha * target + (1 - self.alpha) * (1 - target))
        return loss.mean()
