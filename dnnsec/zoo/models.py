"""Zoo architectures, registered in ``shared.architectures`` on import.

- ``mnist_cnn``: a three-convolution CNN with batch normalisation for 1x28x28 inputs (~24 k parameters).
- ``resnet8`` / ``resnet20``: CIFAR-style residual networks (He et al., "Deep Residual Learning for Image
  Recognition", CVPR 2016, section 4.2) with 3 stages of widths 16-32-64 and n = 1 or 3 basic blocks per stage
  (6n + 2 layers; ~78 k and ~0.27 M parameters).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from shared.architectures import register_model


def _conv_bn(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out)]


class MnistCNN(nn.Module):
    """Small CNN for 1x28x28 images: 3 conv-BN-ReLU stages, global average pooling, one linear layer."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: int = 16) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            *_conv_bn(in_channels, w), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            *_conv_bn(w, 2 * w), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            *_conv_bn(2 * w, 4 * w), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.fc = nn.Linear(4 * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity shortcut (a 1x1 conv-BN shortcut where the shape changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(c_in, c_out, stride)
        self.conv2, self.bn2 = _conv_bn(c_out, c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 3x32x32 images with stage widths ``width``, ``2 width``, ``4 width``."""

    def __init__(self, depth: int = 20, num_classes: int = 10, in_channels: int = 3, width: int = 16) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(f"CIFAR ResNet depth must be 6n + 2 with n >= 1, got {depth}")
        n = (depth - 2) // 6
        self.stem = nn.Sequential(*_conv_bn(in_channels, width), nn.ReLU(inplace=True))
        blocks: list[nn.Module] = []
        c_in = width
        for stage in range(3):
            c_out = width * 2**stage
            for i in range(n):
                blocks.append(BasicBlock(c_in, c_out, 2 if (stage > 0 and i == 0) else 1))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(c_in, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.blocks(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


@register_model("mnist_cnn")
def build_mnist_cnn(num_classes: int = 10, in_channels: int = 1, width: int = 16) -> nn.Module:
    """Build :class:`MnistCNN`."""
    return MnistCNN(num_classes=num_classes, in_channels=in_channels, width=width)


@register_model("resnet8")
def build_resnet8(num_classes: int = 10, in_channels: int = 3, width: int = 16) -> nn.Module:
    """Build a CIFAR ResNet-8 (~78 k parameters at width 16)."""
    return CifarResNet(8, num_classes=num_classes, in_channels=in_channels, width=width)


@register_model("resnet20")
def build_resnet20(num_classes: int = 10, in_channels: int = 3, width: int = 16) -> nn.Module:
    """Build a CIFAR ResNet-20 (~0.27 M parameters at width 16)."""
    return CifarResNet(20, num_classes=num_classes, in_channels=in_channels, width=width)
