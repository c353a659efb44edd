"""The sferic U-Net: any length, checkpoint round trip, parameter and multiply-add counts."""

import numpy as np
import pytest
import torch

from amt.sferic.model import SfericUNet, count_parameters, macs_per_sample, sferic_unet
from shared.checkpoint import load_checkpoint, save_checkpoint


@pytest.mark.parametrize("n", [1, 37, 64, 1000])
def test_one_logit_per_sample_for_any_length(n):
    m = SfericUNet(2, (4, 8, 8), 5)
    assert m(torch.zeros(3, 2, n)).shape == (3, n)


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    m = sferic_unet(in_channels=3, widths=[4, 8], kernel_size=3)
    path = save_checkpoint(
        tmp_path / "m.safetensors", m, arch="sferic_unet", config={"in_channels": 3, "widths": [4, 8], "kernel_size": 3}
    )
    m2, _ = load_checkpoint(path, expected_arch="sferic_unet")
    x = torch.randn(2, 3, 100)
    assert torch.equal(m.eval()(x), m2(x))


def test_compressed_model_reads_asinh_of_its_input_and_round_trips(tmp_path):
    torch.manual_seed(1)
    cfg = {"in_channels": 2, "widths": [4, 8], "kernel_size": 3, "compress": 4.0}
    m = sferic_unet(**cfg).eval()
    plain = SfericUNet(2, (4, 8), 3, compress=0.0).eval()
    plain.load_state_dict(m.state_dict())
    x = 1000.0 * torch.randn(2, 2, 64)  # a sferic 60 dB above unit noise
    torch.testing.assert_close(m(x), plain(4.0 * torch.asinh(x / 4.0)))
    m2, _ = load_checkpoint(save_checkpoint(tmp_path / "c.safetensors", m, arch="sferic_unet", config=cfg))
    assert m2.compress == 4.0 and torch.equal(m(x), m2(x))


def test_parameter_count_by_hand():
    m = SfericUNet(2, (4, 8), 3)
    conv = lambda ci, co, k: ci * co * k + co  # noqa: E731
    expected = (
        conv(2, 4, 3)
        + conv(4, 4, 3)  # encoder
        + conv(4, 8, 3)
        + conv(8, 8, 3)  # bottleneck
        + conv(8, 4, 2)  # transposed convolution
        + conv(8, 4, 3)
        + conv(4, 4, 3)  # decoder on the concatenation
        + conv(4, 1, 1)  # head
    )
    assert count_parameters(m) == expected


def test_multiply_adds_match_counting_by_hooks():
    m = SfericUNet(2, (4, 8, 12), 5)
    n = 512
    total = 0

    def hook(mod, inp, out):
        nonlocal total
        if isinstance(mod, torch.nn.ConvTranspose1d):
            total += inp[0].shape[-1] * mod.in_channels * mod.out_channels * mod.kernel_size[0]
        else:
            total += out.shape[-1] * mod.in_channels * mod.out_channels * mod.kernel_size[0]

    for mod in m.modules():
        if isinstance(mod, torch.nn.Conv1d | torch.nn.ConvTranspose1d):
            mod.register_forward_hook(hook)
    m(torch.zeros(1, 2, n))
    assert np.isclose(total / n, macs_per_sample(m))


def test_bad_architecture_is_refused():
    with pytest.raises(ValueError, match="odd kernel"):
        SfericUNet(2, (4, 8), 4)
