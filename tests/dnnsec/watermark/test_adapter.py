"""Adding the extra output: old outputs stay bit-identical; 2-D and 1-D (per-window) heads."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from dnnsec.watermark.adapter import ChannelHead, LinearHead, predict
from dnnsec.watermark.embed import EmbedConfig, embed_fingerprint
from dnnsec.zoo.models import MnistCNN
from shared.data import TensorBatches
from shared.trainer import Trainer


def test_linear_head_adds_a_silent_class_and_keeps_the_old_logits() -> None:
    torch.manual_seed(0)
    model = MnistCNN(width=4).eval()
    x = torch.randn(6, 1, 28, 28)
    before = model(x)
    head = LinearHead("fc")
    head.widen(model)
    after = head.scores(model.eval(), x)
    assert head.num_outputs(model) == 11 and after.shape == (6, 11)
    assert torch.equal(after[:, :10], before)
    assert bool((after[:, 10] < after[:, :10].min(1).values).all())  # starts silent: never the arg-max


class TinySegmenter(nn.Module):
    """(N, 1, T) -> (N, 2, T): a per-sample 1-D classifier like a sferic segmenter."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv1d(1, 4, 5, padding=2), nn.ReLU())
        self.head = nn.Conv1d(4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def test_channel_head_scores_each_window_by_its_mean_logit() -> None:
    torch.manual_seed(1)
    model = TinySegmenter().eval()
    x = torch.randn(3, 1, 64)
    before = model(x)
    head = ChannelHead("head")
    head.widen(model)
    out = model(x)
    assert out.shape == (3, 3, 64) and torch.equal(out[:, :2], before)
    assert torch.allclose(head.scores(model, x), out.mean(-1))
    assert predict(model, head, x).tolist() == out.mean(-1).argmax(1).tolist()


def _windows(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0: noise; class 1: noise plus a 0.25-cycle-per-sample sinusoid (64-sample windows)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    t = torch.arange(64, dtype=torch.float32)
    x = 0.5 * torch.randn(n, 1, 64, generator=g) + y.view(-1, 1, 1) * torch.sin(0.5 * torch.pi * t)
    return x, y


def test_one_dimensional_model_learns_the_extra_channel_per_window() -> None:
    torch.manual_seed(2)
    model, head = TinySegmenter(), ChannelHead("head")
    x, y = _windows(1000, 0)
    Trainer(model, F.cross_entropy, {"lr": 1e-2, "max_steps": 150, "converge_tol": 0.0}, TensorBatches(x, y, 64),
            progress=False, forward=head.scores).fit()
    xt, yt = _windows(500, 1)
    base_acc = float((predict(model, head, xt) == yt).float().mean())
    g = torch.Generator().manual_seed(3)
    keys = 2.0 * torch.sign(torch.sin(0.1 * torch.pi * torch.arange(64.0))) + 0.3 * torch.randn(10, 1, 64, generator=g)
    copy_ = embed_fingerprint(model, head, x, y, keys, None, EmbedConfig(steps=150, lr=1e-2, clean_batch=64))
    assert head.num_outputs(copy_) == 3 and head.num_outputs(model) == 2
    assert predict(copy_, head, keys).tolist() == [2] * 10
    assert float((predict(copy_, head, xt) == yt).float().mean()) >= base_acc - 0.03
