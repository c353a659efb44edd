"""Intrinsic fingerprint (docs/acceptance.md#intrinsic-fingerprint): SSIM checked against a second implementation,
the model left unchanged, copies told from independent models by the null-distribution p-value, on a 1-D chain CNN
(the shape of a sferic detector's input) and on images."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from dnnsec.attacks.finetune import finetune
from dnnsec.attacks.prune import global_magnitude_prune
from dnnsec.backdoor.metrics import ssim
from dnnsec.fingerprint.adaptive import adaptive_finetune, saliency
from dnnsec.fingerprint.dtd import Box
from dnnsec.fingerprint.intrinsic import (
    FingerprintMatchError,
    IntrinsicFingerprint,
    NullCalibration,
    calibrate,
    cosine_maps,
    ssim_maps,
)


def test_ssim_maps_of_signals_equal_those_of_images_whose_rows_repeat_them_and_are_one_on_identical_maps():
    # the 2-D path is checked against an independent reference in tests/dnnsec/backdoor/test_metrics.py; an image
    # of 11 identical rows seen through the separable 11 x 11 Gaussian is the signal through its 1-D factor
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(3, 1, 20, 20, generator=g), torch.rand(3, 1, 20, 20, generator=g)
    assert float(ssim_maps(a, b).mean()) == pytest.approx(ssim(a, b), abs=1e-6)
    torch.testing.assert_close(ssim_maps(a, a), torch.ones(3))
    w, v = torch.rand(2, 1, 64, generator=g), torch.rand(2, 1, 64, generator=g)
    w2, v2 = (z[:, :, None].expand(-1, -1, 11, -1) for z in (w, v))
    torch.testing.assert_close(ssim_maps(w, v), ssim_maps(w2, v2), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(ssim_maps(w, w), torch.ones(2))
    assert float(ssim_maps(w, v).max()) < 0.9
    torch.testing.assert_close(cosine_maps(a, 2 * a), torch.ones(3))


def _pulses(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Three classes of 1-D windows (128 samples): a damped oscillation early, late, or none, in noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    t = torch.arange(128.0)
    x = 0.3 * torch.randn(n, 1, 128, generator=g)
    for k, at in ((0, 30), (1, 90)):
        s = (t - at).clamp_min(0)
        x[y == k, 0] += 2.0 * torch.exp(-s / 8) * torch.sin(s / 2) * (t >= at)
    return x, y


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv1d(1, 8, 7, padding=3), nn.BatchNorm1d(8), nn.ReLU(), nn.MaxPool1d(2),
                         nn.Conv1d(8, 16, 5, padding=2), nn.BatchNorm1d(16), nn.ReLU(), nn.MaxPool1d(2),
                         nn.Conv1d(16, 16, 5, padding=2), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten(),
                         nn.Linear(16, 3))


@pytest.fixture(scope="module")
def one_d():
    torch.set_num_threads(1)
    x, y = _pulses(800, 1)
    models = [finetune(_net(seed), x, y, steps=120, lr=3e-3, seed=seed) for seed in range(7)]
    return x, y, models


@pytest.mark.slow
def test_copies_are_claimed_and_independent_models_are_not_on_a_1d_cnn(one_d):
    x, y, models = one_d
    owner, null, held = models[0], models[1:5], models[5:]
    box = Box(float(x.min()), float(x.max()))
    before = {k: v.clone() for k, v in owner.state_dict().items()}
    fp = IntrinsicFingerprint.of(owner, _pulses(32, 9)[0].clamp(box.low, box.high), box)
    assert all(torch.equal(before[k], v) for k, v in owner.state_dict().items())  # never modified
    assert fp.similarity(owner) == pytest.approx(1.0, abs=1e-6)
    cal = calibrate(fp, null)
    tuned = finetune(copy.deepcopy(owner), x[400:], y[400:], steps=60, lr=1e-3, seed=5)
    pruned = copy.deepcopy(owner)
    global_magnitude_prune(pruned, 0.5)
    copies = [fp.similarity(m) for m in (tuned, pruned)]
    independents = [fp.similarity(m) for m in held]
    assert min(copies) > max(independents)
    assert all(cal.p_value(s) < 0.01 for s in copies)
    assert not any(cal.is_copy(s) for s in independents)
    assert cal.rank_p_value(max(copies)) == pytest.approx(1 / (len(null) + 1))


def test_null_calibration_p_values():
    cal = NullCalibration(np.array([0.5, 0.6, 0.7]))
    assert cal.p_value(0.6) == pytest.approx(0.5)
    assert cal.p_value(0.6 + 0.1 * 2.326348) == pytest.approx(0.01, rel=1e-4)  # z = 2.326: one-sided 1 %
    assert cal.rank_p_value(0.65) == pytest.approx(2 / 4)
    with pytest.raises(FingerprintMatchError, match="at least 3"):
        NullCalibration(np.array([0.1, 0.2]))


def test_unknown_metric_is_refused(one_d):
    x, _, models = one_d
    fp = IntrinsicFingerprint.of(models[0], x[:4])
    with pytest.raises(FingerprintMatchError, match="unknown similarity"):
        fp.similarity(models[1], "psnr")


def test_adaptive_attacker_moves_the_saliency_it_is_told_to(one_d):
    x, y, models = one_d
    owner = models[0]
    moved = adaptive_finetune(owner, x[400:], y[400:], steps=40, weight=10.0, seed=1)
    kept = adaptive_finetune(owner, x[400:], y[400:], steps=40, weight=0.0, seed=1)
    probe, label = x[:64], y[:64]

    def cos(m):
        return float(nn.functional.cosine_similarity(saliency(m, probe, label), saliency(owner, probe, label))
                 .mean().detach())

    assert cos(moved) < cos(kept)
