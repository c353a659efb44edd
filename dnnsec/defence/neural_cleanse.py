"""Neural Cleanse: reverse-engineer a minimal trigger per class, flag outliers by MAD, unlearn (Wang et al.).

Wang, Yao, Shan, Li, Viswanath, Zheng and Zhao, "Neural Cleanse: Identifying and Mitigating Backdoor Attacks in
Neural Networks", IEEE S&P 2019. For every class ``t`` a mask ``m`` (H x W, in [0, 1]) and pattern ``p``
(C x H x W, in [0, 1]), parametrised through ``(tanh + 1) / 2``, are optimised (Adam, lr 0.1, betas 0.5 / 0.9)
so that ``(1 - m) x + m p`` is classified as ``t`` for clean images ``x``, at the least L1 norm of ``m``: loss
``CE + cost |m|_1`` with the paper's cost schedule (cost 0 until the attack success reaches ``asr_goal``, then
``init_cost``; after ``patience`` checks in a row above the goal the cost is multiplied by 1.5, after
``patience`` below it divided by 1.5 ** 1.5). The anomaly index of a class is ``(median - L1_t) / (1.4826 MAD)``
over the classes' smallest-mask L1 norms (consistency constant for a normal distribution); classes with an index
above 2 are flagged as backdoor targets. Mitigation (:func:`unlearn`): fine-tune on clean data where a fraction
(20 %) of the images carries a flagged class's reversed trigger and keeps its true label.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from dnnsec.defence.classifier import DefenceError, PixelClassifier

#: Normal-consistency constant of the median absolute deviation (Wang et al. 2019, section IV-B).
MAD_CONSISTENCY = 1.4826
#: Anomaly index above which a class is flagged (Wang et al. 2019).
ANOMALY_THRESHOLD = 2.0


@dataclass(frozen=True)
class ReversedTrigger:
    """The smallest trigger found for ``target``: ``mask`` (H, W) and ``pattern`` (C, H, W) in [0, 1]."""

    target: int
    mask: torch.Tensor
    pattern: torch.Tensor
    l1: float
    asr: float

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Stamp the trigger on intensities ``x`` (N, C, H, W in [0, 1])."""
        return (1 - self.mask) * x + self.mask * self.pattern


def reverse_trigger(clf: PixelClassifier, clean: torch.Tensor, target: int, steps: int = 200,
                    batch_size: int = 64, init_cost: float = 1e-3, asr_goal: float = 0.99, check_every: int = 10,
                    patience: int = 2, seed: int = 0) -> ReversedTrigger:
    """Optimise the minimal mask and pattern that send clean images ``clean`` to ``target`` (see module doc).

    The returned trigger is the one of least mask L1 norm among the checks whose attack success (over the
    ``check_every`` steps before them) reached ``asr_goal``; the last one if none did.
    """
    g = torch.Generator().manual_seed(seed + 7919 * target)
    shape = clean.shape[1:]
    mask_w = torch.zeros(1, *shape[1:]).normal_(0, 0.1, generator=g).sub_(2.0).requires_grad_(True)
    pattern_w = torch.zeros(*shape).normal_(0, 0.1, generator=g).requires_grad_(True)
    opt = torch.optim.Adam([mask_w, pattern_w], lr=0.1, betas=(0.5, 0.9))
    cost, up, down, hits, seen = 0.0, 0, 0, 0, 0
    best: ReversedTrigger | None = None
    y = torch.full((min(batch_size, len(clean)),), target, dtype=torch.long)
    for step in range(1, steps + 1):
        idx = torch.randint(0, len(clean), (len(y),), generator=g)
        mask, pattern = (torch.tanh(mask_w) + 1) / 2, (torch.tanh(pattern_w) + 1) / 2
        z = clf((1 - mask) * clean[idx] + mask * pattern)
        l1 = mask.sum()
        loss = F.cross_entropy(z, y) + cost * l1
        opt.zero_grad()
        loss.backward()
        opt.step()
        hits += int((z.argmax(1) == target).sum())
        seen += len(y)
        if step % check_every:
            continue
        asr = hits / seen
        hits = seen = 0
        current = ReversedTrigger(target, mask.detach()[0], pattern.detach(), float(l1.detach()), asr)
        if asr >= asr_goal and (best is None or current.l1 < best.l1 or best.asr < asr_goal):
            best = current
        if cost == 0.0:
            cost = init_cost if asr >= asr_goal else 0.0
            continue
        up, down = (up + 1, 0) if asr >= asr_goal else (0, down + 1)
        if up >= patience:
            cost, up = cost * 1.5, 0
        elif down >= patience:
            cost, down = cost / 1.5**1.5, 0
    if best is None:
        best = current
    return best


def anomaly_index(l1: np.ndarray) -> np.ndarray:
    """``(median - l1) / (1.4826 MAD)`` per class: positive for masks smaller than the median (Wang et al.)."""
    l1 = np.asarray(l1, dtype=float)
    med = np.median(l1)
    mad = MAD_CONSISTENCY * np.median(np.abs(l1 - med))
    return (med - l1) / mad if mad > 0 else np.zeros_like(l1)


@dataclass
class CleanseReport:
    """Result of :func:`neural_cleanse`: per-class triggers, L1 norms and anomaly indices, flagged classes."""

    triggers: list[ReversedTrigger]
    l1: np.ndarray
    index: np.ndarray
    flagged: list[int] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def max_index(self) -> float:
        """Largest anomaly index (the index of the smallest trigger)."""
        return float(self.index.max())

    def to_json(self) -> dict:
        return {"l1": [float(v) for v in self.l1], "anomaly_index": [float(v) for v in self.index],
                "trigger_asr": [t.asr for t in self.triggers], "max_anomaly_index": self.max_index,
                "flagged_classes": self.flagged, "seconds": self.seconds}


def neural_cleanse(clf: PixelClassifier, clean: torch.Tensor, num_classes: int, **kwargs) -> CleanseReport:
    """Reverse a trigger for every class (``kwargs`` to :func:`reverse_trigger`) and flag index > 2."""
    if len(clean) == 0:
        raise DefenceError("Neural Cleanse needs clean images")
    t0 = time.perf_counter()
    for p in clf.parameters():
        p.requires_grad_(False)
    try:
        triggers = [reverse_trigger(clf, clean, t, **kwargs) for t in range(num_classes)]
    finally:
        for p in clf.parameters():
            p.requires_grad_(True)
    l1 = np.array([t.l1 for t in triggers])
    index = anomaly_index(l1)
    flagged = [int(k) for k in np.flatnonzero(index > ANOMALY_THRESHOLD)]
    return CleanseReport(triggers, l1, index, flagged, time.perf_counter() - t0)


def unlearn(clf: PixelClassifier, clean: torch.Tensor, labels: torch.Tensor, triggers: list[ReversedTrigger],
            epochs: int = 2, fraction: float = 0.2, lr: float = 1e-3, batch_size: int = 128, seed: int = 0
            ) -> PixelClassifier:
    """Fine-tune ``clf`` (in place, returned in eval mode) to ignore the reversed ``triggers``.

    A ``fraction`` of every batch of the clean images ``clean`` (with their true ``labels``) carries one of the
    triggers (drawn at random), keeping its label (Wang et al. 2019, section VI-C); Adam at ``lr``.
    """
    if not triggers:
        return clf
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(clf.model.parameters(), lr=lr)
    clf.model.train()
    for _ in range(epochs):
        order = torch.randperm(len(clean), generator=g)
        for i in range(0, len(clean), batch_size):
            idx = order[i:i + batch_size]
            x, y = clean[idx].clone(), labels[idx]
            stamped = torch.rand(len(idx), generator=g) < fraction
            which = torch.randint(0, len(triggers), (len(idx),), generator=g)
            for k, trig in enumerate(triggers):
                sel = stamped & (which == k)
                x[sel] = trig.apply(x[sel])
            loss = F.cross_entropy(clf(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    clf.model.eval()
    return clf

