"""The query modification attack: spot watermark queries by an autoencoder's reconstruction error and alter them.

Namba and Sakuma ("Robust watermarking of neural network with exponential weighting", AsiaCCS 2019) show that a
model thief can put an autoencoder trained on clean data in front of the stolen model: clean queries reconstruct
well, watermark keys (logos, noise, OOD images) do not. Queries whose reconstruction error exceeds the clean
``quantile`` are judged to be keys and replaced by their reconstruction, which removes trigger patterns before the
model answers (Xue et al., arXiv:2104.09203, evaluate their additional-class watermark against it).

The detector is an undercomplete autoencoder (:mod:`dnnsec.autoencoder`, trained with
:func:`~dnnsec.autoencoder.train_autoencoder`); one whose code is as large as the image learns nearly the identity
and hands the trigger straight back to the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dnnsec.autoencoder import reconstruct, reconstruction_error


@dataclass
class QueryModifier:
    """Replace queries whose reconstruction error exceeds ``threshold`` by their reconstruction."""

    ae: nn.Module
    threshold: float

    @classmethod
    def fit(cls, ae: nn.Module, clean_val: torch.Tensor, quantile: float = 0.99) -> QueryModifier:
        """Set the threshold at the ``quantile`` of clean validation errors (a 1 - quantile false alarm rate)."""
        return cls(ae, float(torch.quantile(reconstruction_error(ae, clean_val), quantile)))

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the modified queries and the boolean mask of those judged to be keys."""
        flagged = reconstruction_error(self.ae, x) > self.threshold
        recon = reconstruct(self.ae, x)
        mask = flagged.view(-1, *([1] * (x.ndim - 1)))
        return torch.where(mask, recon, x), flagged
