"""The embedding loss and batches against direct computations."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from dnnsec.watermark.embed import NEGATIVE, EmbedConfig, MixedBatches, watermark_loss


def test_loss_is_cross_entropy_plus_minus_log_of_not_the_extra_class() -> None:
    torch.manual_seed(0)
    logits = torch.randn(7, 11, dtype=torch.float64)
    y = torch.tensor([3, 10, 0, NEGATIVE, NEGATIVE, 10, NEGATIVE])
    p = F.softmax(logits, 1)
    expected = [-torch.log(p[i, y[i]]) if y[i] >= 0 else -torch.log(1 - p[i, -1]) for i in range(7)]
    assert torch.allclose(watermark_loss(logits, y), torch.stack(expected).mean(), atol=1e-12)


def test_batches_mix_the_requested_counts_and_repeat_per_step() -> None:
    clean_x, clean_y = torch.randn(50, 1, 4, 4), torch.randint(0, 10, (50,))
    keys, negatives, decoys = torch.randn(5, 1, 4, 4), torch.randn(8, 1, 4, 4), torch.randn(9, 1, 4, 4)
    cfg = EmbedConfig(clean_batch=6, key_batch=3, negative_batch=2, decoy_batch=4, seed=1)
    batches = MixedBatches(clean_x, clean_y, keys, 10, negatives, cfg, decoys)
    x, y = batches.batch(5)
    assert x.shape == (15, 1, 4, 4)
    assert y.tolist()[6:] == [10] * 3 + [NEGATIVE] * 6
    x2, y2 = batches.batch(5)
    assert torch.equal(x, x2) and torch.equal(y, y2)
