"""Training-set sanitisation: drop the samples a detector flags, retrain on the rest (Xue et al.).

The training-stage use of intentional adversarial perturbation (Xue et al., Information Sciences 634 (2023),
arXiv:2105.14259): a model trained on the untrusted set screens every training sample with
:class:`dnnsec.defence.perturbation.PerturbationDetector` (calibrated on clean held-out data), the flagged samples
are removed, and the model is retrained from scratch with the same zoo recipe on what is left. One round leaves a
few hundred poisoned samples on MNIST (for BadNets, those the class perturbation turns back into their own class),
enough for the backdoor; :func:`sanitise` iterates: the retrained model's detector screens the kept samples again
(docs/results.md#backdoor-defences).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from dnnsec.backdoor.data import PixelSet
from dnnsec.defence.classifier import DefenceError, PixelClassifier
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


@dataclass(frozen=True)
class SanitiseRound:
    """One screening round of :func:`sanitise`.

    Attributes
    ----------
    flagged : torch.Tensor
        bool (N,) over the whole training set: the samples this round's detector flagged (all were kept before it).
    keep : torch.Tensor
        bool (N,): the samples kept after this round (the retrained model's training set).
    flag_rate : dict
        Fraction of the samples of each training label that this round flagged (label -> fraction).
    model : torch.nn.Module
        The model retrained from scratch on ``keep``.
    record : dict
        The zoo's training record of ``model`` (its ``test_accuracy`` is the clean accuracy on the test set).
    """

    flagged: torch.Tensor
    keep: torch.Tensor
    flag_rate: dict
    model: torch.nn.Module
    record: dict


def sanitise(clf: PixelClassifier, arch: str, data: PixelSet, test: PixelSet, fit: torch.Tensor,
             calibration: torch.Tensor, seed: int, rounds: int = 3, fpr: float = 0.01, stop_factor: float = 2.0,
             detector: dict | None = None, epochs: int | None = None, on_round=None) -> list[SanitiseRound]:
    """Iterated sanitisation: screen, remove the flagged samples, retrain, and screen the kept set again.

    Round 1 screens every sample of ``data`` with a :class:`PerturbationDetector` of ``clf`` (the model trained on
    the untrusted set), fitted on the clean held-out images ``fit`` and calibrated at ``fpr`` on ``calibration``;
    the flagged samples are removed and zoo architecture ``arch`` is retrained from scratch on the rest
    (:func:`retrain`). Each later round screens the kept samples with a detector of the model retrained in the round
    before (fitted and calibrated on the same clean held-out images), and so on. The escapees of one round carry
    the retrained model's backdoor alone, and its detector may catch them (on MNIST BadNets it does on some seeds;
    a backdoor so weakened that its instances no longer resist the perturbation, or a Blended backdoor that a few
    dozen samples keep whole, defeats it: docs/results.md#backdoor-defences). Rounds stop after ``rounds``, or
    once no training label has more than ``stop_factor * fpr`` of its
    samples flagged (what is flagged then is what clean data alone gives).

    Parameters
    ----------
    clf : PixelClassifier
        The model trained on ``data``.
    arch : str
        Zoo architecture to retrain.
    data : PixelSet
        The untrusted training set (labels as given).
    test : PixelSet
        Clean test set for the training record's accuracy.
    fit, calibration : torch.Tensor
        Disjoint clean held-out intensities in [0, 1] (N, C, H, W): perturbations are fitted on ``fit``, the
        threshold set on ``calibration``.
    seed : int
        Seed of the detector's fitting and of every retraining.
    rounds : int
        Most screening rounds (each followed by a retraining).
    fpr : float
        False-positive rate of each round's threshold on clean held-out data.
    stop_factor : float
        A round whose per-label flag rates all stay at or below ``stop_factor * fpr`` ends the iteration.
    detector : dict, optional
        Keyword arguments of :class:`PerturbationDetector` (budget, steps, ...).
    epochs : int, optional
        Of :func:`retrain`.
    on_round : callable, optional
        Called with each :class:`SanitiseRound` as it completes (progress, metrics).

    Returns
    -------
    list of SanitiseRound
        One per round done; the last one's ``model`` is the sanitised model.

    References
    ----------
    Xue et al., Information Sciences 634 (2023), arXiv:2105.14259 (training-stage screening by intentional
    adversarial perturbation).
    """
    if rounds < 1 or stop_factor <= 0:
        raise DefenceError(f"sanitisation needs rounds >= 1 and stop_factor > 0, got {rounds} and {stop_factor}")
    keep = torch.ones(len(data), dtype=torch.bool)
    out: list[SanitiseRound] = []
    current = clf
    for _ in range(rounds):
        det = PerturbationDetector(current, data.num_classes, seed=seed, **(detector or {}))
        det.fit(fit).calibrate(calibration, fpr)
        idx = torch.nonzero(keep).flatten()
        flagged = torch.zeros(len(data), dtype=torch.bool)
        flagged[idx] = flag_training_set(det, data.images[idx])
        labels = data.labels[idx]
        rate = {int(c): float(flagged[idx][labels == c].double().mean()) for c in labels.unique()}
        keep = keep & ~flagged
        model, record = retrain(arch, data, keep, test, seed, epochs)
        out.append(SanitiseRound(flagged, keep.clone(), rate, model, record))
        if on_round is not None:
            on_round(out[-1])
        if max(rate.values()) <= stop_factor * fpr:
            break
        current = PixelClassifier(model, data.mean, data.std)
    return out
