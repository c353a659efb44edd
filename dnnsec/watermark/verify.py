"""Verification statistics: is a suspect model a copy of ours, and whose?

The unit of evidence is the *model*. A suspect is queried with every registered user's ``n`` key samples. Two
figures are read per key: whether the model answers the additional class K (the watermark accuracy of Xue et al.,
arXiv:2104.09203) and its score ``s = z_K - max_{j<K} z_j`` (logit margin of the additional class; ``s > 0`` exactly
when the answer is K).

**Test per user.** Under the null hypothesis "this model was not trained on user ``u``'s keys", ``u``'s key images
are exchangeable with the other registered users' key images: every user's base images are drawn from one pool by a
single random permutation (:mod:`dnnsec.watermark.bases`), so which ``n`` of the ``U n`` images belong to ``u`` is
random as far as the model is concerned. The statistic is the Mann-Whitney U of ``u``'s scores against all other
users' scores, and its p-value is *exact* under that exchangeability: the U statistic's permutation distribution
(Mann and Whitney, Ann. Math. Statist. 18, 1947), one-sided (``u``'s keys score higher). No independence between the
keys is assumed, and a uniform shift of the extra logit (e.g. its bias lowered by fine-tuning) leaves the ranks
unchanged. p-values are multiplied by ``U`` (Bonferroni over users).

**Threshold.** Null models have K+1 outputs but are not our copies (other owners' copies made the same way with other
key sets, and an overwriting attacker's model; a model with K outputs can never answer K+1 and proves nothing).
The decision threshold is fixed on *calibration* null models: a user is significant when the Bonferroni p-value is
below ``min(alpha, smallest Bonferroni p-value of any calibration null)``. The false-claim rate is then measured on
*held-out* null models, per model, with a Clopper-Pearson bound (Clopper and Pearson, Biometrika 26, 1934).

Tracing a leaked copy: the copies x users matrix of decisions must be significant on the diagonal only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy.stats import beta, mannwhitneyu
from torch import nn

from dnnsec.watermark.adapter import OutputAdapter


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided exact binomial confidence interval for a rate of ``k`` successes in ``n`` trials."""
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    a = 1.0 - confidence
    lo = 0.0 if k == 0 else float(beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a / 2, k + 1, n - k))
    return lo, hi


def clopper_pearson_upper(k: int, n: int, confidence: float = 0.95) -> float:
    """One-sided exact upper confidence bound on a binomial rate (``k`` of ``n``); 0 of n gives 1 - a^(1/n)."""
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    return 1.0 if k == n else float(beta.ppf(confidence, k + 1, n - k))


@torch.no_grad()
def key_scores(model: nn.Module, adapter: OutputAdapter, keys: torch.Tensor, n_classes: int) -> np.ndarray | None:
    """Margin ``z_K - max_{j<K} z_j`` of every key (float64), or None if the model has no output K."""
    if adapter.num_outputs(model) <= n_classes:
        return None
    was = model.training
    model.eval()
    try:
        z = torch.cat([adapter.scores(model, keys[i:i + 500]) for i in range(0, len(keys), 500)]).double()
    finally:
        model.train(was)
    return (z[:, n_classes] - z[:, :n_classes].max(1).values).numpy()


def rank_p_values(scores: Sequence[np.ndarray]) -> np.ndarray:
    """One-sided exact Mann-Whitney p-value of each user's key scores against all other users' (not corrected)."""
    if len(scores) < 2:
        raise ValueError("the rank test needs the keys of at least two users")
    out = []
    for u, s in enumerate(scores):
        rest = np.concatenate([t for v, t in enumerate(scores) if v != u])
        out.append(float(mannwhitneyu(s, rest, alternative="greater", method="exact").pvalue))
    return np.array(out)


def bonferroni(p: np.ndarray) -> np.ndarray:
    """Multiply each p-value by the number of tests (capped at 1)."""
    p = np.asarray(p, dtype=np.float64)
    return np.minimum(p * p.shape[-1], 1.0)


@dataclass(frozen=True)
class ModelEvidence:
    """One model against every user's keys: hits (keys answered K), scores per key, Bonferroni p-values."""

    hits: np.ndarray
    p_bonferroni: np.ndarray


def model_evidence(model: nn.Module, adapter: OutputAdapter, key_sets: Sequence[torch.Tensor],
                   n_classes: int) -> ModelEvidence | None:
    """Hits and Bonferroni-corrected rank p-values of ``model`` for each user; None without an output K."""
    scores = [key_scores(model, adapter, k, n_classes) for k in key_sets]
    if scores[0] is None:
        return None
    hits = np.array([int((s > 0).sum()) for s in scores], dtype=np.int64)
    return ModelEvidence(hits, bonferroni(rank_p_values(scores)))


def evidence_matrix(models: Sequence[nn.Module], adapter: OutputAdapter, key_sets: Sequence[torch.Tensor],
                    n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """``(hits, p)`` matrices (models x users); a model without output K gets 0 hits and p = 1."""
    hits, p = [], []
    for m in models:
        ev = model_evidence(m, adapter, key_sets, n_classes)
        hits.append(ev.hits if ev else np.zeros(len(key_sets), dtype=np.int64))
        p.append(ev.p_bonferroni if ev else np.ones(len(key_sets)))
    return np.array(hits), np.array(p)


@dataclass(frozen=True)
class Calibration:
    """A decision threshold fixed on calibration null models.

    Attributes
    ----------
    p_threshold : float
        A user is significant when their Bonferroni-corrected p-value is below this.
    null_min_p : float
        Smallest Bonferroni p-value over calibration nulls and users.
    n_null_models : int
        Calibration null models.
    alpha : float
        Family-wise level over users.
    """

    p_threshold: float
    null_min_p: float
    n_null_models: int
    alpha: float = 0.01

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})


def calibrate(null_p: np.ndarray, alpha: float = 0.01) -> Calibration:
    """Fix the threshold on calibration nulls' Bonferroni p-value matrix (null models x users)."""
    p = np.asarray(null_p, dtype=np.float64)
    if p.ndim != 2 or p.size == 0:
        raise ValueError(f"null p-values must be a non-empty (models x users) matrix, got shape {p.shape}")
    low = float(p.min())
    return Calibration(p_threshold=min(alpha, low), null_min_p=low, n_null_models=int(p.shape[0]), alpha=alpha)


def significant(p_bonferroni: np.ndarray, cal: Calibration) -> np.ndarray:
    """Boolean per entry: Bonferroni p-value below the calibrated threshold."""
    return np.asarray(p_bonferroni) < cal.p_threshold


@dataclass(frozen=True)
class FalseClaims:
    """False claims on held-out null models: ``k`` of ``n`` models, rate and one-sided 95 % upper bound."""

    k: int
    n: int
    rate: float
    upper: float


def false_claim_rate(null_p: np.ndarray, cal: Calibration) -> FalseClaims:
    """Fraction of held-out null models on which any user is significant, with its Clopper-Pearson bound."""
    p = np.asarray(null_p)
    k = int(significant(p, cal).any(axis=1).sum())
    n = int(p.shape[0])
    return FalseClaims(k, n, k / n, clopper_pearson_upper(k, n))


def tracing_is_diagonal(p: np.ndarray, cal: Calibration) -> bool:
    """True if copy ``i`` (row) is significant for user ``i`` and for no other user, for every copy."""
    sig = significant(p, cal)
    return bool(sig.shape[0] == sig.shape[1] and np.array_equal(sig, np.eye(sig.shape[0], dtype=bool)))


@dataclass(frozen=True)
class UserEvidence:
    """The evidence for one user: keys answered K (hits of ``n_keys``), Bonferroni p-value, decision."""

    user: str
    hits: int
    n_keys: int
    p_bonferroni: float
    significant: bool
