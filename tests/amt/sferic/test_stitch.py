"""Chunked, stitched inference gives the one-pass probabilities."""

import numpy as np
import pytest
import torch

from amt.sferic.model import SfericUNet
from amt.sferic.stitch import predict_proba


@pytest.mark.parametrize(("window", "margin"), [(1024, 128), (4096, 512), (2000, 100)])
def test_many_chunks_equal_one_chunk(window, margin):
    torch.manual_seed(1)
    m = SfericUNet(2, (4, 8, 8), 7)
    x = np.random.default_rng(0).standard_normal((2, 20_003)).astype(np.float32)
    whole = predict_proba(m, x, window=50_000)
    chunked = predict_proba(m, x, window=window, margin=margin)
    assert np.all(np.isfinite(chunked))
    np.testing.assert_allclose(chunked, whole, atol=1e-4)


def test_too_small_margin_is_visible():
    # A margin far below the receptive field must differ from the one-pass answer: the test above can fail.
    torch.manual_seed(1)
    m = SfericUNet(2, (4, 8, 8), 7)
    x = np.random.default_rng(0).standard_normal((2, 5_000)).astype(np.float32)
    whole = predict_proba(m, x, window=50_000)
    chunked = predict_proba(m, x, window=64, margin=8)
    assert np.abs(chunked - whole).max() > 1e-4
