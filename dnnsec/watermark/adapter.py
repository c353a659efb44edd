"""Give any ``nn.Module`` an additional output class, and read its per-sample (or per-window) class scores.

The watermark core only needs three things from a model: how many outputs it has, a copy with one more output, and
class scores of shape (N, K + 1) for a batch. :class:`LinearHead` serves classifiers ending in ``nn.Linear`` (the zoo's
MNIST CNN and CIFAR ResNets); :class:`ChannelHead` serves 1-D networks ending in ``nn.Conv1d`` whose output is
(N, channels, T), e.g. a per-sample sferic segmenter: the extra channel fires on key windows and is scored per window
as the mean logit over time (Xue et al., arXiv:2104.09203, adapted to dense 1-D outputs).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from typing import Protocol

import torch
from torch import nn


class OutputAdapter(Protocol):
    """How the watermark reaches a model's output layer."""

    def num_outputs(self, model: nn.Module) -> int: ...

    def widen(self, model: nn.Module) -> nn.Module: ...

    def scores(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor: ...


def _get(model: nn.Module, path: str) -> nn.Module:
    try:
        return reduce(getattr, path.split("."), model)
    except AttributeError as exc:
        raise ValueError(f"{type(model).__name__} has no submodule {path!r} to widen") from exc


def _set(model: nn.Module, path: str, module: nn.Module) -> None:
    *parents, last = path.split(".")
    setattr(reduce(getattr, parents, model), last, module)


def _quiet_init(weight: torch.Tensor, bias: torch.Tensor | None, n_old: int) -> None:
    """Start the new output silent: zero weights and a bias one below the smallest old bias."""
    with torch.no_grad():
        weight[n_old:].zero_()
        if bias is not None:
            bias[n_old:] = bias[:n_old].min() - 1.0


@dataclass(frozen=True)
class LinearHead:
    """Adapter for a model whose class scores come from the ``nn.Linear`` at attribute path ``layer``."""

    layer: str = "fc"

    def num_outputs(self, model: nn.Module) -> int:
        return int(self.linear(model).out_features)

    def linear(self, model: nn.Module) -> nn.Linear:
        lin = _get(model, self.layer)
        if not isinstance(lin, nn.Linear):
            raise ValueError(f"{self.layer!r} of {type(model).__name__} is {type(lin).__name__}, not nn.Linear")
        return lin

    def widen(self, model: nn.Module) -> nn.Module:
        """Replace the layer (in place) by one with an extra output row; old rows are copied exactly."""
        old = self.linear(model)
        new = nn.Linear(old.in_features, old.out_features + 1, bias=old.bias is not None)
        with torch.no_grad():
            new.weight[: old.out_features] = old.weight
            if old.bias is not None:
                new.bias[: old.out_features] = old.bias
        _quiet_init(new.weight, new.bias, old.out_features)
        _set(model, self.layer, new)
        return model

    def scores(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return model(x)


@dataclass(frozen=True)
class ChannelHead:
    """Adapter for a 1-D model whose final ``nn.Conv1d`` at ``layer`` gives (N, classes, T) logits.

    A window's class scores are its logits averaged over time; the extra channel is the watermark class.
    """

    layer: str

    def _conv(self, model: nn.Module) -> nn.Conv1d:
        conv = _get(model, self.layer)
        if not isinstance(conv, nn.Conv1d):
            raise ValueError(f"{self.layer!r} of {type(model).__name__} is {type(conv).__name__}, not nn.Conv1d")
        return conv

    def num_outputs(self, model: nn.Module) -> int:
        return int(self._conv(model).out_channels)

    def widen(self, model: nn.Module) -> nn.Module:
        """Replace the final convolution (in place) by one with an extra output channel."""
        old = self._conv(model)
        new = nn.Conv1d(old.in_channels, old.out_channels + 1, old.kernel_size, stride=old.stride,
                        padding=old.padding, dilation=old.dilation, groups=old.groups, bias=old.bias is not None)
        with torch.no_grad():
            new.weight[: old.out_channels] = old.weight
            if old.bias is not None:
                new.bias[: old.out_channels] = old.bias
        _quiet_init(new.weight, new.bias, old.out_channels)
        _set(model, self.layer, new)
        return model

    def scores(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        out = model(x)
        if out.ndim != 3:
            raise ValueError(f"ChannelHead expects (N, classes, T) outputs, got shape {tuple(out.shape)}")
        return out.mean(dim=-1)


@torch.no_grad()
def predict(model: nn.Module, adapter: OutputAdapter, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Arg-max class of every sample (window) of ``x``, with the model in eval mode."""
    was = model.training
    model.eval()
    try:
        return torch.cat([adapter.scores(model, x[i:i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])
    finally:
        model.train(was)
