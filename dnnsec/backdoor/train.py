"""Train a backdoored model with the zoo's recipe on ``shared.trainer``, and save it as a zoo checkpoint.

The model, optimiser, schedule and batch size are those of :data:`dnnsec.zoo.build.ZOO` for the architecture,
run for a number of epochs over the poisoned training set (the zoo's own by default: ``mnist_cnn`` 2, ``resnet8``
10, ``resnet20`` 5). Only the batches differ (:class:`BackdoorBatches`):

- ``compression``: each backdoor instance in a batch also enters as a copy round-tripped through a codec drawn
  from the attack's codecs at a quality drawn from 10..90, labelled with the target; the loss adds
  ``consistency_weight`` times the mean squared difference between the penultimate-layer features of each backdoor
  image and its compressed copy (feature consistency; Xue et al., Applied Intelligence 53 (2023),
  arXiv:2201.00672).
- ``physical`` (PTB; Xue et al., Computers & Security 118 (2022)): backdoor instances get a freshly drawn random
  physical transformation (:func:`dnnsec.backdoor.physical.random_physical`) each time they are drawn, so every
  epoch sees them differently; each enters its batch as ``physical_copies`` (4) differently transformed copies.
  A fraction (``clean_transform_rate``, 10 %) of the clean samples of each batch get
  one too, with their own labels: without them the network learns the transformation, not the trigger, as the
  backdoor (measured on MNIST: triggered images untransformed 0.3-1.0 % ASR, clean accuracy under the held
  pipeline 46-56 %).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch.nn import functional as F

import dnnsec.zoo.models  # noqa: F401  (registers the architectures)
from dnnsec.backdoor.codecs import random_round_trip
from dnnsec.backdoor.data import PixelSet
from dnnsec.backdoor.physical import random_physical
from dnnsec.backdoor.poison import AttackError, BackdoorAttack, PoisonedSet
from dnnsec.zoo.augment import random_crop_flip
from dnnsec.zoo.build import ZOO
from shared.architectures import build_model
from shared.data import TensorBatches
from shared.seeding import seed_everything, stream_rng
from shared.trainer import Trainer

#: Epochs of the zoo recipes (the zoo's ``max_steps`` over its data set's steps per epoch at batch 128).
ZOO_EPOCHS = {"mnist_cnn": 2, "resnet8": 10, "resnet20": 5}


class BackdoorBatches:
    """Step-indexed batches ``(x, (y, pairs))`` of a poisoned set (exact resume, as :class:`TensorBatches`).

    ``x`` is standardised model input; ``pairs`` holds the rows of the backdoor instances whose compressed copies
    are appended at the end of ``x`` (empty unless the attack trains on codecs).
    """

    def __init__(self, data: PixelSet, poisoned: PoisonedSet, attack: BackdoorAttack, batch_size: int, seed: int,
                 augment: bool) -> None:
        self.data, self.poisoned, self.attack = data, poisoned, attack
        self.mask = poisoned.mask
        self.order = TensorBatches(torch.arange(len(poisoned.labels)), poisoned.labels, batch_size, seed=seed)
        self.seed, self.augment = seed, augment

    def batch(self, step: int) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        idx, y = self.order.batch(step)
        x = self.poisoned.images[idx].float() / 255.0
        rows = torch.nonzero(self.mask[idx]).flatten()
        rng = stream_rng(self.seed, 3, step)
        if self.attack.transform == "physical":
            clean = torch.nonzero(~self.mask[idx]).flatten()
            picked = clean[torch.from_numpy(rng.random(len(clean)) < self.attack.clean_transform_rate)]
            extra = rows.repeat(self.attack.physical_copies - 1)
            x, y = torch.cat([x, x[extra]]), torch.cat([y, y[extra]])
            both = torch.cat([rows, picked, torch.arange(len(idx), len(x))])
            x[both] = random_physical(x[both], rng)
        if self.attack.transform == "compression" and len(rows):
            x = torch.cat([x, random_round_trip(x[rows], self.attack.codecs, rng)])
            y = torch.cat([y, y[rows]])
        else:
            rows = rows[:0]
        x = self.data.standardise(x)
        if self.augment:
            x = random_crop_flip(x, stream_rng(self.seed, 1, step))
        return x, (y, rows)


def _features_and_logits(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    feats = model.features(x)
    return model.fc(feats), feats


def consistency_loss(weight: float) -> Callable:
    """Cross-entropy plus ``weight`` x the feature-consistency term (see the module docstring)."""

    def loss(output: tuple[torch.Tensor, torch.Tensor], target: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        (logits, feats), (y, rows) = output, target
        value = F.cross_entropy(logits, y)
        if len(rows):
            value = value + weight * F.mse_loss(feats[rows], feats[len(feats) - len(rows):])
        return value

    return loss


def train_backdoor(attack: BackdoorAttack, arch: str, train: PixelSet, seed: int, epochs: int | None = None,
                   progress: bool = True, batches_hook: Callable | None = None
                   ) -> tuple[torch.nn.Module, PoisonedSet, dict]:
    """Poison ``train`` with ``attack`` and train zoo architecture ``arch`` on it with the zoo recipe.

    ``batches_hook(batches, model)``, when given, replaces the :class:`BackdoorBatches` by what it returns (an
    object with ``batch(step)``), e.g. an adaptive attacker's batches that need the model being trained.

    Returns the model (eval mode), the poisoned set and a record: data set, architecture config, steps, epochs,
    number of poisoned samples, CPU and wall time (s).
    """
    if arch not in ZOO:
        raise AttackError(f"unknown architecture {arch!r}; known: {', '.join(sorted(ZOO))}")
    spec = ZOO[arch]
    epochs = ZOO_EPOCHS[arch] if epochs is None else epochs
    if epochs < 1:
        raise AttackError(f"--epochs must be >= 1, got {epochs}")
    poisoned = attack.poison(train, seed)
    seed_everything(seed)
    config = {"num_classes": train.num_classes, "in_channels": train.channels}
    model = build_model(arch, config)
    batches = BackdoorBatches(train, poisoned, attack, spec.batch_size, seed, spec.augment)
    if batches_hook is not None:
        batches = batches_hook(batches, model)
    steps = epochs * math.ceil(len(train) / min(spec.batch_size, len(train)))
    cfg = {"converge_tol": 0.0, "log_every": 50, **spec.train, "max_steps": steps, "seed": seed}
    if attack.transform == "compression":
        if not (hasattr(model, "features") and hasattr(model, "fc")):
            raise AttackError(f"{arch}: feature consistency needs a model with .features and .fc")
        trainer = Trainer(model, consistency_loss(attack.consistency_weight), cfg, batches, progress=progress,
                          forward=_features_and_logits)
    else:
        trainer = Trainer(model, lambda out, target: F.cross_entropy(out, target[0]), cfg, batches,
                          progress=progress)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = trainer.fit()
    record = {"dataset": train.name.split("/")[0], "arch": arch, "config": config, "seed": seed,
              "epochs": epochs, "steps": result.steps, "n_poisoned": len(poisoned.indices),
              "cpu_seconds": time.process_time() - cpu0, "wall_seconds": time.perf_counter() - wall0,
              "train": cfg}
    return model.eval(), poisoned, record

