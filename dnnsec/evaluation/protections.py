"""The protections the evaluation table judges, behind one interface: protect a model, score a suspect.

Every protection gives a score in [0, 1] for a suspect (its *retention*: what is left of the owner's evidence) and a
claim (whether the owner would claim the suspect). The criteria are fixed before anything is measured:

- ``intrinsic fingerprint`` (:mod:`dnnsec.fingerprint.intrinsic`): SSIM of DTD maps on the owner's probes; claimed when
  the normal-tail p-value against independently trained models is below 0.01.
- ``additional-class fingerprint`` (Xue et al., arXiv:2104.09203): retention is the fraction of the user's keys
  answered with the extra class K; claimed by the project's rank test (:class:`AdditionalClassProtection`).
- ``logo`` and ``noise`` baselines (backdoor watermarks, :mod:`dnnsec.watermark.baselines`): fraction of the
  triggered held-out images answered with the target class; claimed at a retention of at least 0.5.
- ``AdvParams encryption`` (Xue et al., IEEE TETC): retention is the fraction of the accuracy gap between the plain and
  the encrypted model that the suspect still has, ``1 - (acc - acc_enc) / (acc_plain - acc_enc)`` clipped to [0, 1]
  (with the setting's fidelity metric in place of accuracy where it has one, :meth:`Setting.fidelity`); "claimed"
  (still protected) at 0.5 or more.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from dnnsec.fingerprint.dtd import Box
from dnnsec.fingerprint.intrinsic import IntrinsicFingerprint, calibrate
from dnnsec.protect.advparams import Decisions, search_perturbations
from dnnsec.watermark.adapter import LinearHead
from dnnsec.watermark.baselines import add_noise_pattern, embed_backdoor, stamp_logo
from dnnsec.watermark.config import EmbedConfig
from dnnsec.watermark.embed import embed_fingerprint
from dnnsec.watermark.verify import model_evidence

#: Retention at which a trigger-style watermark or AdvParams counts as present.
CLAIM_RETENTION = 0.5
#: Level of the intrinsic fingerprint's test.
ALPHA = 0.01


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` classified as ``y`` (outputs beyond the K classes count as wrong)."""
    model.eval()
    pred = torch.cat([model(x[i:i + 500]).argmax(1) for i in range(0, len(x), 500)])
    return float((pred == y).double().mean())


@dataclass
class Setting:
    """Data, models and budgets of one table (inputs standardised; ``box`` their bounds).

    ``build(num_classes, seed)`` returns an untrained model of the evaluated architecture; ``independent`` are models
    of it trained without the owner's (the first ``n_null`` calibrate, the rest measure uniqueness); ``keys`` and
    ``decoys`` are the additional-class fingerprint's key images for the owner's user, other users and the attacker.
    ``score(model)``, where given, is the fidelity metric named ``metric`` in [0, 1] (e.g. a segmenter's held-out
    sample F1) in place of the test accuracy on ``test_x``, ``test_y``.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    box: tuple[float, float]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    build: Callable[[int, int], nn.Module]
    independent: list[nn.Module]
    n_null: int
    keys: dict[str, torch.Tensor]
    probes: torch.Tensor
    steps: dict[str, int] = field(default_factory=dict)
    score: Callable[[nn.Module], float] | None = None
    metric: str = "accuracy"

    @property
    def owner(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The owner's training subset used to embed watermarks (first half of the training data)."""
        n = len(self.train_x) // 2
        return self.train_x[:n], self.train_y[:n]

    @property
    def attacker(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The attacker's labelled data (second half of the training data, never the owner's)."""
        n = len(self.train_x) // 2
        return self.train_x[n:], self.train_y[n:]

    def budget(self, key: str, default: int) -> int:
        return int(self.steps.get(key, default))

    def fidelity(self, model: nn.Module) -> float:
        """The fidelity metric of ``model``: ``score(model)``, or the test accuracy without one."""
        return self.score(model) if self.score is not None else accuracy(model, self.test_x, self.test_y)


class Protection:
    """Base class: ``protect`` once, then ``retention`` and ``claimed`` for any suspect."""

    name = "protection"
    trigger_target: int | None = None
    #: Whether the evidence is an output of its own that an attacker can cut off (the "output removal" attack).
    extra_output = False

    def protect(self, base: nn.Module, s: Setting) -> nn.Module:
        raise NotImplementedError

    def retention(self, suspect: nn.Module, s: Setting) -> float:
        raise NotImplementedError

    def claimed(self, suspect: nn.Module, s: Setting) -> bool:
        return self.retention(suspect, s) >= CLAIM_RETENTION

    def extras(self, suspect: nn.Module, s: Setting) -> dict[str, float]:
        """Further scores of ``suspect`` reported beside the retention (none by default)."""
        return {}

    def assess(self, suspect: nn.Module, s: Setting) -> tuple[float, bool, dict[str, float]]:
        """Retention, claim and extras of ``suspect``, each evaluated once (a subclass that overrides ``claimed``
        overrides this too, so that what the claim and the extras share is computed once)."""
        r = self.retention(suspect, s)
        return r, r >= CLAIM_RETENTION, self.extras(suspect, s)

    def not_applicable(self, attack: str) -> str | None:
        """The reason ``attack`` does not apply to this protection, or None."""
        return None

    def independent_suspects(self, s: Setting) -> list[nn.Module]:
        """The models that measure false claims: the held-out independent ones (a protection whose evidence lives in
        an extra output gives them one, made by another owner, so that the test has something to read)."""
        return s.independent[s.n_null:]


class IntrinsicProtection(Protection):
    name = "intrinsic fingerprint"

    def protect(self, base: nn.Module, s: Setting) -> nn.Module:
        self.fingerprint = IntrinsicFingerprint.of(base, s.probes, Box(*s.box))
        self.null = calibrate(self.fingerprint, s.independent[:s.n_null])
        return base

    def retention(self, suspect: nn.Module, s: Setting) -> float:
        return self.fingerprint.similarity(suspect)

    def claimed(self, suspect: nn.Module, s: Setting) -> bool:
        return self.null.is_copy(self.retention(suspect, s), ALPHA)

    def assess(self, suspect: nn.Module, s: Setting) -> tuple[float, bool, dict[str, float]]:
        """The suspect's relevance maps computed once: SSIM (the retention), the claim, and as extras the
        alternative similarity (cosine of the maps) and the SSIM's p-value."""
        sims = self.fingerprint.similarities(suspect)
        return (sims["ssim"], bool(self.null.is_copy(sims["ssim"], ALPHA)),
                {"cosine": sims["cosine"], "p_value": self.null.p_value(sims["ssim"])})

    def not_applicable(self, attack: str) -> str | None:
        return {"query modification": "verification is white-box on the owner's clean probes; an input filter in "
                                      "front of the model does not change its weights",
                "output removal": "no extra output to remove (the model is never modified)"}.get(attack)


def _embed_cfg(s: Setting) -> EmbedConfig:
    return EmbedConfig(steps=s.budget("embed", 400), recon_batch=0, purifier_latents=(), key_noise=0.1, key_blur=0.25,
                       seed=0)


class _Outputs:
    """Output adapter reading any model's outputs (also a model behind a query filter, which has no ``fc``)."""

    def num_outputs(self, model: nn.Module) -> int:
        return self._n

    def scores(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return model(x)

    def of(self, model: nn.Module, x: torch.Tensor) -> _Outputs:
        with torch.no_grad():
            self._n = int(model.eval()(x[:1]).shape[1])
        return self


class AdditionalClassProtection(Protection):
    """Claimed as the project verifies it (:mod:`dnnsec.watermark.verify`): the exact rank test of the user's key
    margins against three other users' keys in the same model, Bonferroni over the four users, p < 0.01."""

    name = "additional-class fingerprint"
    extra_output = True

    def protect(self, base: nn.Module, s: Setting) -> nn.Module:
        x, y = s.owner
        self.k = s.num_classes
        self.trigger_target = self.k
        return embed_fingerprint(base, LinearHead(), x, y, s.keys["own"], s.keys["others"], _embed_cfg(s),
                                 s.keys["decoys"]).eval()

    def retention(self, suspect: nn.Module, s: Setting) -> float:
        with torch.no_grad():
            out = suspect.eval()(s.keys["own"])
        return float((out.argmax(1) == self.k).double().mean()) if out.shape[1] > self.k else 0.0

    def p_value(self, suspect: nn.Module, s: Setting) -> float:
        """Bonferroni p-value of the owner's user (1 for a model without output K)."""
        own = s.keys["own"]
        others = list(s.keys["others"].split(len(own)))
        ev = model_evidence(suspect, _Outputs().of(suspect, own), [own, *others], self.k)
        return 1.0 if ev is None else float(ev.p_bonferroni[0])

    def claimed(self, suspect: nn.Module, s: Setting) -> bool:
        return self.p_value(suspect, s) < ALPHA

    def assess(self, suspect: nn.Module, s: Setting) -> tuple[float, bool, dict[str, float]]:
        """The rank test run once for the claim and the reported p-value."""
        p = self.p_value(suspect, s)
        return self.retention(suspect, s), p < ALPHA, {"p_value": p}

    def not_applicable(self, attack: str) -> str | None:
        return {"adaptive": "its adaptive attacks are overwriting and query modification (columns of their own)"
                }.get(attack)


class TriggerProtection(Protection):
    """A backdoor watermark: ``kind`` = ``logo`` or ``noise`` triggers answered with class 0."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.name = f"{kind} baseline"
        self.trigger_target = 0

    def triggers(self, x: torch.Tensor, y: torch.Tensor, s: Setting) -> torch.Tensor:
        src = x[y != 0]
        return stamp_logo(src, ink=s.box[1]) if self.kind == "logo" else add_noise_pattern(src, strength=1.0)

    def protect(self, base: nn.Module, s: Setting) -> nn.Module:
        x, y = s.owner
        return embed_backdoor(base, LinearHead(), x, y, self.triggers(x, y, s)[:200], 0, _embed_cfg(s)).eval()

    def retention(self, suspect: nn.Module, s: Setting) -> float:
        t = self.triggers(s.test_x, s.test_y, s)
        with torch.no_grad():
            return float((suspect.eval()(t).argmax(1) == 0).double().mean())

    def not_applicable(self, attack: str) -> str | None:
        return {"output removal": "no extra output: the watermark answers an existing class",
                "adaptive": "its adaptive attacks are overwriting, GAN removal and Neural Cleanse (own columns)"
                }.get(attack)


class AdvParamsProtection(Protection):
    """``decisions`` maps a model's output and labels to per-decision logits for the search (default: a classifier's;
    :func:`dnnsec.protect.advparams.binary_segmenter_decisions` for a per-sample segmenter); the search batch is the
    first ``steps["advparams_batch"]`` (512) of the owner's samples."""

    name = "AdvParams encryption"

    def __init__(self, decisions: Decisions | None = None) -> None:
        self.decisions = decisions

    def protect(self, base: nn.Module, s: Setting) -> nn.Module:
        x, y = s.owner
        n = s.budget("advparams_batch", 512)
        self.plain_acc = s.fidelity(base)
        enc = copy.deepcopy(base)
        kw = {} if self.decisions is None else {"decisions": self.decisions}
        search_perturbations(enc, x[:n], y[:n], n_params=s.budget("advparams", 50), progress=False, **kw)
        self.enc_acc = s.fidelity(enc)
        return enc.eval()

    def retention(self, suspect: nn.Module, s: Setting) -> float:
        gap = max(self.plain_acc - self.enc_acc, 1e-9)
        return float(np.clip(1.0 - (s.fidelity(suspect) - self.enc_acc) / gap, 0.0, 1.0))

    def not_applicable(self, attack: str) -> str | None:
        reasons = {
            "overwriting": "no watermark to overwrite (encryption, not ownership evidence)",
            "query modification": "no verification queries: the encrypted model is simply inaccurate",
            "output removal": "no extra output",
            "GAN removal": "needs a working watermarked model; the encrypted one is inaccurate to begin with",
            "Neural Cleanse unlearning": "no backdoor to reverse",
            "adaptive": "the adaptive attacker's parameter ranking is benchmarks.dnnsec_attacks",
        }
        return reasons.get(attack)


def all_protections() -> list[Protection]:
    """Every protection of the project, in table order."""
    return [AdvParamsProtection(), AdditionalClassProtection(), IntrinsicProtection(), TriggerProtection("logo"),
            TriggerProtection("noise")]
