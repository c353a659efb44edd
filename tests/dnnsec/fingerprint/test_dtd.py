"""Deep Taylor Decomposition (docs/acceptance.md#intrinsic-fingerprint): conservation, hand-computed cases, captum,
the chain rules against a layer-by-layer second implementation, residual networks and a 1-D U-Net."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import dnnsec.zoo.models  # noqa: F401  (registers mnist_cnn)
from dnnsec.errors import ModelError
from dnnsec.fingerprint.dtd import Box, Explainer, relevance
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
    prepared = Explainer(model, x).net
    torch.testing.assert_close(prepared(x), model(x), atol=1e-5, rtol=1e-5)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in prepared.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the model itself is unchanged


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


def test_residual_network_conserves_relevance():
    """ResNet-8: BatchNorm folded where it sits in a block's attributes, shortcut sums shared in proportion."""
    torch.manual_seed(5)
    model = _randomise_bn(build_model("resnet8"), 3)
    x = torch.rand(3, 3, 32, 32)
    r = relevance(model, x, box=Box(0.0, 1.0))
    torch.testing.assert_close(r.flatten(1).sum(1), model(x).max(1).values.detach(), atol=1e-4, rtol=1e-3)


def test_modules_without_a_rule_are_refused_by_name():
    with pytest.raises(ModelError, match=r"no rule for layer 1 \(Tanh\)"):
        Explainer(nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)), torch.rand(2, 4))
    with pytest.raises(ModelError, match="normalises no conv/linear"):
        Explainer(nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 2)).eval(), torch.rand(2, 4))
    after_relu = nn.Sequential(nn.Linear(4, 3), nn.ReLU(inplace=True), nn.BatchNorm1d(3), nn.Linear(3, 2)).eval()
    with pytest.raises(ModelError, match=r"2 \(BatchNorm1d\) normalises no conv/linear"):
        Explainer(after_relu, torch.rand(2, 4))  # the ReLU returns the layer's own tensor, changed in place


def lin(layer: nn.Module, v: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The layer's linear map with another weight and no bias."""
    return layer._conv_forward(v, weight, None) if isinstance(layer, nn.Conv1d) else v @ weight.T


def transpose(layer: nn.Module, v: torch.Tensor, weight: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """The transpose of that map applied to ``s`` (the vector-Jacobian product at any ``v``)."""
    v = v.detach().requires_grad_(True)
    return torch.autograd.grad(lin(layer, v, weight), v, s)[0]


def _chain_relevance(layers: list[nn.Module], x: torch.Tensor, target: torch.Tensor, box: Box) -> torch.Tensor:
    """A second implementation for chains: the rules applied layer by layer, backwards, each by its formula."""
    acts = [x]
    for layer in layers:
        acts.append(layer(acts[-1]).detach())
    r = torch.zeros_like(acts[-1])
    r[torch.arange(len(x)), target] = acts[-1][torch.arange(len(x)), target]
    for i in range(len(layers) - 1, -1, -1):
        layer, a = layers[i], acts[i]
        if isinstance(layer, nn.Conv1d | nn.Linear):
            w = layer.weight
            if i == 0:  # z^B: R = (x w - l w+ - h w-) / sum(...) R_j, each term through the layer's transpose
                lo, hi = torch.full_like(a, box.low), torch.full_like(a, box.high)
                z = lin(layer, a, w) - lin(layer, lo, w.clamp_min(0)) - lin(layer, hi, w.clamp_max(0))
                s = (r / z).detach()
                r = sum(sign * v * transpose(layer, v, weight, s) for sign, v, weight in
                        ((1.0, a, w), (-1.0, lo, w.clamp_min(0)), (-1.0, hi, w.clamp_max(0))))
            else:  # z+
                r = a * transpose(layer, a, w.clamp_min(0), r / lin(layer, a, w.clamp_min(0)))
        elif isinstance(layer, nn.MaxPool1d):
            idx = nn.functional.max_pool1d(a, layer.kernel_size, return_indices=True)[1]
            r = torch.zeros_like(a).scatter_(2, idx, r)
        else:  # ReLU, Flatten
            r = r.reshape(a.shape)
        r = r.detach()
    return r


def test_chain_relevance_equals_a_layer_by_layer_second_implementation():
    torch.manual_seed(6)
    model = nn.Sequential(nn.Conv1d(2, 6, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2), nn.Conv1d(6, 8, 3, padding=1),
                          nn.ReLU(), nn.MaxPool1d(2), nn.Flatten(), nn.Linear(8 * 8, 16), nn.ReLU(),
                          nn.Linear(16, 4)).eval()
    x = torch.rand(5, 2, 32) * 2.0 - 1.0
    target = torch.tensor([0, 1, 2, 3, 1])
    box = Box(-1.0, 1.0)
    with torch.no_grad():
        ours = relevance(model, x, target, box=box)
    torch.testing.assert_close(ours, _chain_relevance(list(model), x, target, box), atol=1e-6, rtol=1e-4)


def test_sferic_unet_relevance_conserves_through_skips_and_transposed_convolutions():
    """The sferic CNN (a 1-D U-Net with an input compression; amt.sferic.model) explained at one output sample."""
    from amt.sferic.model import SfericUNet

    torch.manual_seed(7)
    model = SfericUNet(widths=(4, 8, 16), kernel_size=5, compress=4.0, fingerprint_channels=1).eval()
    x = torch.randn(3, 2, 256) * 3.0
    target = torch.tensor([10, 131, 250])
    compressed = 4.0 * torch.asinh(x / 4.0)
    box = Box(float(compressed.min()), float(compressed.max()))
    r = relevance(model, x, target, box=box)
    assert r.shape == x.shape
    torch.testing.assert_close(r.flatten(1).sum(1), model(x)[torch.arange(3), target].detach(), atol=1e-4,
                               rtol=1e-3)
    # the explanation of sample 10 stays within the network's receptive field (about +-46 samples here)
    assert float(r[0, :, :40].abs().min(1).values.max()) > 0.0 and float(r[0, :, 70:].abs().max()) == 0.0
    odd = torch.randn(2, 2, 61)  # padded to 64 inside the model: under the box rule the padding would take a share
    with pytest.raises(ModelError, match="does not map back"):
        relevance(model, odd, 5, box=box)


def test_relevance_goes_back_through_front_padding_and_a_transpose_before_the_first_layer() -> None:
    class Padded(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(3, 4, 3)
            self.fc = nn.Linear(4 * 10, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (N, length 10, 3 channels)
            return self.tail(nn.functional.pad(x.transpose(1, 2), (2, 0)))

        def tail(self, xt: torch.Tensor) -> torch.Tensor:
            return self.fc(torch.relu(self.conv(xt)).flatten(1))

    class Tail(nn.Module):  # the same layers reading the padded, transposed input directly
        def __init__(self, m: Padded) -> None:
            super().__init__()
            self.conv, self.fc = m.conv, m.fc

        def forward(self, xt: torch.Tensor) -> torch.Tensor:
            return self.fc(torch.relu(self.conv(xt)).flatten(1))

    torch.manual_seed(8)
    model = Padded().eval()
    x = torch.rand(3, 10, 3)
    target = model(x).argmax(1)
    r = relevance(model, x, target)  # z+ (inputs >= 0): the padding holds zeros and takes no relevance
    r_tail = relevance(Tail(model).eval(), nn.functional.pad(x.transpose(1, 2), (2, 0)), target)
    torch.testing.assert_close(r, r_tail[:, :, 2:].transpose(1, 2))  # not shifted, not scrambled
    torch.testing.assert_close(r.sum((1, 2)), model(x).max(1).values.detach(), rtol=1e-4, atol=1e-6)


def test_the_callers_model_keeps_its_mode_and_grouped_transposed_batchnorm_is_refused() -> None:
    model = nn.Sequential(nn.Conv1d(1, 4, 3), nn.BatchNorm1d(4), nn.ReLU(), nn.Flatten(), nn.Linear(24, 2)).train()
    Explainer(model, torch.rand(2, 1, 8))
    assert model.training
    grouped = nn.Sequential(nn.ConvTranspose1d(4, 4, 3, groups=2), nn.BatchNorm1d(4), nn.Flatten(),
                            nn.Linear(40, 2)).eval()
    with pytest.raises(ModelError, match="grouped ConvTranspose1d"):
        Explainer(grouped, torch.rand(2, 4, 8))
