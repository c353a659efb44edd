"""Deep Taylor Decomposition (DTD) of a chain of layers: how much each input value contributes to one output.

Montavon, Lapuschkin, Binder, Samek and Mueller, "Explaining nonlinear classification decisions with deep Taylor
decomposition", Pattern Recognition 65 (2017) 211-222:

- the relevance of the explained class c starts as its logit ``R = f_c(x)``;
- every hidden Conv1d/Conv2d/Linear layer (inputs are ReLU outputs, >= 0) passes relevance down by the z+ rule
  ``R_i = sum_j a_i w_ij^+ / (sum_i a_i w_ij^+) R_j`` (biases take none);
- the first layer, whose inputs lie in a box ``l <= x <= h``, uses the z^B rule
  ``R_i = sum_j (x_i w_ij - l_i w_ij^+ - h_i w_ij^-) / (sum_i ...) R_j``;
- ReLU, Flatten and Dropout pass relevance unchanged; max pooling gives a window's relevance to its maximum,
  average pooling shares it in proportion to the inputs (the z rule of a layer with positive weights).

Each rule redistributes all of ``R_j``, so the input relevance sums to ``f_c(x)`` (conservation) wherever no
denominator vanishes. BatchNorm is folded into the convolution or linear layer before it (an affine map of its
output), so the rules see the layer the network really computes. Models are read as a chain of modules with
``torch.fx``; a graph that is not a chain (residual additions, concatenations) is refused by name.

The relevance is computed with the gradient trick of Montavon et al., "Layer-wise relevance propagation: an
overview" (2019): for ``z = rho(layer)(a)``, ``R_a = a * grad(z, a, R / z)``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import fx, nn

from dnnsec.errors import ModelError

LINEAR = (nn.Conv1d, nn.Conv2d, nn.Linear)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
PASS = (nn.ReLU, nn.Flatten, nn.Dropout, nn.Identity)
POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)
#: Stabiliser added to every denominator (keeps its sign); conservation holds up to it.
EPS = 1e-9


def _leaf_chain(model: nn.Module) -> list[nn.Module]:
    """The modules ``model`` calls, in order, when its forward pass is a plain chain (checked with ``torch.fx``)."""
    try:
        graph = fx.symbolic_trace(model).graph
    except Exception as exc:  # fx raises many kinds on dynamic control flow
        raise ModelError(f"{type(model).__name__}: cannot be traced into a chain of layers for DTD ({exc})") from exc
    modules = dict(model.named_modules())
    chain: list[nn.Module] = []
    previous = None
    for node in graph.nodes:
        if node.op == "placeholder":
            previous = node
            continue
        if node.op == "output":
            break
        args = [a for a in node.all_input_nodes]
        if node.op != "call_module" or args != [previous]:
            raise ModelError(f"{type(model).__name__}: DTD needs a chain of modules; node {node.name!r} "
                             f"({node.op} {node.target}) is not one (residual or functional layers are not supported)")
        chain.append(modules[node.target])
        previous = node
    return chain


def _fold(layer: nn.Module, bn: nn.Module) -> nn.Module:
    """A copy of ``layer`` (conv or linear) computing ``bn(layer(x))`` in eval mode."""
    out = copy.deepcopy(layer)
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias.detach() - bn.running_mean * scale
    with torch.no_grad():
        out.weight.mul_(scale.view(-1, *([1] * (out.weight.ndim - 1))))
        bias = out.bias.detach() if out.bias is not None else torch.zeros_like(shift)
        out.bias = nn.Parameter(bias * scale + shift)
    return out


def explainable_layers(model: nn.Module) -> list[nn.Module]:
    """The chain of layers of ``model`` with every BatchNorm folded into the conv or linear layer before it.

    Raises
    ------
    ModelError
        If the model is not a chain, holds a layer DTD has no rule for, or a BatchNorm follows no conv/linear layer.
    """
    folded: list[nn.Module] = []
    for layer in _leaf_chain(model):
        if isinstance(layer, NORMS):
            if not folded or not isinstance(folded[-1], LINEAR):
                raise ModelError(f"{type(model).__name__}: a {type(layer).__name__} follows no conv/linear layer "
                                 "and cannot be folded")
            folded[-1] = _fold(folded[-1], layer)
        elif isinstance(layer, LINEAR):
            folded.append(copy.deepcopy(layer))
        elif isinstance(layer, PASS + POOLS):
            folded.append(layer)
        else:
            raise ModelError(f"{type(model).__name__}: DTD has no rule for layer {type(layer).__name__}")
    for layer in folded:
        for p in layer.parameters():
            p.requires_grad_(False)
    return folded


def _positive(layer: nn.Module, sign: float = 1.0) -> nn.Module:
    """A copy of ``layer`` with only its positive (``sign`` = 1) or negative (-1) weights and no bias."""
    out = copy.deepcopy(layer)
    with torch.no_grad():
        out.weight.copy_((sign * out.weight).clamp_min(0) * sign)
        if out.bias is not None:
            out.bias.zero_()
    return out


def _stabilise(z: torch.Tensor) -> torch.Tensor:
    return z + EPS * torch.where(z >= 0, 1.0, -1.0)


def _redistribute(z: torch.Tensor, inputs: Sequence[torch.Tensor], relevance: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``grad(z, inputs, relevance / z)``: each input's share of the relevance per unit of it."""
    return torch.autograd.grad(z, inputs, relevance / _stabilise(z))


@dataclass(frozen=True)
class Box:
    """Bounds of the input values, in the model's (standardised) input units: ``low <= x <= high``."""

    low: float
    high: float


def _zb(layer: nn.Module, x: torch.Tensor, relevance: torch.Tensor, box: Box) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    low = torch.full_like(x, box.low).requires_grad_(True)
    high = torch.full_like(x, box.high).requires_grad_(True)
    plus, minus = _positive(layer, 1.0), _positive(layer, -1.0)
    bare = copy.deepcopy(layer)
    if bare.bias is not None:
        with torch.no_grad():
            bare.bias.zero_()
    z = bare(x) - plus(low) - minus(high)
    c, cp, cm = _redistribute(z, (x, low, high), relevance)
    return x * c + low * cp + high * cm  # cp, cm carry the minus signs of z


def _zplus(layer: nn.Module, a: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
    a = a.detach().requires_grad_(True)
    (c,) = _redistribute(_positive(layer)(a), (a,), relevance)
    return a * c


def _pool(layer: nn.Module, a: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
    a = a.detach().requires_grad_(True)
    (c,) = _redistribute(layer(a), (a,), relevance)
    return a * c


def relevance(model: nn.Module, x: torch.Tensor, target: torch.Tensor | int | None = None, *,
              box: Box | None = None, layers: list[nn.Module] | None = None) -> torch.Tensor:
    """DTD relevance of every input value for class ``target`` (default: the predicted class) of each sample.

    Parameters
    ----------
    model : nn.Module
        A chain of Conv1d/Conv2d/Linear (each optionally followed by BatchNorm), ReLU, pooling, Flatten and Dropout
        layers, in eval mode.
    x : torch.Tensor
        Inputs (N, C, ...) as the model takes them.
    target : tensor of int (N,), int or None
        Class explained per sample.
    box : Box, optional
        Input bounds for the z^B rule at the first layer; by default the z+ rule is used there too (correct for
        non-negative inputs only).
    layers : list, optional
        The result of :func:`explainable_layers`, to save folding again for every batch.

    Returns
    -------
    torch.Tensor
        Same shape as ``x``; ``relevance.flatten(1).sum(1)`` equals the explained logits (conservation).
    """
    model.eval()
    layers = explainable_layers(model) if layers is None else layers
    activations = [x.detach()]
    with torch.no_grad():
        for layer in layers:
            activations.append(layer(activations[-1]))
    logits = activations[-1]
    if target is None:
        target = logits.argmax(1)
    target = torch.as_tensor(target).expand(len(x)) if torch.as_tensor(target).ndim == 0 else torch.as_tensor(target)
    r = torch.zeros_like(logits)
    r[torch.arange(len(x)), target] = logits[torch.arange(len(x)), target]
    first = next(i for i, layer in enumerate(layers) if isinstance(layer, LINEAR))
    with torch.enable_grad():
        for i in range(len(layers) - 1, -1, -1):
            layer, a = layers[i], activations[i]
            if isinstance(layer, LINEAR):
                r = _zb(layer, a, r, box) if (i == first and box is not None) else _zplus(layer, a, r)
            elif isinstance(layer, POOLS):
                r = _pool(layer, a, r)
            else:  # ReLU, Flatten, Dropout, Identity: relevance passes unchanged, reshaped to the input
                r = r.reshape(a.shape)
    return r.detach()


def explained_logits(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Logit of class ``target[i]`` for sample ``x[i]`` (what the relevance of sample i sums to)."""
    with torch.no_grad():
        return model.eval()(x)[torch.arange(len(x)), target]
