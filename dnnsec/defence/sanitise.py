"""Training-set sanitisation: drop the samples a detector flags, retrain on the rest (Xue et al.).

The training-stage use of intentional adversarial perturbation (Xue et al., Information Sciences 634 (2023),
arXiv:2105.14259): a model trained on the untrusted set screens every training sample with
:class:`dnnsec.defence.perturbation.PerturbationDetector` (calibrated on clean held-out data), the flagged samples
are removed, and the model is retrained from scratch with the same zoo recipe on what is left.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from dnnsec.backdoor.data import PixelSet
from dnnsec.defence.classifier import DefenceError
from dnnsec.defence.perturbation import PerturbationDetector
from dnnsec.zoo.build import ZOO, train_zoo_model
from dnnsec.zoo.data import ImageSet


def flag_training_set(detector: PerturbationDetector, images: torch.Tensor, batch_size: int = 2000
                      ) -> torch.Tensor:
    """Boolean (N,): the samples of ``images`` (uint8, (N, C, H, W)) that ``detector`` flags."""
    out = [detector.flag(images[i:i + batch_size].float() / 255.0)[0] for i in range(0, len(images), batch_size)]
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.bool)


def _image_set(data: PixelSet, index: torch.Tensor) -> ImageSet:
    return ImageSet(data.standardise(data.intensities(index)), data.labels[index].clone(), data.name,
                    data.num_classes)


def retrain(arch: str, data: PixelSet, keep: torch.Tensor, test: PixelSet, seed: int, epochs: int | None = None,
            progress: bool = False) -> tuple[torch.nn.Module, dict]:
    """Train zoo architecture ``arch`` from scratch on the kept samples of ``data`` (the zoo's recipe).

    ``epochs`` counts passes over the kept samples (the zoo's own step count when None). Returns the model and
    the zoo's training record (its ``test_accuracy`` is the clean accuracy on ``test``).
    """
    if arch not in ZOO:
        raise DefenceError(f"unknown architecture {arch!r}; known: {', '.join(sorted(ZOO))}")
    if not bool(keep.any()):
        raise DefenceError(f"{data.name}: the detector flagged every training sample; nothing left to train on")
    spec = replace(ZOO[arch], config={"num_classes": data.num_classes, "in_channels": data.channels})
    if epochs is not None:
        steps = epochs * math.ceil(int(keep.sum()) / spec.batch_size)
        spec = replace(spec, train={**spec.train, "max_steps": steps})
    everything = torch.ones(len(test), dtype=torch.bool)
    return train_zoo_model(spec, seed, _image_set(data, keep), _image_set(test, everything), progress)
