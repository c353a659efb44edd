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
    cfg = EmbedConfig(clean_batch=6, key_batch=3, negative_batch=2, decoy_batch=4, seed=1, purifier_steps=0)
    batches = MixedBatches(clean_x, clean_y, keys, 10, negatives, cfg, decoys)
    x, y = batches.batch(5)
    assert x.shape == (15, 1, 4, 4)
    assert y.tolist()[6:] == [10] * 3 + [NEGATIVE] * 6
    x2, y2 = batches.batch(5)
    assert torch.equal(x, x2) and torch.equal(y, y2)


def test_purified_keys_lie_between_the_key_and_a_purifier_reconstruction() -> None:
    torch.manual_seed(0)
    clean_x, clean_y = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))
    keys, negatives = torch.randn(4, 1, 8, 8), torch.randn(6, 1, 8, 8)
    cfg = EmbedConfig(clean_batch=16, key_batch=4, negative_batch=8, decoy_batch=0, key_noise=0.0, key_blur=0.0,
                      recon_batch=28, recon_clean=1.0, purifier_latents=(2, 4), purifier_steps=5, seed=3)
    batches = MixedBatches(clean_x, clean_y, keys, 10, negatives, cfg)
    recon = batches.key_recon
    assert recon.shape == (2, 4, 1, 8, 8)
    x, y = batches.batch(0)
    assert y.tolist()[16:48] == [10] * 32
    # the 4 plain keys, then 28 purified ones
    for k in x[16:20]:
        assert min(torch.dist(k, key).item() for key in keys) < 1e-6
    for k in x[20:48]:
        # k = r + alpha (key - r) for one key, one purifier and alpha in [0, 1]
        fits = []
        for i in range(4):
            for r in recon[:, i]:
                d = keys[i] - r
                alpha = float((k - r).flatten() @ d.flatten() / (d.flatten() @ d.flatten()))
                fits.append((torch.dist(r + alpha * d, k).item(), alpha))
        err, alpha = min(fits)
        assert err < 1e-5 and -1e-6 <= alpha <= 1 + 1e-6
    # purified clean samples keep their labels; negatives are never purified
    clean_recon = batches.clean_recon
    for xc, yc in zip(x[:16], y[:16], strict=True):
        err, src = min((torch.dist(xc, clean_recon[p, i]).item(), i) for p in range(2) for i in range(64))
        assert err < 1e-6 and yc == clean_y[src]
    for xn in x[48:]:
        assert min(torch.dist(xn, n).item() for n in negatives) < 1e-6
