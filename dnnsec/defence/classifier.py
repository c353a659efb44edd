"""A trained model seen as a classifier of [0, 1] pixel images, checked against the data it is to defend.

Every defence works in pixel space (perturbation norms in [0, 1] pixel units, superimposed images, trigger masks),
so the model is wrapped with the per-channel standardisation its data set uses (:class:`PixelClassifier`). The
wrapper checks, before any defence runs, that the model takes the data's images and answers with one logit per
class: a model that answers probabilities, a single score or the wrong class count, or images of another shape,
is a :class:`DefenceError` naming the checkpoint and the problem.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from dnnsec.backdoor.data import PixelSet
from dnnsec.backdoor.metrics import predict
from dnnsec.errors import DnnsecError


class DefenceError(DnnsecError):
    """A defence cannot run: the model, the data or the settings do not fit (names the file and the problem)."""


class PixelClassifier(nn.Module):
    """``model`` behind the standardisation ``(x - mean) / std``: takes (N, C, H, W) intensities in [0, 1].

    Parameters
    ----------
    model : torch.nn.Module
        Maps standardised images to logits (N, K).
    mean, std : tuple of float
        Per-channel standardisation of intensities in [0, 1].
    """

    def __init__(self, model: nn.Module, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.model = model.eval()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)

    def predict(self, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """Predicted class (int64, (N,)) of intensities ``x``."""
        return predict(self, x, batch_size)

    @classmethod
    def checked(cls, model: nn.Module, data: PixelSet, source: str) -> PixelClassifier:
        """Wrap ``model`` for ``data``, refusing a model that does not give ``data.num_classes`` logits per image.

        Raises
        ------
        DefenceError
            The model fails on images of the data's shape, answers anything but an (N, K) floating tensor with
            K the data's class count, or answers probabilities (rows of non-negative values summing to 1).
        """
        clf = cls(model, data.mean, data.std)
        shape = tuple(data.images.shape[1:])
        probe = data.intensities(slice(0, 8)) if len(data) else torch.zeros(1, *shape)
        try:
            with torch.no_grad():
                out = clf(probe)
        except (RuntimeError, ValueError) as exc:
            raise DefenceError(f"{source}: the model does not take {data.name}'s images of shape "
                               f"{'x'.join(map(str, shape))} (C x H x W): {str(exc).splitlines()[0]}") from exc
        if not isinstance(out, torch.Tensor) or out.dim() != 2 or not out.is_floating_point():
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise DefenceError(f"{source}: the model must answer logits (N, {data.num_classes}); it answers {got}")
        if out.shape[1] != data.num_classes:
            raise DefenceError(f"{source}: the model answers {out.shape[1]} logits per image but {data.name} has "
                               f"{data.num_classes} classes")
        if bool((out >= 0).all()) and torch.allclose(out.sum(1), torch.ones(len(out)), atol=1e-4):
            raise DefenceError(f"{source}: the model answers probabilities (rows sum to 1), not logits; give the "
                               "model without its final softmax")
        return clf

    @classmethod
    def from_checkpoint(cls, path: str | Path, data: PixelSet) -> PixelClassifier:
        """Load a zoo checkpoint (``shared.checkpoint``) and check it against ``data`` (see :meth:`checked`)."""
        import dnnsec.zoo.models  # noqa: F401  (registers the zoo architectures)
        from shared.checkpoint import load_checkpoint

        model, _ = load_checkpoint(path)
        return cls.checked(model, data, str(path))
