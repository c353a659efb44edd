"""GAN-based watermark detection and removal (Wang, Xue, Sun, Zhang, Wang and Liu, arXiv:2106.08104).

Phase 1, detection and reversal: with a few clean images (at most 1 % of the training set), one generator per
candidate class ``t`` learns triggers (a mask and a pattern, stamped as ``(1 - m) x + m p``) that make the
watermarked model, held fixed as the discriminator, answer ``t``, while an L1 penalty keeps the masks small. The
default generator draws its triggers from noise, as a GAN's generator does, so they do not depend on the image
(as a backdoor's trigger does not); an image-conditioned one is kept for comparison. A watermarked (backdoored)
class needs far smaller masks than the others, so it is the anomaly across classes: its anomaly index
``(median - n_t) / (1.4826 MAD)`` of the mask norms ``n`` exceeds 2 (the MAD test of Wang et al., Neural Cleanse,
IEEE S&P 2019, which the paper adopts).

Phase 2, removal: the model is fine-tuned on the clean images and on their reversed-trigger versions labelled
with their correct classes, so the trigger no longer leads to ``t`` (:func:`remove`: distillation from the
watermarked model keeps its clean behaviour, fresh generators replayed against the model being fine-tuned find
what is left of the trigger, and images the attacker held out choose the checkpoint).

Targets: docs/acceptance.md#gan-removal.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dnnsec.defence.neural_cleanse import ANOMALY_THRESHOLD, anomaly_index
from shared.seeding import seed_everything


def _capped(mask: torch.Tensor, budget: float | None) -> torch.Tensor:
    """``mask`` with each sample's L1 norm scaled down to ``budget`` where it exceeds it."""
    if budget is None:
        return mask
    norm = mask.flatten(1).sum(1).view(-1, *[1] * (mask.ndim - 1))
    return mask * torch.clamp(budget / norm, max=1.0)


class TriggerGenerator(nn.Module):
    """Fully convolutional generator of a trigger for each clean input: a mask ``m`` in [0, 1] (one value per
    position) and a pattern ``p`` inside the input box, applied as ``(1 - m) x + m p``.

    ``budget`` (pixels), when set, caps each mask's L1 norm: a larger mask is scaled down to it.
    """

    def __init__(self, channels: int, box: tuple[float, float], width: int = 16, dims: int = 2) -> None:
        super().__init__()
        conv = nn.Conv2d if dims == 2 else nn.Conv1d
        self.net = nn.Sequential(conv(channels, width, 3, padding=1), nn.ReLU(),
                                 conv(width, width, 3, padding=1), nn.ReLU(),
                                 conv(width, channels + 1, 3, padding=1))
        with torch.no_grad():  # start from small masks
            self.net[-1].bias[0] = -3.0
        self.box = box
        self.budget: float | None = None

    def parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mask (N, 1, ...) and pattern (N, C, ...) for the inputs ``x``."""
        out = self.net(x)
        low, high = self.box
        return _capped(torch.sigmoid(out[:, :1]), self.budget), low + (high - low) * torch.sigmoid(out[:, 1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The triggered inputs."""
        mask, pattern = self.parts(x)
        return (1 - mask) * x + mask * pattern


class NoiseTriggerGenerator(nn.Module):
    """Generator of triggers from noise, as a GAN's: ``z ~ N(0, I)`` (one per input) -> a mask ``m`` in [0, 1] (one
    value per position) and a pattern ``p`` inside the input box, applied as ``(1 - m) x + m p``. The trigger does
    not depend on the image it is stamped on, as a backdoor's does not; the noise makes a distribution of them.

    ``budget`` (pixels), when set, caps each mask's L1 norm: a larger mask is scaled down to it.
    """

    def __init__(self, shape: tuple[int, ...], box: tuple[float, float], noise_dim: int = 16,
                 width: int = 128) -> None:
        super().__init__()
        self.shape = tuple(shape)  # (C, H, W) or (C, L)
        positions = int(np.prod(self.shape[1:]))
        self.net = nn.Sequential(nn.Linear(noise_dim, width), nn.ReLU(),
                                 nn.Linear(width, (self.shape[0] + 1) * positions))
        with torch.no_grad():  # start from small masks
            self.net[-1].bias[:positions] = -3.0
        self.noise_dim = noise_dim
        self.box = box
        self.budget: float | None = None

    def parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mask (N, 1, ...) and pattern (N, C, ...) for a batch like ``x`` (fresh noise per input)."""
        out = self.net(torch.randn(len(x), self.noise_dim)).view(len(x), self.shape[0] + 1, *self.shape[1:])
        low, high = self.box
        return _capped(torch.sigmoid(out[:, :1]), self.budget), low + (high - low) * torch.sigmoid(out[:, 1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The triggered inputs."""
        mask, pattern = self.parts(x)
        return (1 - mask) * x + mask * pattern


GENERATORS = ("noise", "image")
Generator = TriggerGenerator | NoiseTriggerGenerator


def make_generator(kind: str, x: torch.Tensor, box: tuple[float, float]) -> Generator:
    """A fresh generator for inputs like ``x``: ``"noise"`` (:class:`NoiseTriggerGenerator`, one trigger
    distribution for all images) or ``"image"`` (:class:`TriggerGenerator`, a trigger per image)."""
    if kind == "noise":
        return NoiseTriggerGenerator(tuple(x.shape[1:]), box)
    if kind == "image":
        return TriggerGenerator(x.shape[1], box, dims=x.ndim - 2)
    raise ValueError(f"generator must be one of {GENERATORS}, got {kind!r}")


@dataclass
class ReversedTrigger:
    """The generator of one class, its flip rate on the clean images, the mean L1 norm of its masks (pixels) and the
    mean size of its triggers under the prior it was trained with (the mask L1 norm, or the perturbation's squared
    L2 norm in model units)."""

    target: int
    generator: Generator
    flip_rate: float
    l1_norm: float
    size: float


@dataclass
class Detection:
    """Phase 1 over all classes: per-class reversed triggers, anomaly indices and the flagged classes."""

    triggers: list[ReversedTrigger]
    anomaly: np.ndarray

    @property
    def flagged(self) -> list[int]:
        """Classes whose anomaly index exceeds :data:`ANOMALY_THRESHOLD`, most anomalous first."""
        order = np.argsort(-self.anomaly)
        return [self.triggers[t].target for t in order if self.anomaly[t] > ANOMALY_THRESHOLD]


PRIORS = ("mask", "l2")


def _size(mask: torch.Tensor, perturbation: torch.Tensor, prior: str) -> torch.Tensor:
    """Per-sample trigger size: ``"mask"``, the mask's L1 norm (pixels; a small patch is small), or ``"l2"``, the
    perturbation's squared L2 norm (model units squared; a faint whole-image blend is small)."""
    if prior == "mask":
        return mask.flatten(1).sum(1)
    if prior == "l2":
        return perturbation.flatten(1).pow(2).sum(1)
    raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")


def _fit_generator(gen: Generator, model: nn.Module, x: torch.Tensor, target: int, *, steps: int,
                   l1_weight: float, lr: float, batch_size: int, rng: np.random.Generator, prior: str = "mask"
                   ) -> None:
    """``steps`` Adam steps of ``gen`` making ``model`` (held fixed, eval mode) answer ``target`` for ``gen(x)``:
    cross-entropy to ``target`` plus ``l1_weight`` times the mean trigger size under ``prior`` (:func:`_size`)."""
    model.eval()
    gen.train()
    frozen = [p for p in model.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    opt = torch.optim.Adam(gen.parameters(), lr=lr)
    labels = torch.full((batch_size,), target, dtype=torch.long)
    try:
        for _ in range(steps):
            xb = x[torch.as_tensor(rng.integers(0, len(x), batch_size))]
            mask, pattern = gen.parts(xb)
            triggered = (1 - mask) * xb + mask * pattern
            loss = F.cross_entropy(model(triggered), labels) + l1_weight * _size(mask, triggered - xb, prior).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    finally:
        for p in frozen:
            p.requires_grad_(True)
    gen.eval()


def reverse_trigger(model: nn.Module, x: torch.Tensor, target: int, box: tuple[float, float], *, steps: int = 300,
                    l1_weight: float = 0.01, lr: float = 1e-2, batch_size: int = 32, generator: str = "noise",
                    prior: str = "mask", seed: int = 0) -> ReversedTrigger:
    """Train a generator flipping the clean inputs ``x`` (model units, inside ``box``) to class ``target``."""
    seed_everything(seed)
    gen = make_generator(generator, x, box)
    _fit_generator(gen, model, x, target, steps=steps, l1_weight=l1_weight, lr=lr, batch_size=batch_size,
                   rng=np.random.default_rng(seed), prior=prior)
    with torch.no_grad():
        mask, pattern = gen.parts(x)
        triggered = (1 - mask) * x + mask * pattern
        flipped = model(triggered).argmax(1) == target
    return ReversedTrigger(target, gen, float(flipped.double().mean()), float(mask.flatten(1).sum(1).mean()),
                           float(_size(mask, triggered - x, prior).mean()))


def detect(model: nn.Module, x: torch.Tensor, box: tuple[float, float], *, classes: list[int] | None = None,
           steps: int = 300, l1_weight: float = 0.01, generator: str = "noise", prior: str = "mask", seed: int = 0
           ) -> Detection:
    """Phase 1 for every class of ``model`` (or ``classes``): reversed triggers and the anomaly across classes.

    A class whose generator flips fewer than half of the clean images gets an infinite norm (not anomalous).
    """
    with torch.no_grad():
        n_out = int(model.eval()(x[:1]).shape[1])
    triggers = [reverse_trigger(model, x, t, box, steps=steps, l1_weight=l1_weight, generator=generator,
                                prior=prior, seed=seed + t)
                for t in (classes if classes is not None else range(n_out))]
    norms = np.array([t.size if t.flip_rate >= 0.5 else np.inf for t in triggers])
    finite = norms[np.isfinite(norms)]
    anomaly = anomaly_index(np.where(np.isfinite(norms), norms, finite.max() if len(finite) else 0.0)) \
        if len(finite) else np.zeros(len(norms))
    anomaly[~np.isfinite(norms)] = -np.inf
    return Detection(triggers, anomaly)


@dataclass
class Removal:
    """Phase 2's fine-tuning as the attacker saw it on its held-out images (no owner's trigger, no test set).

    Attributes
    ----------
    steps : list of int
        Fine-tuning steps at each checkpoint (0 is the watermarked model; then every ``refresh_every`` steps).
    val_accuracy : list of float
        Clean accuracy on the held-out images at each checkpoint.
    val_proxy : list of float
        Success rate of the reversed trigger(s) on the held-out images of other classes at each checkpoint (the
        attacker's stand-in for the watermark's retention), by a generator freshly trained against that checkpoint
        (phase 1's at step 0).
    val_mask_l1 : list of float
        Mean mask L1 norm (pixels) of that generator on the held-out images at each checkpoint.
    chosen : int
        Index of the checkpoint returned.
    """

    steps: list[int]
    val_accuracy: list[float]
    val_proxy: list[float]
    val_mask_l1: list[float]
    chosen: int


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model.eval()(x).argmax(1) == y).double().mean())


def _proxy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, gens: list[Generator],
           targets: list[int]) -> float:
    """Mean over the triggers of the fraction of held-out images of other classes that ``gen(x)`` flips."""
    rates = []
    with torch.no_grad():
        for gen, t in zip(gens, targets, strict=True):
            keep = y != t
            rates.append(float((model.eval()(gen(x[keep])).argmax(1) == t).double().mean()) if keep.any() else 0.0)
    return float(np.mean(rates))


def _mask_l1(x: torch.Tensor, gens: list[Generator]) -> float:
    with torch.no_grad():
        return float(np.mean([float(gen.parts(x)[0].flatten(1).sum(1).mean()) for gen in gens]))


def remove(model: nn.Module, x: torch.Tensor, y: torch.Tensor, triggers: list[ReversedTrigger],
           val: tuple[torch.Tensor, torch.Tensor], *, steps: int = 600, lr: float = 1e-3, batch_size: int = 64,
           distill_weight: float = 3.0, refresh_every: int = 100, refresh_steps: int = 300, l1_weight: float = 0.01,
           budget: float | None = 2.0, accuracy_tolerance: float = 0.02, prior: str = "mask", seed: int = 0
           ) -> tuple[nn.Module, Removal]:
    """Phase 2: a copy of ``model`` fine-tuned so that the reversed triggers lead to the correct classes.

    Each step takes a batch of the attacker's images ``x`` and the same images through one reversed trigger's
    generator, both with their correct labels ``y`` (cross-entropy), plus ``distill_weight`` times the KL
    divergence from the watermarked model's answers on the clean images (for both copies), which keeps the model
    close to the original on clean inputs. Batch normalisation keeps its statistics (eval mode). Every
    ``refresh_every`` steps a fresh generator per watermarked class trains ``refresh_steps`` steps against the model
    being fine-tuned (the GAN's game replayed; its masks capped at ``budget`` times phase 1's mean mask L1, so it
    looks for a trigger as small as the watermark's rather than for the class itself) and joins the pool the
    triggered copies are drawn from, so the fine-tuning keeps meeting what is left of the trigger.

    At step 0 and after each refresh (and at the end) the model is scored on the held-out images ``val``: clean
    accuracy and the success rate of the generator just trained against it (:class:`Removal`), a fresh attacker's
    view of what is left of the watermark. The checkpoint returned has the lowest success rate among those whose
    held-out accuracy is at most ``accuracy_tolerance`` below the watermarked model's (the latest on a tie: it has
    met the most generators; the watermarked model itself if none qualifies). The default tolerance, 2 points, is
    two images of a hundred held out: the finest drop such a set resolves. Nothing of the owner's trigger or test
    set is used.
    """
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    xv, yv = val
    teacher = copy.deepcopy(model).eval()
    student = copy.deepcopy(model).eval()
    gens = [copy.deepcopy(t.generator) for t in triggers]  # the pool: phase 1's, then one more per refresh
    targets = [t.target for t in triggers]
    caps = [budget * t.l1_norm if budget else None for t in triggers]
    for gen, cap in zip(gens, caps, strict=True):
        gen.budget = cap
    latest = list(range(len(gens)))  # each target's newest generator, the proxy's attacker
    with torch.no_grad():
        soft = F.softmax(teacher(x), 1)
    opt = torch.optim.Adam(student.parameters(), lr=lr)

    def score(step: int) -> None:
        newest = [gens[i] for i in latest]
        log.steps.append(step)
        log.val_accuracy.append(_accuracy(student, xv, yv))
        log.val_proxy.append(_proxy(student, xv, yv, newest, targets[:len(triggers)]))
        log.val_mask_l1.append(_mask_l1(xv, newest))
        states.append(copy.deepcopy(student.state_dict()))

    log, states = Removal([], [], [], [], 0), []
    score(0)
    for step in range(1, steps + 1):
        idx = torch.as_tensor(rng.integers(0, len(x), batch_size))
        xb, yb, pb = x[idx], y[idx], soft[idx]
        with torch.no_grad():
            xt = gens[int(rng.integers(len(gens)))](xb)
        student.eval()  # batch normalisation keeps the watermarked model's statistics
        logits = student(torch.cat([xb, xt]))
        loss = F.cross_entropy(logits, torch.cat([yb, yb]))
        if distill_weight:
            loss = loss + distill_weight * F.kl_div(F.log_softmax(logits, 1), torch.cat([pb, pb]),
                                                    reduction="batchmean")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % refresh_every == 0 or step == steps:
            for j, (t, cap) in enumerate(zip(targets[:len(triggers)], caps, strict=True)):
                torch.manual_seed(int(rng.integers(2**31)))
                kind = "noise" if isinstance(triggers[j].generator, NoiseTriggerGenerator) else "image"
                gen = make_generator(kind, x, triggers[j].generator.box)
                gen.budget = cap
                _fit_generator(gen, student, x, t, steps=refresh_steps, l1_weight=l1_weight, lr=1e-2,
                               batch_size=32, rng=rng, prior=prior)
                gens.append(gen)
                targets.append(t)
                latest[j] = len(gens) - 1
            score(step)
    ok = [i for i, a in enumerate(log.val_accuracy) if a >= log.val_accuracy[0] - accuracy_tolerance - 1e-9]
    log.chosen = min(ok, key=lambda i: (log.val_proxy[i], -i))
    student.load_state_dict(states[log.chosen])
    return student.eval(), log


def gan_removal(model: nn.Module, x: torch.Tensor, y: torch.Tensor, box: tuple[float, float], *,
                detect_steps: int = 150, finetune_steps: int = 600, lr: float = 1e-3, l1_weight: float = 0.01,
                val_fraction: float = 1 / 6, generator: str = "noise", prior: str = "mask", seed: int = 0,
                **removal) -> tuple[nn.Module, Detection, Removal]:
    """Both phases: detect the watermarked class(es) and fine-tune them away (the model is not changed in place).

    A seeded ``val_fraction`` of the attacker's images is held out (never used by the generators or the fine-tuning)
    to choose the fine-tuned checkpoint (:func:`remove`). If no class is flagged, the most anomalous class's trigger
    is still reversed into the fine-tuning (the attacker has nothing to lose). ``removal`` passes on to
    :func:`remove`.
    """
    n_val = round(val_fraction * len(x))
    if not 0 < n_val < len(x):
        raise ValueError(f"val_fraction {val_fraction} leaves no held-out or no training images of {len(x)}")
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    tr, va = perm[n_val:], perm[:n_val]
    det = detect(model, x[tr], box, steps=detect_steps, l1_weight=l1_weight, generator=generator, prior=prior,
                 seed=seed)
    chosen = det.flagged or [int(np.argmax(det.anomaly))]
    triggers = [t for t in det.triggers if t.target in chosen]
    cleaned, log = remove(model, x[tr], y[tr], triggers, (x[va], y[va]), steps=finetune_steps, lr=lr,
                          l1_weight=l1_weight, prior=prior, seed=seed, **removal)
    return cleaned, det, log
