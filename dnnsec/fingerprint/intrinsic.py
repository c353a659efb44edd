"""Intrinsic fingerprint (InFIP): a model's DTD relevance maps on an owner-chosen probe set identify its copies.

Method after Xue et al. (InFIP, "intrinsic fingerprint" of a DNN by its explanations): the owner keeps a probe set;
the fingerprint is the Deep Taylor Decomposition relevance map (:mod:`dnnsec.fingerprint.dtd`) of the owner's model
for each probe, explaining the class the owner's model gives it. A suspect is explained on the same probes and
classes and compared map by map with SSIM (Wang et al., IEEE TIP 13, 2004; 11-sample Gaussian window of standard
deviation 1.5, along one axis for 1-D models) and, as the alternative, the cosine similarity of the flattened maps.
The model is never modified.

The decision threshold comes from a null distribution: the similarity of the owner's fingerprint to models of the same
architecture trained independently (other seeds). The p-value of a suspect's similarity ``s`` is the one-sided normal
tail above the null mean and standard deviation (:meth:`NullCalibration.p_value`); the empirical rank p-value
``(1 + #{null >= s}) / (1 + n)`` is given beside it (it cannot go below ``1 / (n + 1)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dnnsec.backdoor.metrics import ssim_maps
from dnnsec.errors import DnnsecError
from dnnsec.fingerprint.dtd import Box, Explainer

METRICS = ("ssim", "cosine")


class FingerprintMatchError(DnnsecError):
    """A suspect model cannot be compared with a fingerprint (wrong input shape, too few null models, metric)."""


def relevance_maps(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, box: Box | None,
                   batch_size: int = 64) -> torch.Tensor:
    """DTD maps of ``model`` for ``targets``, summed over input channels and scaled to [0, 1] by the map's max |R|.

    Returns
    -------
    torch.Tensor
        (N, 1, H, W) for images, (N, 1, T) for 1-D inputs; dimensionless.
    """
    explainer = Explainer(model, x)
    maps = []
    for i in range(0, len(x), batch_size):
        r = explainer.relevance(x[i:i + batch_size], targets[i:i + batch_size], box=box)
        r = r.sum(1, keepdim=True).abs()
        peak = r.flatten(1).amax(1).clamp_min(1e-12).view(-1, *([1] * (r.ndim - 1)))
        maps.append(r / peak)
    return torch.cat(maps)


def cosine_maps(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of each pair of flattened maps; returns (N,)."""
    return F.cosine_similarity(a.flatten(1).double(), b.flatten(1).double(), dim=1).float()


@dataclass(frozen=True)
class IntrinsicFingerprint:
    """The owner's probes, the classes explained, and the owner model's relevance maps on them."""

    probes: torch.Tensor
    targets: torch.Tensor
    maps: torch.Tensor
    box: Box | None

    @classmethod
    def of(cls, model: nn.Module, probes: torch.Tensor, box: Box | None = None) -> IntrinsicFingerprint:
        """Fingerprint ``model`` on ``probes``, explaining the class it predicts for each (model left unchanged)."""
        model.eval()
        with torch.no_grad():
            targets = torch.cat([model(probes[i:i + 256]).argmax(1) for i in range(0, len(probes), 256)])
        return cls(probes, targets, relevance_maps(model, probes, targets, box), box)

    def similarity(self, suspect: nn.Module, metric: str = "ssim") -> float:
        """Mean similarity of ``suspect``'s maps to the fingerprint over the probes (1 = identical)."""
        if metric not in METRICS:
            raise FingerprintMatchError(f"unknown similarity {metric!r}; known: {', '.join(METRICS)}")
        maps = relevance_maps(suspect, self.probes, self.targets, self.box)
        return float((ssim_maps if metric == "ssim" else cosine_maps)(self.maps, maps).mean())

    def similarities(self, suspect: nn.Module) -> dict[str, float]:
        """Every metric of :data:`METRICS` for ``suspect`` (its maps computed once)."""
        maps = relevance_maps(suspect, self.probes, self.targets, self.box)
        return {"ssim": float(ssim_maps(self.maps, maps).mean()), "cosine": float(cosine_maps(self.maps, maps).mean())}


@dataclass(frozen=True)
class NullCalibration:
    """Similarities of the fingerprint to independently trained models of the same architecture."""

    scores: np.ndarray

    def __post_init__(self) -> None:
        if len(self.scores) < 3:
            raise FingerprintMatchError(f"a null distribution needs at least 3 independent models, got "
                                        f"{len(self.scores)}")

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores))

    @property
    def sd(self) -> float:
        return float(np.std(self.scores, ddof=1))

    def p_value(self, score: float) -> float:
        """One-sided normal tail P(null >= score) with the null's mean and standard deviation."""
        z = (score - self.mean) / max(self.sd, 1e-12)
        return 0.5 * math.erfc(z / math.sqrt(2.0))

    def rank_p_value(self, score: float) -> float:
        """Empirical p-value ``(1 + #{null >= score}) / (1 + n)``."""
        return float((1 + np.sum(self.scores >= score)) / (1 + len(self.scores)))

    def is_copy(self, score: float, alpha: float = 0.01) -> bool:
        """Whether ``score`` rejects "independently trained" at level ``alpha`` (normal tail)."""
        return self.p_value(score) < alpha


def calibrate(fingerprint: IntrinsicFingerprint, independent: Sequence[nn.Module], metric: str = "ssim"
              ) -> NullCalibration:
    """The null distribution of ``metric`` over ``independent`` models (none derived from the owner's)."""
    return NullCalibration(np.array([fingerprint.similarity(m, metric) for m in independent]))
