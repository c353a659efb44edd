"""Backdoor attack objects, in the spirit of ART's poisoning attacks: poison a training set, then report metrics.

An attack is one or more triggers, each with a target class, a poisoning rate and how backdoor instances are
transformed during training (:mod:`dnnsec.backdoor.train`):

============= ============================================================ ===============================
name          trigger(s) and targets                                       training of backdoor instances
============= ============================================================ ===============================
dct-n2n       N multi-channel DCT triggers -> N target classes 0..N-1      plain
dct-n2one     N multi-channel DCT triggers -> class 0                      plain
dct           1 DCT trigger -> class 0 (the plain backdoor)                plain
compression   1 DCT trigger -> class 0                                     codec round trips + feature
                                                                           consistency
badnets       checkerboard patch -> class 0                                plain
blended       random-pattern blend (alpha 0.2) -> class 0                  plain
physical      square / triangle / glasses patch -> class 0                 plain
ptb           square / triangle / glasses patch -> class 0                 random physical transformations
============= ============================================================ ===============================

Methods: Xue et al., "Imperceptible and multi-channel backdoor attack", Applied Intelligence 2024
(arXiv:2201.13164) for the DCT attacks; Xue et al., "Compression-resistant backdoor attack against deep neural
networks", Applied Intelligence 53 (2023) (arXiv:2201.00672); Xue et al., "PTB: Robust physical backdoor attacks
against deep neural networks in real world", Computers & Security 118 (2022); BadNets (Gu et al.,
arXiv:1708.06733); Blended (Chen et al., arXiv:1712.05526). Targets: ``docs/acceptance.md#backdoor-attacks``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from dnnsec.backdoor import ATTACKS
from dnnsec.backdoor.codecs import CODECS, round_trip
from dnnsec.backdoor.data import PixelSet
from dnnsec.backdoor.metrics import attack_success_rate, predict, psnr, ssim
from dnnsec.backdoor.physical import held_physical
from dnnsec.backdoor.triggers import PHYSICAL_SHAPES, BlendTrigger, PatchTrigger, PhysicalTrigger, dct_triggers
from dnnsec.errors import DnnsecError

#: Default poisoning rate (fraction of the whole training set, shared by all triggers) per attack; 0.1 otherwise.
DEFAULT_RATES = {"dct-n2n": 0.2, "physical": 0.005, "ptb": 0.005}
#: DCT trigger amplitude (8-bit grey levels) of N-to-N, where triggers must be told apart, and of the other DCT
#: attacks. On MNIST (seed 0, N = 4, 2 epochs) amplitude 24 gave 44 % mean ASR at rate 0.1 and 92 % at rate 0.2;
#: 32 gave 71 % at 0.1 and 98 % at 0.2 (PSNR 36.8 dB).
N2N_AMPLITUDE, DCT_AMPLITUDE = 32.0, 24.0
#: Codec qualities at which compression robustness is evaluated.
EVAL_QUALITIES = (10, 30, 50, 70, 90)


class AttackError(DnnsecError):
    """An attack's settings do not fit the data (rate, trigger count, target classes, codecs)."""


class Trigger(Protocol):
    """Anything that triggers a batch: ``apply(x)`` on (N, C, H, W) intensities in [0, 1], same shape back."""

    def apply(self, x: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class PoisonedSet:
    """A training set with backdoor instances in place of some clean ones.

    Attributes
    ----------
    images : torch.Tensor
        uint8 (N, C, H, W): the clean images with the triggered ones written over them.
    labels : torch.Tensor
        int64 (N,): poisoned samples relabelled to their trigger's target.
    indices : numpy.ndarray
        Sorted indices of the poisoned samples.
    trigger_of : numpy.ndarray
        Trigger number of each poisoned sample (same order as ``indices``).
    """

    images: torch.Tensor
    labels: torch.Tensor
    indices: np.ndarray
    trigger_of: np.ndarray

    @property
    def mask(self) -> torch.Tensor:
        """Boolean (N,): which samples are poisoned."""
        m = torch.zeros(len(self.labels), dtype=torch.bool)
        m[torch.as_tensor(self.indices, dtype=torch.long)] = True
        return m


@dataclass
class BackdoorAttack:
    """A backdoor attack: triggers with their targets, a poisoning rate and the training of backdoor instances.

    Attributes
    ----------
    name : str
        One of :data:`ATTACKS`.
    triggers : list
        Objects with ``apply(x) -> x`` on (N, C, H, W) intensities in [0, 1].
    targets : list of int
        Target class of each trigger.
    poison_rate : float
        Fraction of the training samples replaced by backdoor instances (0 < rate < 1).
    transform : str
        ``"none"``, ``"compression"`` (codec round trips and feature consistency) or ``"physical"`` (PTB).
    codecs : tuple of str
        Codecs used in training when ``transform == "compression"``.
    consistency_weight : float
        Weight of the feature-consistency loss (mean squared difference of penultimate features).
    clean_transform_rate : float
        With ``transform == "physical"``: fraction of the clean samples of each batch that also get a random
        physical transformation, keeping their labels, so that the transformation itself cannot become the
        trigger.
    physical_copies : int
        With ``transform == "physical"``: differently transformed copies of each backdoor instance in its batch.
    evaluations : tuple of str
        Extra evaluations of :meth:`evaluate`: ``"compression"``, ``"physical"``.
    """

    name: str
    triggers: list[Trigger]
    targets: list[int]
    poison_rate: float
    transform: str = "none"
    codecs: tuple[str, ...] = CODECS
    consistency_weight: float = 1.0
    clean_transform_rate: float = 0.1
    physical_copies: int = 4
    evaluations: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not 0.0 < self.poison_rate < 1.0:
            raise AttackError(f"--poison-rate must lie in (0, 1), got {self.poison_rate}")
        if len(self.triggers) != len(self.targets) or not self.triggers:
            raise AttackError(f"{len(self.triggers)} triggers but {len(self.targets)} targets")
        if self.physical_copies < 1 or not 0.0 <= self.clean_transform_rate <= 1.0:
            raise AttackError(f"physical_copies must be >= 1 and clean_transform_rate in [0, 1], got "
                              f"{self.physical_copies} and {self.clean_transform_rate}")
        unknown = sorted(set(self.codecs) - set(CODECS))
        if unknown or not self.codecs:
            raise AttackError(f"codecs must be a non-empty subset of {CODECS}, got {self.codecs}")

    def describe(self) -> list[str]:
        """One readable description per trigger."""
        return [f"{t!r} -> class {c}" for t, c in zip(self.triggers, self.targets, strict=True)]

    def poison(self, data: PixelSet, seed: int) -> PoisonedSet:
        """Replace ``round(poison_rate * N)`` samples by backdoor instances, split evenly among the triggers.

        Trigger ``k`` takes samples whose class is not its target, drawn at random (seeded); they are triggered
        and relabelled to the target.

        Raises
        ------
        AttackError
            If a target class does not exist or too few samples are left for a trigger.
        """
        n = len(data)
        if max(self.targets) >= data.num_classes:
            raise AttackError(f"{data.name}: target classes {self.targets} but the data set has "
                              f"{data.num_classes} classes")
        total = round(self.poison_rate * n)
        if total < len(self.triggers):
            raise AttackError(f"{data.name}: poison rate {self.poison_rate} gives {total} backdoor samples, fewer "
                              f"than the {len(self.triggers)} triggers")
        rng = np.random.default_rng(seed)
        free = np.ones(n, dtype=bool)
        labels_np = data.labels.numpy()
        chosen, owner = [], []
        for k, target in enumerate(self.targets):
            count = total // len(self.triggers) + (k < total % len(self.triggers))
            pool = np.flatnonzero(free & (labels_np != target))
            if len(pool) < count:
                raise AttackError(f"{data.name}: only {len(pool)} samples left for trigger {k}, need {count}")
            pick = rng.choice(pool, size=count, replace=False)
            free[pick] = False
            chosen.append(pick)
            owner.append(np.full(count, k))
        idx, trig = np.concatenate(chosen), np.concatenate(owner)
        order = np.argsort(idx)
        idx, trig = idx[order], trig[order]
        images, labels = data.images.clone(), data.labels.clone()
        for k, (trigger, target) in enumerate(zip(self.triggers, self.targets, strict=True)):
            sel = torch.as_tensor(idx[trig == k], dtype=torch.long)
            triggered = trigger.apply(data.intensities(sel))
            images[sel] = torch.round(triggered * 255.0).to(torch.uint8)
            labels[sel] = target
        return PoisonedSet(images, labels, idx, trig)

    def evaluate(self, model: torch.nn.Module, test: PixelSet, codec_images: int = 2000,
                 eval_codecs: tuple[str, ...] = CODECS) -> dict:
        """Clean accuracy, and ASR, PSNR and SSIM per trigger on ``test`` (fractions; PSNR in dB).

        With ``"compression"`` in :attr:`evaluations`, also the ASR of trigger 0 after each of ``eval_codecs`` at
        :data:`EVAL_QUALITIES` (on the first ``codec_images`` eligible test images); with ``"physical"``, the ASR
        and clean accuracy under the held physical pipeline (:func:`dnnsec.backdoor.physical.held_physical`).
        """
        t0 = time.perf_counter()
        clean = test.intensities()
        pred = predict(model, test.standardise(clean))
        out: dict = {"clean_accuracy": float((pred == test.labels).double().mean()), "triggers": []}
        for trigger, target, text in zip(self.triggers, self.targets, self.describe(), strict=True):
            keep = test.labels != target
            x = clean[keep]
            xt = trigger.apply(x)
            out["triggers"].append({"trigger": text, "target": target,
                                    "asr": attack_success_rate(model, xt, target, test.standardise),
                                    "psnr_db": psnr(x, xt), "ssim": ssim(x, xt)})
        out["asr_mean"] = float(np.mean([t["asr"] for t in out["triggers"]]))
        trigger, target = self.triggers[0], self.targets[0]
        base = clean[test.labels != target]
        if "compression" in self.evaluations:
            xt = trigger.apply(base[:codec_images])
            out["compression"] = {c: {str(q): attack_success_rate(model, round_trip(xt, c, q), target,
                                                                  test.standardise)
                                      for q in EVAL_QUALITIES} for c in eval_codecs}
        if "physical" in self.evaluations:
            out["physical"] = {
                "asr_held": attack_success_rate(model, held_physical(trigger.apply(base)), target, test.standardise),
                "clean_accuracy_held": float((predict(model, test.standardise(held_physical(clean)))
                                              == test.labels).double().mean())}
        out["eval_seconds"] = time.perf_counter() - t0
        return out


def make_attack(name: str, num_classes: int, channels: int, poison_rate: float | None = None,
                n_triggers: int = 4, shape: str = "square", codecs: tuple[str, ...] = CODECS) -> BackdoorAttack:
    """Build attack ``name`` (one of :data:`ATTACKS`) for ``channels``-channel images of ``num_classes`` classes.

    ``poison_rate`` defaults to :data:`DEFAULT_RATES` (0.1 where not listed); ``n_triggers`` is N of the DCT N-to-N
    and N-to-One attacks; ``shape`` is the physical trigger's; ``codecs`` are those trained on by
    ``compression``.
    """
    if name not in ATTACKS:
        raise AttackError(f"unknown attack {name!r}; known: {', '.join(ATTACKS)}")
    rate = DEFAULT_RATES.get(name, 0.1) if poison_rate is None else poison_rate
    if name in ("dct-n2n", "dct-n2one"):
        if not 2 <= n_triggers <= 6:
            raise AttackError(f"--n-triggers must lie in 2..6, got {n_triggers}")
        if name == "dct-n2n" and n_triggers > num_classes:
            raise AttackError(f"{n_triggers} triggers need {n_triggers} target classes; the data has {num_classes}")
        n2n = name == "dct-n2n"
        targets = list(range(n_triggers)) if n2n else [0] * n_triggers
        amplitude = N2N_AMPLITUDE if n2n else DCT_AMPLITUDE
        return BackdoorAttack(name, list(dct_triggers(n_triggers, channels, amplitude)), targets, rate)
    if name in ("dct", "compression"):
        transform = "compression" if name == "compression" else "none"
        return BackdoorAttack(name, list(dct_triggers(1, channels, DCT_AMPLITUDE)), [0], rate, transform=transform,
                              codecs=tuple(codecs), evaluations=("compression",))
    if name in ("physical", "ptb"):
        if shape not in PHYSICAL_SHAPES:
            raise AttackError(f"--shape must be one of {', '.join(PHYSICAL_SHAPES)}, got {shape!r}")
        return BackdoorAttack(name, [PhysicalTrigger(shape)], [0], rate,
                              transform="physical" if name == "ptb" else "none", evaluations=("physical",))
    trigger: Trigger = PatchTrigger() if name == "badnets" else BlendTrigger()
    return BackdoorAttack(name, [trigger], [0], rate)
