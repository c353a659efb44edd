"""The evaluation table for a per-sample binary segmenter (the sferic CNN): its protections and attacks.

The segmenter gives one decision logit per input sample, ``(N, T)`` for windows ``(N, channels, T)``, and its
training labels are 0/1 per sample. Protections (:mod:`dnnsec.evaluation.protections` names, so the tables line
up):

- ``AdvParams encryption`` with per-sample decisions (:func:`dnnsec.protect.advparams.binary_segmenter_decisions`);
- ``additional-class fingerprint``: the design carried over to the segmenter, one more head channel answering the
  user's key windows (:mod:`dnnsec.watermark.segmenter`; Xue et al., arXiv:2104.09203), claimed by the rank test of
  verification (Bonferroni over four users, p < 0.01);
- ``intrinsic fingerprint`` as for classifiers (each probe explained at its largest logit).

Attacks (:func:`segmenter_attacks`) take the training loop of the segmenter's own task from the caller (for the
sferic CNN ``amt train``'s loss, sampler and trainer, which ``dnnsec`` does not import) and are otherwise generic:
fine-tuning at two learning rates, global magnitude pruning to 50 %, fine-pruning of the head's inputs, overwriting
the fingerprint channel with the attacker's keys, cutting the fingerprint channel off, distillation into a fresh
model, and the intrinsic fingerprint's adaptive attacker. GAN removal and Neural Cleanse search for a class to flip
and have none here (:data:`UNAVAILABLE`). Targets: docs/acceptance.md#evaluation-table.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from dnnsec.attacks.extraction import remove_fingerprint_channels
from dnnsec.attacks.fineprune import feature_activity
from dnnsec.attacks.overwrite import overwrite_segmenter
from dnnsec.attacks.prune import global_magnitude_prune
from dnnsec.evaluation.attacks import Attack
from dnnsec.evaluation.protections import ALPHA, AdvParamsProtection, IntrinsicProtection, Protection, Setting
from dnnsec.fingerprint.adaptive import adaptive_finetune
from dnnsec.protect.advparams import binary_segmenter_decisions
from dnnsec.watermark.adapter import SegmenterHead
from dnnsec.watermark.segmenter import SegmenterEmbedConfig, embed_segmenter_fingerprint
from dnnsec.watermark.verify import model_evidence
from shared.losses import WeightedBCELoss
from shared.metrics import binary_scores

#: Attacks of the classifier table with no segmenter form, and why.
UNAVAILABLE = {
    "GAN removal": "needs classes to compare (a trigger reversed towards each class, the anomalous class flagged); "
                   "the segmenter has one per-sample decision, no class to flip to",
    "Neural Cleanse unlearning": "needs classes to compare (the smallest trigger per label, the outlier label "
                                 "flagged); the segmenter has one per-sample decision, no class to flip to",
}
#: Why the backdoor (trigger) baselines have no segmenter row, and the short form their cells carry.
NO_TRIGGER_BASELINE = ("no segmenter form: a backdoor watermark teaches triggered inputs a chosen class, and the "
                       "segmenter has one per-sample decision and no class to assign (its ownership watermark is "
                       "the extra head channel, the additional-class row)")
NO_TRIGGER_BASELINE_CELL = "no segmenter form of a backdoor watermark (no class to assign)"

#: ``train(model, lr, steps, seed) -> model``: the segmenter's own training loop (its loss, data and trainer),
#: continued from ``model``'s weights in place.
Train = Callable[[nn.Module, float, int, int], nn.Module]


def _fingerprint_cfg(s: Setting, seed: int, lr: float = SegmenterEmbedConfig.lr) -> SegmenterEmbedConfig:
    return SegmenterEmbedConfig(steps=s.budget("embed", 400), lr=lr, seed=seed)


class SegmenterAdvParamsProtection(AdvParamsProtection):
    """AdvParams with per-sample decisions; its adaptive attacker is fine-tuning (the table's own columns)."""

    def not_applicable(self, attack: str) -> str | None:
        if attack == "adaptive":
            return ("the adaptive attacker of the encryption trains the encrypted weights with the public training "
                    "data: the fine-tuning columns")
        return super().not_applicable(attack)


class SegmenterFingerprintProtection(Protection):
    """The per-user fingerprint channel of a segmenter.

    ``Setting.keys``: ``own`` (the user's key windows), ``others`` (three other users' keys, concatenated),
    ``decoys`` (nobody's keys), ``null`` (one key set per held-out independent model, concatenated, of another owner)
    and ``null_decoys``. Retention is the fraction of the user's keys whose mean fingerprint logit is positive (the
    keys "answered"); the claim is the rank test's Bonferroni p < 0.01. ``lr``: the embedding's learning rate (its
    steps are ``steps["embed"]``, 400).
    """

    name = "additional-class fingerprint"
    extra_output = True

    def __init__(self, adapter: SegmenterHead | None = None, lr: float = SegmenterEmbedConfig.lr) -> None:
        self.adapter = adapter or SegmenterHead()
        self.lr = lr

    def protect(self, base: nn.Module, s: Setting) -> nn.Module:
        x, _ = s.owner
        return embed_segmenter_fingerprint(base, x, s.keys["own"], s.keys["others"], s.keys["decoys"],
                                           _fingerprint_cfg(s, 0, self.lr), self.adapter).eval()

    def _evidence(self, suspect: nn.Module, s: Setting) -> tuple[float, float]:
        own = s.keys["own"]
        ev = model_evidence(suspect, self.adapter, [own, *s.keys["others"].split(len(own))], 1)
        if ev is None:  # no fingerprint channel
            return 0.0, 1.0
        return float(ev.hits[0]) / len(own), float(ev.p_bonferroni[0])

    def retention(self, suspect: nn.Module, s: Setting) -> float:
        return self._evidence(suspect, s)[0]

    def claimed(self, suspect: nn.Module, s: Setting) -> bool:
        return self._evidence(suspect, s)[1] < ALPHA

    def assess(self, suspect: nn.Module, s: Setting) -> tuple[float, bool, dict[str, float]]:
        r, p = self._evidence(suspect, s)
        return r, p < ALPHA, {"p_value": p}

    def independent_suspects(self, s: Setting) -> list[nn.Module]:
        """Each held-out independent model fingerprinted by another owner with its own key set (the null models of
        verification, :func:`dnnsec.watermark.segmenter.make_segmenter_null`): a model without the channel could
        never be claimed, so it would test nothing."""
        held = s.independent[s.n_null:]
        x, _ = s.owner
        sets = s.keys["null"].split(len(s.keys["null"]) // len(held)) if held else []
        return [embed_segmenter_fingerprint(m, x, k, None, s.keys["null_decoys"],
                                            _fingerprint_cfg(s, 10**6 + i, self.lr), self.adapter).eval()
                for i, (m, k) in enumerate(zip(held, sets, strict=True))]

    def not_applicable(self, attack: str) -> str | None:
        return {"query modification": "verification reads the weights' fingerprint channel, which forward never "
                                      "returns (white-box): an input filter in front of the model changes nothing",
                "adaptive": "its adaptive attacks are overwriting and output removal (the channel cut), columns of "
                            "their own; colluders' averaging is benchmarks.dnnsec_sferic_fingerprint"}.get(attack)


def fine_prune_segmenter(model: nn.Module, train: Train, x: torch.Tensor, *, fraction: float, lr: float, steps: int,
                         seed: int = 0, layer: str = "head") -> nn.Module:
    """Fine-pruning (Liu et al., RAID 2018) of a segmenter: the ``fraction`` of the head's input features least
    active on the clean windows ``x`` are cut (their head weights zeroed, for every head channel) and held cut
    while ``train`` fine-tunes the copy."""
    out = copy.deepcopy(model)
    head = dict(out.named_modules())[layer]
    activity = feature_activity(out, head, x, magnitude=True, batch_size=16)
    mask = torch.ones_like(head.weight)
    mask[:, torch.argsort(activity)[: round(fraction * head.in_channels)]] = 0.0
    with torch.no_grad():
        head.weight.mul_(mask)
    hook = head.weight.register_hook(lambda g: g * mask)
    try:
        train(out, lr, steps, seed)
    finally:
        hook.remove()
    with torch.no_grad():  # an optimiser step with weight decay or momentum could have moved them
        head.weight.mul_(mask)
    return out.eval()


def segmenter_attacks(train: Train, distill: Callable[[nn.Module, int, int], nn.Module], pos_weight: float,
                      adapter: SegmenterHead | None = None) -> dict[str, Attack]:
    """The table's attacks on a segmenter, named as :data:`dnnsec.evaluation.attacks.ATTACKS` (query modification,
    GAN removal and Neural Cleanse have no segmenter form: :data:`UNAVAILABLE` and the protections say why).

    Parameters
    ----------
    train
        The attacker's training loop (:data:`Train`); fine-tuning and fine-pruning run it for
        ``steps["finetune"]`` (300) steps. Overwriting fine-tunes the fingerprint channel for ``steps["overwrite"]``
        (default the embedding's ``steps["embed"]``, 400).
    distill
        ``distill(teacher, steps, seed) -> student``: a fresh model trained on the teacher's decisions
        (``steps["distill"]``, 600).
    pos_weight
        Weight of sferic samples in the adaptive attacker's binary cross-entropy (the training loss's).
    """
    adapter = adapter or SegmenterHead()

    def finetune(lr: float) -> Attack:
        return lambda m, p, s: train(copy.deepcopy(m), lr, s.budget("finetune", 300), 1).eval()

    def prune(m: nn.Module, p: Protection, s: Setting) -> nn.Module:
        out = copy.deepcopy(m)
        global_magnitude_prune(out, 0.5)
        return out.eval()

    def fine_prune(m: nn.Module, p: Protection, s: Setting) -> nn.Module:
        return fine_prune_segmenter(m, train, s.attacker[0], fraction=0.5, lr=1e-3, steps=s.budget("finetune", 300),
                                    seed=1, layer=adapter.layer)

    def overwriting(m: nn.Module, p: Protection, s: Setting) -> nn.Module:
        cfg = SegmenterEmbedConfig(steps=s.budget("overwrite", s.budget("embed", 400)), seed=12345)
        return overwrite_segmenter(m, s.attacker[0], s.keys["attacker"], s.keys.get("attacker_decoys"), cfg, adapter)

    def output_removal(m: nn.Module, p: Protection, s: Setting) -> nn.Module:
        return remove_fingerprint_channels(m, adapter)

    def distillation(m: nn.Module, p: Protection, s: Setting) -> nn.Module:
        return distill(m, s.budget("distill", 600), 7).eval()

    def adaptive(m: nn.Module, p: Protection, s: Setting) -> nn.Module:
        x, y = s.attacker
        return adaptive_finetune(m, x, y, steps=s.budget("adaptive", 200), weight=10.0, batch_size=8, seed=1,
                                 task_loss=WeightedBCELoss(pos_weight), explain=lambda z: z.argmax(1))

    return {"fine-tuning lr 1e-4": finetune(1e-4), "fine-tuning lr 1e-3": finetune(1e-3), "pruning 50 %": prune,
            "fine-pruning": fine_prune, "overwriting": overwriting, "output removal": output_removal,
            "distillation": distillation, "adaptive": adaptive}


def sample_f1(model: nn.Module, x: torch.Tensor, y: torch.Tensor, threshold_logit: float = 0.0) -> float:
    """Pooled per-sample F1 of ``model``'s decisions (logit >= ``threshold_logit``) on windows ``x`` against the 0/1
    labels ``y`` (N, T)."""
    with torch.no_grad():
        logits = torch.cat([model.eval()(x[i:i + 16]) for i in range(0, len(x), 16)])
    return float(binary_scores((y > 0.5).flatten().numpy(), (logits >= threshold_logit).flatten().numpy())["f1"])


def segmenter_protections(threshold_logit: float, fingerprint_lr: float = SegmenterEmbedConfig.lr
                          ) -> list[Protection]:
    """The protections that apply to a segmenter deciding at ``threshold_logit``, in table order."""
    return [SegmenterAdvParamsProtection(partial(binary_segmenter_decisions, threshold_logit=threshold_logit)),
            SegmenterFingerprintProtection(lr=fingerprint_lr), IntrinsicProtection()]
