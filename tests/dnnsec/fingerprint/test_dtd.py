"""Deep Taylor Decomposition (docs/acceptance.md#intrinsic-fingerprint): conservation, hand-computed cases, captum."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import dnnsec.zoo.models  # noqa: F401  (registers mnist_cnn)
from dnnsec.errors import ModelError
from dnnsec.fingerprint.dtd import Box, explainable_layers, relevance
from shared.architectures import build_model


def _randomise_bn(model: nn.Module, seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(0.5 + torch.rand(n, generator=g))
            m.weight.data.copy_(0.5 + torch.rand(n, generator=g))
            m.bias.data.copy_(-0.3 * torch.rand(n, generator=g))
    return model.eval()


def test_batchnorm_folding_computes_the_same_function():
    torch.manual_seed(0)
    model = _randomise_bn(build_model("mnist_cnn"), 1)
    x = torch.randn(3, 1, 28, 28)
    y = x
    for layer in explainable_layers(model):
        y = layer(y)
    torch.testing.assert_close(y, model(x), atol=1e-5, rtol=1e-5)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in explainable_layers(model))


def test_relevance_sums_to_the_explained_logit_with_box_rule():
    torch.manual_seed(0)
    model = _randomise_bn(build_model("mnist_cnn"), 2)
    box = Box(-0.5, 2.5)
    x = torch.rand(5, 1, 28, 28) * 3.0 - 0.5
    target = torch.tensor([0, 3, 5, 7, 9])
    r = relevance(model, x, target, box=box)
    logits = model(x).detach()[torch.arange(5), target]
    torch.testing.assert_close(r.flatten(1).sum(1), logits, atol=1e-5, rtol=1e-4)
    assert r.shape == x.shape


def test_one_linear_layer_by_hand():
    """z+ on one ReLU-fed linear layer: R_i = a_i w_i+ / sum(a w+) * f(x); z^B by its formula."""
    layer = nn.Linear(3, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[2.0, -1.0, 0.5]]))
        layer.bias.fill_(0.25)
    model = nn.Sequential(layer)
    a = torch.tensor([[1.0, 2.0, 4.0]])
    out = 2.0 - 2.0 + 2.0 + 0.25
    r = relevance(model, a, 0)
    torch.testing.assert_close(r, torch.tensor([[2.0, 0.0, 2.0]]) / 4.0 * out)
    low, high = 0.0, 5.0
    terms = torch.tensor([(1 - low) * 2.0, (2 - high) * -1.0, (4 - low) * 0.5])  # x w - l w+ - h w-
    r = relevance(model, a, 0, box=Box(low, high))
    torch.testing.assert_close(r, (terms / terms.sum() * out).view(1, 3))


def test_max_pool_gives_all_relevance_to_the_winner_and_conv1d_conserves():
    model = nn.Sequential(nn.Conv1d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2), nn.Flatten(), nn.Linear(16, 2))
    torch.manual_seed(3)
    x = torch.rand(4, 1, 16)
    r = relevance(model, x, box=Box(0.0, 1.0))
    torch.testing.assert_close(r.flatten(1).sum(1), model(x).max(1).values.detach(), atol=1e-5, rtol=1e-4)
    pool_in = torch.relu(model[0](x)).detach()
    winners = nn.functional.max_pool1d(pool_in, 2, return_indices=True)[1]
    r_pool = relevance(nn.Sequential(*model[2:]), pool_in)
    losers = torch.ones_like(pool_in, dtype=torch.bool).scatter_(2, winners, False)
    assert float(r_pool[losers].abs().max()) == 0.0


def test_residual_networks_are_refused_by_name():
    with pytest.raises(ModelError, match="chain"):
        explainable_layers(build_model("resnet8"))


def test_equal_to_captum_lrp_with_the_alpha1_beta0_rule():
    """On non-negative inputs and bias-free layers, z+ everywhere is captum's Alpha1-Beta0 rule."""
    captum = pytest.importorskip("captum.attr")
    from captum.attr._utils.lrp_rules import Alpha1_Beta0_Rule, EpsilonRule

    torch.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1, bias=False), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(6, 8, 3, padding=1, bias=False), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(8, 5, bias=False)).eval()
    x = torch.rand(3, 1, 12, 12)
    target = torch.tensor([0, 2, 4])
    ours = relevance(model, x, target)
    for m in model:
        if isinstance(m, nn.Conv2d | nn.Linear):
            m.rule = Alpha1_Beta0_Rule()
        elif isinstance(m, nn.MaxPool2d | nn.AdaptiveAvgPool2d | nn.Flatten):
            m.rule = EpsilonRule(epsilon=1e-9)
    theirs = captum.LRP(model).attribute(x.clone().requires_grad_(True), target=target).detach()
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-4)
