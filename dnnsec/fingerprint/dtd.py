"""Deep Taylor Decomposition (DTD): how much each input value contributes to one output of a network.

Montavon, Lapuschkin, Binder, Samek and Mueller, "Explaining nonlinear classification decisions with deep Taylor
decomposition", Pattern Recognition 65 (2017) 211-222:

- the relevance of the explained output unit (a class logit, or one sample of a segmenter's per-sample logits)
  starts as its value ``R = f_c(x)``;
- every hidden Conv1d/Conv2d/ConvTranspose1d/ConvTranspose2d/Linear layer (inputs are ReLU outputs, >= 0) passes
  relevance down by the z+ rule ``R_i = sum_j a_i w_ij^+ / (sum_i a_i w_ij^+) R_j`` (biases take none);
- the first such layer, whose inputs lie in a box ``l <= x <= h``, uses the z^B rule
  ``R_i = sum_j (x_i w_ij - l_i w_ij^+ - h_i w_ij^-) / (sum_i ...) R_j``;
- ReLU, Flatten, Dropout and reshaping pass relevance unchanged; max pooling gives a window's relevance to its
  maximum, average pooling shares it in proportion to the inputs, a concatenation returns each part's relevance
  to its source, a tensor read by several layers (a U-Net's skip, a ResNet's shortcut) sums what they return, and
  a sum of branches shares its relevance in proportion to the summands (the z rule of a layer with unit weights).

Each rule redistributes all of ``R_j``, so the input relevance sums to ``f_c(x)`` (conservation) wherever no
denominator vanishes. BatchNorm is folded into the conv or linear layer whose output it normalises (an affine map
of that output), so the rules see the layer the network really computes.

Implementation: the gradient trick of Montavon et al., "Layer-wise relevance propagation: an overview" (2019). In a
copy of the model every conv/linear layer computes its true output ``z`` but passes gradients as its rule's
``z_rule`` (``z+`` or ``z^B``) scaled by ``z / z_rule``; ReLU, pooling, concatenation, padding, slicing and sums keep
their own gradients. A gradient of 1 at the explained unit then arrives at every activation ``a`` as ``R_a / a``,
so the network's own forward pass, whatever its graph, carries the rules; the relevance is read at the input of
the first conv/linear layer the forward pass calls. Which layers a model uses is found by one forward pass with
hooks: every module it calls must have a rule (other modules are refused by name); operations written as
functions in a model's ``forward`` (``F.relu``, ``torch.cat``, ``F.pad``, ``+``) are followed by autograd and are
assumed to be among the ones above.

Inputs transformed value by value before the first layer (a compression such as the sferic CNN's ``c asinh(x /
c)``) keep the relevance of their transformed value, and the box of the z^B rule is in those transformed units;
padding, reshaping or pooling before it are followed by their rules, and a mapping that would lose relevance is
refused (the sferic U-Net pads lengths that are not a multiple of ``2 ** depth``: give it lengths it does not pad).
A unit active through a positive bias alone passes no relevance on (its inputs are zero), the usual leak of the z+
rule with positive biases.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from dnnsec.errors import ModelError

LINEAR = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.Linear)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
#: Modules that pass relevance unchanged (an empty ``nn.Sequential`` is an identity shortcut).
PASS = (nn.ReLU, nn.Flatten, nn.Dropout, nn.Identity, nn.Sequential)
POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)
#: Stabiliser added to every denominator (keeps its sign); conservation holds up to it.
EPS = 1e-9


@dataclass(frozen=True)
class Box:
    """Bounds of the values entering the first layer (the model's input units after any value-by-value
    transform): ``low <= x <= high``."""

    low: float
    high: float


def _fold(layer: nn.Module, bn: nn.Module) -> nn.Module:
    """A copy of ``layer`` (conv or linear) computing ``bn(layer(x))`` in eval mode."""
    out = copy.deepcopy(layer)
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias.detach() - bn.running_mean * scale
    # the output channels are dimension 0 of a conv's or linear layer's weight, dimension 1 of a transposed conv's
    channel_dim = 1 if isinstance(out, nn.ConvTranspose1d | nn.ConvTranspose2d) else 0
    if channel_dim == 1 and out.groups > 1:  # its dimension 1 then holds out_channels / groups
        raise ModelError(f"a BatchNorm after a grouped {type(out).__name__} cannot be folded")
    shape = [1] * out.weight.ndim
    shape[channel_dim] = -1
    with torch.no_grad():
        out.weight.mul_(scale.view(shape))
        bias = out.bias.detach() if out.bias is not None else torch.zeros_like(shift)
        out.bias = nn.Parameter(bias * scale + shift)
    return out


def _signed(layer: nn.Module, sign: float) -> nn.Module:
    """A copy of ``layer`` with only its positive (``sign`` = 1) or negative (-1) weights (0: all) and no bias."""
    out = copy.deepcopy(layer)
    with torch.no_grad():
        if sign:
            out.weight.copy_((sign * out.weight).clamp_min(0) * sign)
        if out.bias is not None:
            out.bias.zero_()
    return out


def _stabilise(z: torch.Tensor) -> torch.Tensor:
    return z + EPS * torch.where(z >= 0, 1.0, -1.0)


class _Rule(nn.Module):
    """A conv/linear layer that outputs its true value and passes gradients by its DTD rule (module notes)."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer, self.plus, self.minus, self.bare = layer, _signed(layer, 1.0), _signed(layer, -1.0), \
            _signed(layer, 0.0)
        self.is_input = False
        self.box: Box | None = None
        self.leaves: tuple[torch.Tensor, ...] = ()
        self.source: torch.Tensor | None = None

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        z = self.layer(a)
        if not self.is_input:
            rule = self.plus(a)
        else:  # a fresh leaf: the relevance is read here (module notes)
            self.source, a = a, a.detach().requires_grad_(True)
            if self.box is None:
                rule, self.leaves = self.plus(a), (a,)
            else:
                low = torch.full_like(a, self.box.low).requires_grad_(True)
                high = torch.full_like(a, self.box.high).requires_grad_(True)
                rule, self.leaves = self.bare(a) - self.plus(low) - self.minus(high), (a, low, high)
        out = rule * (z / _stabilise(rule)).detach()
        return out + (z - out).detach()  # the value is z exactly; the gradient is the rule's


def _leaf_calls(model: nn.Module, example: torch.Tensor) -> list[tuple[str, nn.Module, torch.Tensor, torch.Tensor]]:
    """``(name, module, input, output)`` of every call of a leaf module in one forward pass of ``example``."""
    calls: list = []
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: calls.append((name, mod, inp[0], out)))
             for name, m in model.named_modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model(example)
    except Exception as exc:  # a model that cannot take the probes' shape
        raise ModelError(f"{type(model).__name__}: cannot run on inputs of shape {tuple(example.shape)} ({exc})") \
            from exc
    finally:
        for h in hooks:
            h.remove()
    return calls


def _replace(root: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, child, module)


class Explainer:
    """A copy of ``model`` prepared for DTD (BatchNorm folded, every conv/linear layer carrying its rule).

    Parameters
    ----------
    model : nn.Module
        Conv1d/Conv2d/ConvTranspose/Linear layers (each optionally followed by BatchNorm), ReLU, pooling, Flatten and
        Dropout modules in any graph of concatenations, skips and sums; in eval mode. The model is not changed.
    example : torch.Tensor
        One input batch (its first sample is run once to find the modules the model calls).

    Raises
    ------
    ModelError
        If the model calls a module DTD has no rule for, a BatchNorm normalises something other than a conv or
        linear layer's output, or the model cannot run on ``example``.
    """

    def __init__(self, model: nn.Module, example: torch.Tensor) -> None:
        was_training = model.training
        model.eval()
        try:
            self._prepare(model, example[:1])
        finally:
            model.train(was_training)

    def _prepare(self, model: nn.Module, example: torch.Tensor) -> None:
        calls = _leaf_calls(model, example)
        kind = type(model).__name__
        producer = {id(out): (k, name) for k, (name, mod, _, out) in enumerate(calls) if isinstance(mod, LINEAR)}
        folds: dict[str, str] = {}
        for k, (name, mod, inp, _) in enumerate(calls):
            if isinstance(mod, NORMS):
                j, conv = producer.get(id(inp), (-1, None))
                # the very tensor the layer gave, read by no module in between (an in-place ReLU would return it)
                if conv is None or conv in folds or any(c[2] is inp for c in calls[j + 1:k]):
                    raise ModelError(f"{kind}: {name} ({type(mod).__name__}) normalises no conv/linear layer's "
                                     "output and cannot be folded")
                folds[conv] = name
            elif not isinstance(mod, LINEAR + PASS + POOLS):
                raise ModelError(f"{kind}: DTD has no rule for layer {name} ({type(mod).__name__})")
        linear = [name for name, mod, _, _ in calls if isinstance(mod, LINEAR)]
        if not linear:
            raise ModelError(f"{kind}: no conv or linear layer to explain")
        if linear.count(linear[0]) > 1:
            raise ModelError(f"{kind}: the first layer {linear[0]} is called more than once")
        self.net = copy.deepcopy(model).eval()
        modules = dict(self.net.named_modules())
        rules = {}
        for name in dict.fromkeys(linear):
            layer = modules[name] if name not in folds else _fold(modules[name], modules[folds[name]])
            rules[name] = _Rule(layer)
            _replace(self.net, name, rules[name])
        for bn in folds.values():
            _replace(self.net, bn, nn.Identity())
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.input_rule = rules[linear[0]]
        self.input_rule.is_input = True
        with torch.no_grad():  # a BatchNorm folded where something else also read the layer's output would show here
            want, got = model(example), self.net(example)
        if not torch.allclose(got, want, rtol=1e-4, atol=1e-5 * float(want.abs().max())):
            raise ModelError(f"{kind}: the prepared copy does not compute the model (largest difference "
                             f"{float((got - want).abs().max()):.3g}): a BatchNorm's input is read elsewhere too")

    def relevance(self, x: torch.Tensor, target: torch.Tensor | int | None = None,
                  box: Box | None = None) -> torch.Tensor:
        """DTD relevance of every value of ``x`` (see :func:`relevance`)."""
        self.input_rule.box = box
        xx = x.detach().requires_grad_(True)
        with torch.enable_grad():
            out = self.net(xx)
            if out.ndim != 2:
                raise ModelError(f"DTD explains one unit of a (samples, units) output; the model gives shape "
                                 f"{tuple(out.shape)}")
            if target is None:
                target = out.detach().argmax(1)
            target = torch.as_tensor(target)
            target = target.expand(len(x)) if target.ndim == 0 else target
            explained = out[torch.arange(len(x)), target]
            leaves = self.input_rule.leaves
            grads = torch.autograd.grad(explained.sum(), leaves)
            r = sum(leaf * g for leaf, g in zip(leaves, grads, strict=True))
            source, self.input_rule.leaves, self.input_rule.source = self.input_rule.source, (), None
            return _to_input(xx, source, r).detach()


def _to_input(x: torch.Tensor, source: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """The relevance ``r`` of the first layer's input ``source`` (computed from ``x``) as relevance of ``x``.

    Of the same shape as ``x``, ``source`` is taken as ``x`` transformed value by value (module notes); otherwise
    ``r`` goes back through what the model did before the first layer by the gradient trick (padding, reshaping,
    transposing and pooling follow their rules), and a mapping that loses relevance (padding that the box rule gave
    some, or a non-linear transform mixed with reshaping) is refused rather than returned shifted or short.
    """
    if r.shape == x.shape:
        return r
    out = x * torch.autograd.grad(source, x, r / _stabilise(source.detach()))[0]
    kept, total = out.detach().flatten(1).sum(1), r.detach().flatten(1).sum(1)
    if not torch.allclose(kept, total, rtol=1e-4, atol=1e-6 * float(total.abs().max())):
        raise ModelError(f"relevance of the first layer's input {tuple(r.shape[1:])} does not map back onto inputs "
                         f"{tuple(x.shape[1:])}: the model pads or transforms them before it in a way DTD cannot "
                         "follow (e.g. padding under the box rule); give inputs the model takes as they are")
    return out


def relevance(model: nn.Module, x: torch.Tensor, target: torch.Tensor | int | None = None, *,
              box: Box | None = None, explainer: Explainer | None = None) -> torch.Tensor:
    """DTD relevance of every input value for output unit ``target`` (default: the largest) of each sample.

    Parameters
    ----------
    model : nn.Module
        See :class:`Explainer`; its output is ``(samples, units)``: class logits, or a segmenter's per-sample
        logits (a unit is then a time sample).
    x : torch.Tensor
        Inputs (N, C, ...) as the model takes them.
    target : tensor of int (N,), int or None
        Output unit explained per sample.
    box : Box, optional
        Input bounds for the z^B rule at the first layer; by default the z+ rule is used there too (correct for
        non-negative inputs only).
    explainer : Explainer, optional
        ``Explainer(model, x)`` made once, to save preparing the model again for every batch.

    Returns
    -------
    torch.Tensor
        Same shape as ``x``; ``relevance.flatten(1).sum(1)`` equals the explained outputs (conservation).
    """
    return (explainer or Explainer(model, x)).relevance(x, target, box)


def explained_logits(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Output unit ``target[i]`` of sample ``x[i]`` (what the relevance of sample i sums to)."""
    with torch.no_grad():
        return model.eval()(x)[torch.arange(len(x)), target]
