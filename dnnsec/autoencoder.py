"""An undercomplete convolutional autoencoder of images, its training, and its reconstructions.

Both sides of the query modification game use it: the attacker's detector (:mod:`dnnsec.attacks.query_modification`,
after Namba and Sakuma, AsiaCCS 2019) and the owner's purifiers that train the watermark to survive it
(:func:`dnnsec.watermark.embed.train_purifiers`). Keeping it here lets the attacks import the watermark and never the
reverse.

The autoencoder must be *undercomplete* to mean anything: its code (``latent`` numbers per image, default 32 for a
784-pixel MNIST image) is far smaller than the input, so it can only reproduce what clean images share (digit
strokes) and drops a stamped logo or a noise pattern. A convolutional autoencoder whose code is as large as the
image (the 32 x 7 x 7 = 1568 numbers of a two-stride-2 encoder) learns nearly the identity.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from shared.data import TensorBatches
from shared.trainer import Trainer


class ConvAutoencoder(nn.Module):
    """An undercomplete convolutional autoencoder for C x H x W images (H, W divisible by 4).

    Two stride-2 convolutions (``width``, ``2 width`` channels), a linear bottleneck of ``latent`` numbers, and the
    mirror-image decoder.
    """

    def __init__(self, channels: int = 1, height: int = 28, width_px: int = 28, width: int = 16,
                 latent: int = 32) -> None:
        super().__init__()
        if height % 4 or width_px % 4:
            raise ValueError(f"image height and width must be divisible by 4, got {height} x {width_px}")
        grid = (2 * width, height // 4, width_px // 4)
        n_grid = grid[0] * grid[1] * grid[2]
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(n_grid, latent),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent, n_grid), nn.ReLU(), nn.Unflatten(1, grid),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def train_autoencoder(x: torch.Tensor, *, steps: int = 1500, lr: float = 2e-3, width: int = 16, latent: int = 32,
                      seed: int = 0) -> ConvAutoencoder:
    """Train :class:`ConvAutoencoder` (code of ``latent`` numbers) on clean images ``x`` (mean squared error,
    Adam, batches of 64)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        ae = ConvAutoencoder(x.shape[1], x.shape[2], x.shape[3], width, latent)
    cfg = {"optimizer": "adam", "lr": lr, "max_steps": steps, "schedule": "cosine", "converge_tol": 0.0,
           "seed": seed}
    Trainer(ae, F.mse_loss, cfg, TensorBatches(x, x, 64, seed=seed), progress=False).fit()
    return ae.eval()


@torch.no_grad()
def reconstruct(ae: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``ae(x)`` computed in chunks of 500 samples."""
    return torch.cat([ae(x[i:i + 500]) for i in range(0, len(x), 500)])


@torch.no_grad()
def reconstruction_error(ae: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Per-sample mean squared reconstruction error (standardised input units squared)."""
    return ((reconstruct(ae, x) - x) ** 2).flatten(1).mean(1)
