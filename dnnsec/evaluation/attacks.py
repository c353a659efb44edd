"""The attacks of the evaluation table, each ``attack(model, protection, setting) -> suspect model``.

All work on a copy with the attacker's own labelled data (:attr:`Setting.attacker`, disjoint from the owner's):
fine-tuning at two learning rates, global magnitude pruning to 50 %, fine-pruning, overwriting, query modification,
removing the extra output, distillation into a fresh model, GAN-based removal (at most 1 % of the training data),
Neural Cleanse unlearning (:mod:`dnnsec.defence`, where it is installed) and the adaptive attack of the protection.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from dnnsec.attacks.extraction import distill, remove_extra_output
from dnnsec.attacks.fineprune import fine_prune
from dnnsec.attacks.finetune import finetune
from dnnsec.attacks.gan_removal import gan_removal
from dnnsec.attacks.overwrite import overwrite
from dnnsec.attacks.prune import global_magnitude_prune
from dnnsec.attacks.query_modification import QueryModifier
from dnnsec.autoencoder import train_autoencoder
from dnnsec.defence.classifier import PixelClassifier
from dnnsec.defence.neural_cleanse import neural_cleanse, unlearn
from dnnsec.evaluation.protections import AdditionalClassProtection, Protection, Setting, _embed_cfg
from dnnsec.fingerprint.adaptive import adaptive_finetune
from dnnsec.watermark.adapter import LinearHead
from dnnsec.watermark.baselines import add_noise_pattern, embed_backdoor

Attack = Callable[[nn.Module, Protection, Setting], nn.Module]


def _head(model: nn.Module) -> str:
    """Name of the last nn.Linear of ``model``."""
    return [n for n, m in model.named_modules() if isinstance(m, nn.Linear)][-1]


def _n_out(model: nn.Module, s: Setting) -> int:
    with torch.no_grad():
        return int(model.eval()(s.test_x[:1]).shape[1])


def _finetune(lr: float) -> Attack:
    def attack(model: nn.Module, p: Protection, s: Setting) -> nn.Module:
        x, y = s.attacker
        return finetune(copy.deepcopy(model), x, y, steps=s.budget("finetune", 300), lr=lr, seed=1)
    return attack


def _prune(model: nn.Module, p: Protection, s: Setting) -> nn.Module:
    out = copy.deepcopy(model)
    global_magnitude_prune(out, 0.5)
    return out.eval()


def _fine_prune(model: nn.Module, p: Protection, s: Setting) -> nn.Module:
    x, y = s.attacker
    return fine_prune(model, _head(model), x, y, fraction=0.5, lr=1e-3, steps=s.budget("finetune", 300), seed=1)


def _overwrite(model: nn.Module, p: Protection, s: Setting) -> nn.Module:
    x, y = s.attacker
    cfg = _embed_cfg(s)
    if isinstance(p, AdditionalClassProtection):
        return overwrite(model, LinearHead(), x, y, s.keys["attacker"], s.keys["decoys"], cfg)
    triggers = add_noise_pattern(x[y != 1][:200], strength=1.0, seed=12345)
    return embed_backdoor(model, LinearHead(), x, y, triggers, 1, cfg).eval()


class QueryModified(nn.Module):
    """``model`` behind the attacker's query modifier (suspicious queries replaced by their reconstruction)."""

    def __init__(self, model: nn.Module, modifier: QueryModifier) -> None:
        super().__init__()
        self.model, self.modifier = model, modifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self.modifier(x)[0])


def _query_modification(model: nn.Module, p: Protection, s: Setting) -> nn.Module:
    x, _ = s.attacker
    n_val = min(500, len(x) // 5)  # held-out clean queries set the detector's threshold
    ae = train_autoencoder(x[:-n_val], steps=s.budget("autoencoder", 600), seed=1)
    return QueryModified(model, QueryModifier.fit(ae, x[-n_val:])).eval()


def _output_removal(model: nn.Module, p: Protection, s: Setting) -> nn.Module:
    if _n_out(model, s) <= s.num_classes:
        return model
    return remove_extra_output(model, LinearHead(_head(model)))


def _distill(model: nn.Module, p: Protection, s: Setting) -> nn.Module:
    x, _ = s.attacker
    student = s.build(_n_out(model, s), 7)
    return distill(model, student, x, steps=s.budget("distill", 600), seed=1)


def _gan_removal(model: nn.Module, p: Protection, s: Setting) -> nn.Module:
    x, y = s.attacker
    n = max(10, len(s.train_x) // 100)  # at most 1 % of the training set
    out, det, _ = gan_removal(model, x[:n], y[:n], s.box, detect_steps=s.budget("gan", 150),
                           finetune_steps=s.budget("finetune", 300), seed=1)
    p.detection = det  # the protection's security metric reads it (is the watermark's class flagged?)
    return out


def _neural_cleanse(model: nn.Module, p: Protection, s: Setting) -> nn.Module:
    x, y = s.attacker
    n = max(10, len(s.train_x) // 100)
    mean = torch.tensor(s.mean).view(1, -1, 1, 1)
    std = torch.tensor(s.std).view(1, -1, 1, 1)
    pixels = (x[:n] * std + mean).clamp(0, 1)
    clf = PixelClassifier(copy.deepcopy(model), s.mean, s.std)
    report = neural_cleanse(clf, pixels, _n_out(model, s))
    chosen = report.flagged or [int(report.index.argmax())]
    return unlearn(clf, pixels, y[:n], [report.triggers[k] for k in chosen]).model.eval()


def _adaptive(model: nn.Module, p: Protection, s: Setting) -> nn.Module:
    x, y = s.attacker
    return adaptive_finetune(model, x, y, steps=s.budget("adaptive", 200), weight=10.0, seed=1)


ATTACKS: dict[str, Attack] = {
    "fine-tuning lr 1e-4": _finetune(1e-4),
    "fine-tuning lr 1e-3": _finetune(1e-3),
    "pruning 50 %": _prune,
    "fine-pruning": _fine_prune,
    "overwriting": _overwrite,
    "query modification": _query_modification,
    "output removal": _output_removal,
    "distillation": _distill,
    "GAN removal": _gan_removal,
    "Neural Cleanse unlearning": _neural_cleanse,
    "adaptive": _adaptive,
}


def not_applicable(attack: str, p: Protection) -> str | None:
    """Why ``attack`` is not run against ``p`` (None: it is)."""
    if attack == "output removal" and not p.extra_output:
        return p.not_applicable(attack) or "no extra output to remove"
    return p.not_applicable(attack)
