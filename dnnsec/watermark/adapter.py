"""Give any ``nn.Module`` an additional output class, and read its per-sample (or per-window) class scores.

The watermark core only needs three things from a model: how many outputs it has, a copy with one more output, and
class scores of shape (N, K + 1) for a batch. :class:`LinearHead` serves classifiers ending in ``nn.Linear`` (the zoo's
MNIST CNN and CIFAR ResNets); :class:`ChannelHead` serves 1-D networks ending in ``nn.Conv1d`` whose output is
(N, channels, T), e.g. a per-sample sferic segmenter: the extra channel fires on key windows and is scored per window
as the mean logit over time (Xue et al., arXiv:2104.09203, adapted to dense 1-D outputs). :class:`SegmenterHead`
serves a binary segmenter whose ``forward`` returns only its decision logit while its head computes the
fingerprint channels beside it (the sferic CNN, ``amt.sferic.model.SfericUNet``): the head's output is read with a
forward hook.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from typing import Protocol

import torch
from torch import nn

from dnnsec.errors import ModelError


class OutputAdapter(Protocol):
    """How the watermark reaches a model's output layer."""

    def num_outputs(self, model: nn.Module) -> int: ...

    def widen(self, model: nn.Module) -> nn.Module: ...

    def scores(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor: ...


def _get(model: nn.Module, path: str) -> nn.Module:
    try:
        return reduce(getattr, path.split("."), model)
    except AttributeError as exc:
        raise ModelError(f"{type(model).__name__} has no submodule {path!r} to widen") from exc


def _set(model: nn.Module, path: str, module: nn.Module) -> None:
    *parents, last = path.split(".")
    setattr(reduce(getattr, parents, model), last, module)


def _layer(model: nn.Module, path: str, kind: type[nn.Module]) -> nn.Module:
    """The submodule at ``path``, which must be a ``kind``."""
    layer = _get(model, path)
    if not isinstance(layer, kind):
        raise ModelError(f"{path!r} of {type(model).__name__} is {type(layer).__name__}, not nn.{kind.__name__}")
    return layer


def _grown(old: nn.Linear | nn.Conv1d, new: nn.Linear | nn.Conv1d, n_old: int) -> nn.Linear | nn.Conv1d:
    """``new`` (one output more than ``old``) with ``old``'s outputs copied exactly and the new output silent.

    The new output starts with zero weights and a bias one below the smallest old bias.
    """
    with torch.no_grad():
        new.weight[:n_old] = old.weight
        new.weight[n_old:].zero_()
        if old.bias is not None:
            new.bias[:n_old] = old.bias
            new.bias[n_old:] = new.bias[:n_old].min() - 1.0
    return new


@dataclass(frozen=True)
class LinearHead:
    """Adapter for a model whose class scores come from the ``nn.Linear`` at attribute path ``layer``."""

    layer: str = "fc"

    def num_outputs(self, model: nn.Module) -> int:
        return int(self.linear(model).out_features)

    def linear(self, model: nn.Module) -> nn.Linear:
        return _layer(model, self.layer, nn.Linear)

    def widen(self, model: nn.Module) -> nn.Module:
        """Replace the layer (in place) by one with an extra output row; old rows are copied exactly."""
        old = self.linear(model)
        new = nn.Linear(old.in_features, old.out_features + 1, bias=old.bias is not None)
        _set(model, self.layer, _grown(old, new, old.out_features))
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
        return _layer(model, self.layer, nn.Conv1d)

    def num_outputs(self, model: nn.Module) -> int:
        return int(self._conv(model).out_channels)

    def widen(self, model: nn.Module) -> nn.Module:
        """Replace the final convolution (in place) by one with an extra output channel."""
        old = self._conv(model)
        new = nn.Conv1d(old.in_channels, old.out_channels + 1, old.kernel_size, stride=old.stride,
                        padding=old.padding, dilation=old.dilation, groups=old.groups, bias=old.bias is not None)
        _set(model, self.layer, _grown(old, new, old.out_channels))
        return model

    def scores(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        out = model(x)
        if out.ndim != 3:
            raise ModelError(f"ChannelHead expects (N, classes, T) outputs, got shape {tuple(out.shape)}")
        return out.mean(dim=-1)


@dataclass(frozen=True)
class SegmenterHead:
    """Adapter for a per-sample binary segmenter whose final ``nn.Conv1d`` at ``layer`` computes the decision logit
    (channel 0) and, in a fingerprinted copy, the fingerprint channels after it, whatever ``forward`` returns.

    A window's scores are ``[0, mean_t z_1, ...]``: column 0 is the decision threshold in logit units (as in
    :func:`dnnsec.protect.advparams.binary_segmenter_decisions`), so with one base class the margin of the extra
    class (:func:`dnnsec.watermark.verify.key_scores`) is the fingerprint channel's logit averaged over time.
    """

    layer: str = "head"

    def num_outputs(self, model: nn.Module) -> int:
        return ChannelHead(self.layer).num_outputs(model)

    def widen(self, model: nn.Module) -> nn.Module:
        """Give the head (in place) one more output channel; the decision channel stays bit-identical."""
        return ChannelHead(self.layer).widen(model)

    def head_outputs(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The head's output ``(N, channels, T)`` for input ``x`` (the model runs whole; gradients flow)."""
        seen: list[torch.Tensor] = []
        handle = _layer(model, self.layer, nn.Conv1d).register_forward_hook(lambda _m, _i, out: seen.append(out))
        try:
            model(x)
        finally:
            handle.remove()
        return seen[-1]

    def scores(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        z = self.head_outputs(model, x)[:, 1:].mean(dim=-1)
        return torch.cat([z.new_zeros(len(z), 1), z], dim=1)


@torch.no_grad()
def predict(model: nn.Module, adapter: OutputAdapter, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Arg-max class of every sample (window) of ``x``, with the model in eval mode."""
    was = model.training
    model.eval()
    try:
        return torch.cat([adapter.scores(model, x[i:i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])
    finally:
        model.train(was)
