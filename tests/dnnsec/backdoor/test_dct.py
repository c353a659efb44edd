"""Blockwise DCT against scipy.fft.dctn (orthonormal DCT-II per 8x8 block)."""

from __future__ import annotations

import numpy as np
import scipy.fft
import torch

from dnnsec.backdoor.dct import block_dct, block_idct, dct_matrix


def test_block_dct_matches_scipy_on_every_block():
    x = torch.rand(2, 3, 28, 36, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    coeffs = block_dct(x)
    assert coeffs.shape == (2, 3, 3, 4, 8, 8)
    for by in range(3):
        for bx in range(4):
            ref = scipy.fft.dctn(x[1, 2, 8 * by:8 * by + 8, 8 * bx:8 * bx + 8].numpy(), type=2, norm="ortho")
            np.testing.assert_allclose(coeffs[1, 2, by, bx].numpy(), ref, atol=1e-12)


def test_round_trip_restores_image_and_leaves_partial_blocks_alone():
    x = torch.rand(1, 1, 30, 29, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    coeffs = block_dct(x)
    coeffs[..., 2, 3] += 5.0
    y = block_idct(coeffs, x)
    assert torch.equal(y[..., 24:, :], x[..., 24:, :]) and torch.equal(y[..., :, 24:], x[..., :, 24:])
    np.testing.assert_allclose(block_idct(block_dct(x), x).numpy(), x.numpy(), atol=1e-12)
    ref = scipy.fft.idctn(scipy.fft.dctn(x[0, 0, 8:16, 16:24].numpy(), norm="ortho")
                          + np.pad([[5.0]], ((2, 5), (3, 4))), norm="ortho")
    np.testing.assert_allclose(y[0, 0, 8:16, 16:24].numpy(), ref, atol=1e-12)


def test_dct_matrix_is_orthonormal():
    d = dct_matrix()
    np.testing.assert_allclose((d @ d.T).numpy(), np.eye(8), atol=1e-14)
