"""STRIP: backdoor inputs detected by their low entropy under superimposed clean images (Gao et al.).

Gao, Xu, Wang, Chen, Ranasinghe and Nepal, "STRIP: A Defence Against Trojan Attacks on Deep Neural Networks",
ACSAC 2019 (arXiv:1902.06531). Each input is superimposed with ``n`` clean held-out images (pixel-wise sum clipped
to [0, 1], the paper's ``addWeighted(x, 1, clean, 1)``); a trigger keeps the prediction on its target whatever is
laid over it, so the mean entropy (bits) of the ``n`` predictions is low. The threshold is the ``frr`` quantile of
the entropies of clean held-out inputs (:meth:`StripDetector.calibrate`): at most a fraction ``frr`` of them falls
below it (false rejections); inputs below it are flagged.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from dnnsec.defence.classifier import DefenceError, PixelClassifier


class StripDetector:
    """STRIP with ``n`` superimpositions drawn from ``pool`` (clean held-out intensities, (M, C, H, W)).

    Parameters
    ----------
    clf : PixelClassifier
    pool : torch.Tensor
        Clean images to superimpose; keep them apart from the calibration inputs.
    n : int
        Superimpositions per input (the paper's N = 100).
    seed : int
        Seed of the images drawn for each input.
    chunk : int
        Inputs per forward pass (``chunk * n`` images).
    threshold : float, optional
        Entropy threshold (bits); set by :meth:`calibrate` when not given.
    """

    def __init__(self, clf: PixelClassifier, pool: torch.Tensor, n: int = 100, seed: int = 0, chunk: int = 10,
                 threshold: float | None = None) -> None:
        if n < 1 or len(pool) == 0:
            raise DefenceError(f"STRIP needs a clean pool and n >= 1, got {len(pool)} pool images and n = {n}")
        self.clf, self.pool, self.n, self.seed, self.chunk, self.threshold = clf, pool, n, seed, chunk, threshold
        self.seconds = 0.0

    @torch.no_grad()
    def entropy(self, x: torch.Tensor) -> torch.Tensor:
        """Mean prediction entropy (bits, float64 (N,)) of each input of ``x`` over its ``n`` superimpositions."""
        t0 = time.perf_counter()
        g = torch.Generator().manual_seed(self.seed)
        out = []
        for i in range(0, len(x), self.chunk):
            xb = x[i:i + self.chunk]
            idx = torch.randint(0, len(self.pool), (len(xb), self.n), generator=g)
            mixed = (xb[:, None] + self.pool[idx]).clamp(0.0, 1.0).flatten(0, 1)
            p = torch.softmax(self.clf(mixed).double(), dim=1)
            h = -(p * torch.log2(p.clamp_min(1e-30))).sum(1)
            out.append(h.view(len(xb), self.n).mean(1))
        self.seconds = time.perf_counter() - t0
        return torch.cat(out) if out else torch.empty(0, dtype=torch.float64)

    def calibrate(self, clean: torch.Tensor, frr: float = 0.01) -> StripDetector:
        """Set the threshold to the ``frr`` quantile of the entropies of clean held-out inputs ``clean``.

        The next order statistic down is taken, so at most a fraction ``frr`` of ``clean`` falls below it.
        """
        if not 0.0 < frr < 1.0 or len(clean) == 0:
            raise DefenceError(f"calibration needs clean inputs and a false-rejection rate in (0, 1), got "
                               f"{len(clean)} inputs and {frr}")
        self.threshold = float(np.quantile(self.entropy(clean).numpy(), frr, method="lower"))
        return self

    def flag(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Boolean (N,): inputs whose entropy falls below the threshold; and the entropies (bits)."""
        if self.threshold is None:
            raise DefenceError("STRIP has no threshold: calibrate it on clean held-out inputs")
        h = self.entropy(x)
        return h < self.threshold, h
