"""The sferic CNN: a small 1-D fully convolutional U-Net giving a per-sample sferic logit.

After the encoder-decoder of Jiang et al. (2023, Geophysics 88(4), "Deep learning based sferics recognition
for AMT data processing in the dead band"), itself a 1-D U-Net (Ronneberger et al., 2015, MICCAI): an
encoder of convolution blocks and 2x max-pooling, a bottleneck, and a decoder of 2x transposed
convolutions whose outputs are concatenated with the encoder features of the same scale. The input is the
normalised magnetic channels (:mod:`amt.sferic.preprocess`), shape ``(batch, channels, samples)``, any
number of samples; the output is one logit per input sample, shape ``(batch, samples)``.

With a knee ``compress = c > 0`` the input first passes through ``c asinh(x / c)``: linear up to about ``c``
times the robust noise scale (where weak sferics live), logarithmic above, so a sferic 60 dB above the noise
reaches about 25 (``c = 4``) instead of 1000.
Without it the network met only the amplitudes of its training range: trained to 20 dB, the 2023 default
found none of the sferics 40-60 dB above the noise (held-out event recall 0), the strongest and most useful
ones in the dead band.

A model issued to one user may carry ``fingerprint_channels`` extra output channels of the head (the user's
fingerprint, :mod:`dnnsec.watermark.segmenter`): they are computed with the logit but never returned by
:meth:`SfericUNet.forward`, so detection reads channel 0 alone; :meth:`SfericUNet.head_logits` returns them all.

The output head reads the last decoder's features before their ReLU. With a ReLU there, training left
the positively weighted output features dead (zero everywhere), so the logit could only fall below the
head's bias and the probability never exceeded sigmoid(bias) = 0.543; signed features cannot die that way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from shared.architectures import register_model


def _block(c_in: int, c_out: int, kernel_size: int, signed: bool = False) -> nn.Sequential:
    """Two convolutions with ReLUs; ``signed`` leaves out the last ReLU (features of either sign)."""
    pad = kernel_size // 2
    layers = [
        nn.Conv1d(c_in, c_out, kernel_size, padding=pad),
        nn.ReLU(inplace=True),
        nn.Conv1d(c_out, c_out, kernel_size, padding=pad),
    ]
    return nn.Sequential(*layers) if signed else nn.Sequential(*layers, nn.ReLU(inplace=True))


class SfericUNet(nn.Module):
    """1-D U-Net: ``len(widths) - 1`` pooling levels, the last width is the bottleneck.

    Parameters
    ----------
    in_channels
        Magnetic input channels (2: Hx, Hy; 3 with Hz).
    widths
        Feature channels per level, finest first; e.g. ``(8, 16, 32)`` pools twice.
    kernel_size
        Odd convolution length in samples.
    compress
        Knee ``c`` of the input compression ``c asinh(x / c)``; 0 reads ``x`` as it is (see the module notes).
    fingerprint_channels
        Extra head channels beside the sferic logit (0 for a plain model; 1 in a fingerprinted copy).
    """

    def __init__(
        self,
        in_channels: int = 2,
        widths: tuple[int, ...] = (8, 16, 32),
        kernel_size: int = 7,
        compress: float = 0.0,
        fingerprint_channels: int = 0,
    ) -> None:
        super().__init__()
        if not compress >= 0:
            raise ValueError(f"compress must be a knee >= 0 (0: off), got {compress}")
        self.compress = float(compress)
        if fingerprint_channels < 0:
            raise ValueError(f"fingerprint_channels must be >= 0, got {fingerprint_channels}")
        if len(widths) < 2 or kernel_size % 2 == 0 or in_channels < 1:
            raise ValueError(f"need >= 2 widths, an odd kernel and >= 1 input; got {widths}, {kernel_size}")
        self.depth = len(widths) - 1
        self.encoders = nn.ModuleList()
        c = in_channels
        for w in widths[:-1]:
            self.encoders.append(_block(c, w, kernel_size))
            c = w
        self.bottleneck = _block(c, widths[-1], kernel_size)
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        c = widths[-1]
        for level, w in reversed(list(enumerate(widths[:-1]))):
            self.ups.append(nn.ConvTranspose1d(c, w, 2, stride=2))
            self.decoders.append(_block(2 * w, w, kernel_size, signed=level == 0))
            c = w
        self.head = nn.Conv1d(c, 1 + fingerprint_channels, 1)

    @property
    def multiple(self) -> int:
        """Input lengths are padded to a multiple of this (``2 ** depth``) internally."""
        return 2**self.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, samples)`` for input ``(batch, channels, samples)``."""
        return self.head_logits(x)[:, 0]

    def head_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Every head channel ``(batch, 1 + fingerprint_channels, samples)``: the sferic logit first."""
        n = x.shape[-1]
        if self.compress > 0:
            x = self.compress * torch.asinh(x / self.compress)
        pad = (-n) % self.multiple
        if pad:
            x = F.pad(x, (0, pad))
        skips = []
        for enc in self.encoders:
            x = enc(x)
            skips.append(x)
            x = F.max_pool1d(x, 2)
        x = self.bottleneck(x)
        for up, dec, skip in zip(self.ups, self.decoders, reversed(skips), strict=True):
            x = dec(torch.cat([up(x), skip], dim=1))
        return self.head(x)[:, :, :n]


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def macs_per_sample(model: SfericUNet) -> float:
    """Multiply-adds per input sample of one forward pass (convolutions and transposed convolutions).

    A convolution at pooling level ``l`` runs on ``1 / 2^l`` of the input samples and costs
    ``c_in * c_out * kernel`` multiply-adds per output sample.
    """
    total = 0.0

    def add(module: nn.Module, level: int) -> None:
        nonlocal total
        for m in module.modules():
            if isinstance(m, nn.Conv1d):
                total += m.in_channels * m.out_channels * m.kernel_size[0] / 2**level
            elif isinstance(m, nn.ConvTranspose1d):  # each input sample feeds kernel outputs
                total += m.in_channels * m.out_channels * m.kernel_size[0] / 2 ** (level + 1)

    for level, enc in enumerate(model.encoders):
        add(enc, level)
    add(model.bottleneck, model.depth)
    for i, (up, dec) in enumerate(zip(model.ups, model.decoders, strict=True)):
        level = model.depth - 1 - i
        add(up, level)
        add(dec, level)
    add(model.head, 0)
    return total


@register_model("sferic_unet")
def sferic_unet(
    in_channels: int = 2,
    widths: list[int] | tuple[int, ...] = (8, 16, 32),
    kernel_size: int = 7,
    compress: float = 0.0,
    fingerprint_channels: int = 0,
) -> SfericUNet:
    """Registry builder of :class:`SfericUNet` (``widths`` may come from JSON as a list)."""
    return SfericUNet(
        in_channels=in_channels,
        widths=tuple(int(w) for w in widths),
        kernel_size=kernel_size,
        compress=compress,
        fingerprint_channels=int(fingerprint_channels),
    )
