"""Image data sets as 8-bit pixels (N, C, H, W), the form triggers and codecs work on, with their standardisation.

Reads through :func:`dnnsec.zoo.data.load_dataset` (``mnist``, ``cifar10`` or a user's ``.npz``, checked there) and
undoes its per-channel standardisation exactly (values are k / 255 before it), so a model trained here sees inputs
standardised the way the zoo's models do.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dnnsec.zoo.data import CIFAR10_MEAN_STD, MNIST_MEAN_STD, load_dataset, npz_mean_std


@dataclass(frozen=True)
class PixelSet:
    """8-bit images and labels of one split.

    Attributes
    ----------
    images : torch.Tensor
        uint8, (N, C, H, W), grey levels 0..255.
    labels : torch.Tensor
        int64, (N,), classes 0..num_classes-1.
    num_classes : int
    mean, std : tuple of float
        Per-channel standardisation of intensities in [0, 1] that the models take.
    name : str
    """

    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    name: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    def intensities(self, index: torch.Tensor | slice = slice(None)) -> torch.Tensor:
        """Images at ``index`` as float32 intensities in [0, 1]."""
        return self.images[index].float() / 255.0

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        """Model inputs from intensities ``x`` (N, C, H, W) in [0, 1]."""
        mean = torch.tensor(self.mean, dtype=x.dtype).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype).view(1, -1, 1, 1)
        return (x - mean) / std

    def subset(self, n: int, seed: int) -> PixelSet:
        """A seeded random subset of ``n`` samples (all if fewer), in the original order."""
        if n >= len(self):
            return self
        idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n].sort().values
        return PixelSet(self.images[idx].clone(), self.labels[idx].clone(), self.num_classes, self.mean, self.std,
                        f"{self.name}[{n}]")


    def split(self, n: int, seed: int = 0) -> tuple[PixelSet, PixelSet]:
        """A seeded random ``n`` samples and the rest, both in random order (a test file may be ordered by class, as
        CIFAR-10's is here, so neither part nor any prefix of it may keep the file's order)."""
        if not 0 < n < len(self):
            raise ValueError(f"{self.name}: cannot split {n} of {len(self)} samples")
        perm = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        a, b = perm[:n], perm[n:]
        return tuple(PixelSet(self.images[i].clone(), self.labels[i].clone(), self.num_classes, self.mean, self.std,
                              f"{self.name}[{part}]") for i, part in ((a, "held"), (b, "rest")))


def mean_std(data: str, channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The per-channel standardisation :mod:`dnnsec.zoo.data` uses for data set ``data``."""
    return {"mnist": MNIST_MEAN_STD, "cifar10": CIFAR10_MEAN_STD}.get(data, npz_mean_std(channels))


def load_pixels(data: str, split: str) -> PixelSet:
    """Split ``"train"`` or ``"test"`` of ``mnist``, ``cifar10`` or a ``.npz`` file as 8-bit pixels.

    Raises
    ------
    dnnsec.zoo.data.DataError
        Naming the file and the problem (missing file or field, wrong shape, dtype or labels).
    """
    s = load_dataset(data, split)
    mean, std = mean_std(data, s.x.shape[1])
    m = torch.tensor(mean).view(1, -1, 1, 1)
    sd = torch.tensor(std).view(1, -1, 1, 1)
    images = torch.round((s.x * sd + m) * 255.0).clamp(0, 255).to(torch.uint8)
    return PixelSet(images, s.y.clone(), s.num_classes, tuple(mean), tuple(std), s.name)
