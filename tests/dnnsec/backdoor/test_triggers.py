"""Trigger invariants: embed / extract of DCT triggers, where each trigger writes, imperceptibility."""

from __future__ import annotations

import itertools

import pytest
import torch

from dnnsec.backdoor.dct import block_dct
from dnnsec.backdoor.metrics import psnr
from dnnsec.backdoor.triggers import BlendTrigger, PatchTrigger, PhysicalTrigger, dct_triggers


def _grey(shape=(4, 3, 32, 32)) -> torch.Tensor:
    return torch.full(shape, 128 / 255)


@pytest.mark.parametrize("channels", [1, 3])
def test_dct_trigger_is_extracted_where_written_and_nowhere_else(channels):
    x = _grey((2, channels, 40, 36))
    for t in dct_triggers(5, channels):
        y = t.apply(x)
        got = t.extract(y)  # rounding to 8-bit levels moves a coefficient by at most 8 x 0.5 grey levels
        expected = torch.tensor(t.signs, dtype=torch.float64) * t.amplitude
        assert torch.allclose(got, expected.expand_as(got), atol=2.0)
        coeffs = block_dct((y - x).double() * 255)
        untouched = [c for c in range(channels) if c not in t.channels]
        if untouched:
            assert coeffs[:, untouched].abs().max() == 0
        mask = torch.ones(8, 8, dtype=torch.bool)
        for u, v in t.coefficients:
            mask[u, v] = False
        assert coeffs[:, list(t.channels)][..., mask].abs().mean() < 0.5


def test_dct_triggers_are_distinct_in_channel_or_pattern_and_imperceptible():
    ts = dct_triggers(6, 3)
    assert len({(t.channels, t.coefficients) for t in ts}) == 6
    assert len({t.channels for t in ts}) >= 4
    x = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0)).mul(255).round().div(255)
    for t in ts:
        assert psnr(x, t.apply(x)) > 35.0
    for a, b in itertools.combinations(ts, 2):
        assert not torch.equal(a.apply(x), b.apply(x))
    with pytest.raises(ValueError):
        dct_triggers(7, 3)


def test_patch_and_physical_triggers_change_only_their_corner_box():
    x = _grey()
    for t in (PatchTrigger(), PhysicalTrigger("square"), PhysicalTrigger("triangle"), PhysicalTrigger("glasses")):
        diff = (t.apply(x) != x).any(dim=(0, 1))
        rows, cols = torch.nonzero(diff, as_tuple=True)
        assert len(rows) > 0 and rows.min() >= 32 // 2 and cols.min() >= 32 // 2
    square = (PhysicalTrigger("square").apply(x) != x).any(dim=(0, 1)).sum()
    triangle = (PhysicalTrigger("triangle").apply(x) != x).any(dim=(0, 1)).sum()
    assert 0.3 * square < triangle < 0.75 * square
    with pytest.raises(ValueError):
        PhysicalTrigger("circle").apply(x)


def test_blend_trigger_mixes_a_fixed_key_at_alpha():
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    t = BlendTrigger(alpha=0.2, seed=7)
    key = t.key((1, 28, 28))
    assert torch.equal(key, t.key((1, 28, 28)))
    assert torch.allclose(t.apply(x), 0.8 * x + 0.2 * key, atol=0.5 / 255 + 1e-6)
