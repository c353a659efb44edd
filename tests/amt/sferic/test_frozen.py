"""The frozen CNN of chunked detection gives the eager network's outputs, for its one input length."""

from __future__ import annotations

import pytest
import torch

from amt.sferic.frozen import freeze_for_length
from amt.sferic.model import SfericUNet


def test_frozen_network_equals_the_eager_one_and_refuses_other_lengths() -> None:
    torch.manual_seed(0)
    model = SfericUNet(in_channels=2, widths=(4, 8, 16), compress=3.0).eval()
    frozen = freeze_for_length(model, 2, 1024)
    x = 5.0 * torch.randn(3, 2, 1024)
    with torch.inference_mode():
        want = model(x)
        for batch in (x[:1], x):  # any batch size
            torch.testing.assert_close(frozen(batch), want[: len(batch)], rtol=1e-6, atol=1e-6)
        with torch.no_grad():
            model.head.bias += 1.0  # the weights were copied in
        torch.testing.assert_close(frozen(x), want, rtol=1e-6, atol=1e-6)
        with pytest.raises(ValueError, match="2 x 1024"):
            frozen(x[..., :1000])
