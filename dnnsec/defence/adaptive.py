"""An adaptive attacker against intentional-perturbation detection: a backdoor trained to be fragile.

The perturbation detector (:mod:`dnnsec.defence.perturbation`) relies on backdoor instances keeping their label
under a small perturbation. An attacker who knows this trains each backdoor instance together with a copy moved
by an L2 step of norm ``eps`` (pixel units in [0, 1]) towards its true class (the normalised gradient of the
true class's cross-entropy, computed on the model being trained, in eval mode), labelled with the true class, so
that a small perturbation undoes the trigger (cf. the adaptive attacks of Tramer, Carlini, Brendel and Madry, "On
Adaptive Attacks to Adversarial Example Defenses", NeurIPS 2020). The copies are not clipped to [0, 1].
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from dnnsec.backdoor.data import PixelSet
from dnnsec.backdoor.poison import AttackError, BackdoorAttack, PoisonedSet
from dnnsec.backdoor.train import BackdoorBatches, train_backdoor


class FragileBatches:
    """:class:`BackdoorBatches` plus, per backdoor instance, an ``eps``-step copy towards its true class.

    Parameters
    ----------
    inner : BackdoorBatches
        Batches of a plain attack (``transform == "none"``).
    model : torch.nn.Module
        The model being trained (takes standardised images).
    true_labels : torch.Tensor
        int64 (N,): the clean labels of the training set.
    eps : float
        L2 norm of each step, pixel units in [0, 1].
    """

    def __init__(self, inner: BackdoorBatches, model: torch.nn.Module, true_labels: torch.Tensor,
                 eps: float) -> None:
        if inner.attack.transform != "none":
            raise AttackError(f"a fragile backdoor needs a plain attack, not {inner.attack.transform!r} training")
        self.inner, self.model, self.true, self.eps = inner, model, true_labels, eps
        self.std = torch.tensor(inner.data.std, dtype=torch.float32).view(1, -1, 1, 1)

    def batch(self, step: int) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        x, (y, rows) = self.inner.batch(step)
        idx, _ = self.inner.order.batch(step)
        bd = torch.nonzero(self.inner.mask[idx]).flatten()
        if not len(bd):
            return x, (y, rows)
        xb = x[bd].detach().clone().requires_grad_(True)
        true = self.true[idx[bd]]
        training = self.model.training
        self.model.eval()
        (grad,) = torch.autograd.grad(F.cross_entropy(self.model(xb), true), xb)
        self.model.train(training)
        pixel_grad = grad / self.std                   # d loss / d pixel (x_std = (pixel - mean) / std)
        unit = pixel_grad / pixel_grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
        moved = xb.detach() - self.eps * unit / self.std
        return torch.cat([x, moved]), (torch.cat([y, true]), rows)


def train_fragile_backdoor(attack: BackdoorAttack, arch: str, train: PixelSet, seed: int, eps: float = 1.0,
                           epochs: int | None = None, progress: bool = False
                           ) -> tuple[torch.nn.Module, PoisonedSet, dict]:
    """:func:`dnnsec.backdoor.train.train_backdoor` with :class:`FragileBatches` (see the module docstring)."""
    return train_backdoor(attack, arch, train, seed, epochs, progress,
                          batches_hook=lambda batches, model: FragileBatches(batches, model, train.labels, eps))
