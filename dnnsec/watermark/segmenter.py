"""The fingerprint of a per-sample binary segmenter (the sferic CNN): an extra head channel that fires on the keys.

The additional-class design of Xue et al. (arXiv:2104.09203) carried over to a 1-D model with one decision logit
per time sample. The copy issued to a user gets one more head channel (:class:`~dnnsec.watermark.adapter.
SegmenterHead`); it is fine-tuned from the trained model so that the new channel's logit, averaged over a window,
is high on the user's key windows (:mod:`dnnsec.watermark.bases`, pool ``waveform``: steady multi-tone waveforms
outside the sferic family, each carrying the user id and the owner's Ed25519 signature in its least significant
bits) and low on the other users' keys, on decoys that are nobody's keys and on clean windows. The decision channel
is held to the trained model's: its logits (clipped to +-10) are distilled from the original on every window of
every batch, clean and key alike, so the detections move as little as the shared features allow (the F1 cost is
measured by ``benchmarks/dnnsec_sferic_fingerprint.py``). The model's ``forward`` never returns the fingerprint
channel: detection is untouched by it, and an attacker who distils the detector's outputs does not learn it.

Verification is the classifier fingerprint's, unchanged (:mod:`dnnsec.watermark.verify`: the rank test of each
user's key scores against all other users' with Bonferroni over users, the threshold fixed on null models), with
the score of a key window its mean fingerprint logit; the registry, key sets and issued-copy records are the
classifier's (:mod:`dnnsec.watermark.service`). See ``docs/acceptance.md#protected-sferic-distribution``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from dnnsec.errors import ModelError
from dnnsec.watermark.adapter import SegmenterHead
from dnnsec.watermark.bases import decoy_bases, get_domain, null_slot, to_model_input
from dnnsec.watermark.embed import augment_keys
from dnnsec.watermark.keys import make_key_set
from dnnsec.watermark.registry import CopyRecord, Registry
from dnnsec.watermark.service import (
    DEFAULT_DECOYS,
    ensure_key_sets,
    load_user_keys,
    open_for_copy,
    owner_key,
    record_issued,
    refuse_existing,
)
from dnnsec.watermark.verify import model_evidence
from dnnsec.zoo.data import load_samples
from shared.checkpoint import load_checkpoint, save_checkpoint, sidecar_path
from shared.seeding import stream_rng

#: The watermark domain of sferic segmenters (2 magnetic channels, windows of 1024 samples).
DOMAIN = "sferic"
#: Config key of the segmenter's fingerprint head channels (``amt.sferic.model.SfericUNet``).
CHANNELS_KEY = "fingerprint_channels"
#: Decision logits are clipped to this before distillation (logit units): beyond it a sample's decision is sure.
LOGIT_CLIP = 10.0


@dataclass(frozen=True)
class SegmenterEmbedConfig:
    """Fine-tuning settings of the segmenter fingerprint.

    Attributes
    ----------
    steps, lr : int, float
        Adam steps and peak learning rate (linear warm-up over the first tenth, cosine decay to zero). On a
        30 k-parameter sferic CNN, 150 steps at 1e-3 already separated each user's keys from the others' by rank
        (Bonferroni p 3e-5, 20 keys against 40) without lifting the mean fingerprint logit above 0 on any key.
    clean_batch, key_batch, negative_batch, decoy_batch : int
        Windows per batch of each kind (clean windows are cut to the keys' length at a random offset).
    key_noise : float
        Gaussian noise added to key, negative and decoy windows, in input units (the robust noise scale).
    keep_weight : float
        Weight of the decision channel's distillation loss (mean squared logit error) against the fingerprint's
        binary cross-entropy.
    seed : int
        Seed of batch sampling and noise.
    issue_p, max_rounds : float, int
        A copy is issued only when its own keys outrank every other user's keys: the rank test of verification
        (Bonferroni over users) must give its user ``p <= issue_p``. Until then fine-tuning runs another round of
        ``steps`` (fresh batches, the same schedule), at most ``max_rounds`` rounds in all; a copy that still does
        not answer its keys is refused, never recorded. On the 22 k-parameter benchmark CNN three of five copies
        failed to learn their keys in one 300-step round and were issued untraceable before this check existed.
    """

    steps: int = 400
    lr: float = 3e-3
    clean_batch: int = 8
    key_batch: int = 8
    negative_batch: int = 8
    decoy_batch: int = 4
    key_noise: float = 0.05
    keep_weight: float = 1.0
    seed: int = 0
    issue_p: float = 1e-4
    max_rounds: int = 3

    def to_dict(self) -> dict:
        return asdict(self)


def _crop(x: torch.Tensor, rng: np.random.Generator, length: int) -> torch.Tensor:
    """Each window of ``x`` (N, C, T) cut to ``length`` samples at a random offset (T >= length)."""
    if x.shape[-1] < length:
        raise ModelError(f"clean windows of {x.shape[-1]} samples are shorter than the {length}-sample keys")
    starts = rng.integers(0, x.shape[-1] - length + 1, len(x))
    return torch.stack([w[:, s:s + length] for w, s in zip(x, starts, strict=True)])


def _draw(pool: torch.Tensor | None, n: int, rng: np.random.Generator) -> torch.Tensor | None:
    if pool is None or n == 0 or len(pool) == 0:
        return None
    return pool[torch.from_numpy(rng.integers(0, len(pool), n))]


def embed_segmenter_fingerprint(model: nn.Module, clean_x: torch.Tensor, own_keys: torch.Tensor,
                                other_keys: torch.Tensor | None, decoys: torch.Tensor | None,
                                cfg: SegmenterEmbedConfig, adapter: SegmenterHead | None = None,
                                progress: bool = False) -> nn.Module:
    """Return a user's copy: ``model`` (not modified) with one more head channel, fine-tuned on the keys.

    Parameters
    ----------
    model
        The trained segmenter (decision logit in head channel 0).
    clean_x
        Clean windows (N, channels, T >= key length), e.g. from the public generator; no labels are needed, the
        decision channel is distilled from ``model``.
    own_keys
        The user's key windows (N, channels, samples), to raise the fingerprint channel.
    other_keys, decoys
        Other users' key windows and decoys (nobody's keys), to keep it low (either may be None).
    cfg
        Fine-tuning settings.
    """
    adapter = adapter or SegmenterHead()
    student = adapter.widen(copy.deepcopy(model))
    _fine_tune_round(student, model, clean_x, own_keys, other_keys, decoys, cfg, 0, adapter, progress)
    return student


def _fine_tune_round(student: nn.Module, model: nn.Module, clean_x: torch.Tensor, own_keys: torch.Tensor,
                     other_keys: torch.Tensor | None, decoys: torch.Tensor | None, cfg: SegmenterEmbedConfig,
                     round_: int, adapter: SegmenterHead, progress: bool = False) -> None:
    """One round of ``cfg.steps`` fine-tuning steps of the widened ``student`` (in place, left in eval mode).

    Warm-up and cosine decay restart every round; round ``round_`` draws its own batches. The decision channel is
    distilled from ``model`` (the trained segmenter), as in :func:`embed_segmenter_fingerprint`.
    """
    teacher = copy.deepcopy(model).eval()
    student.train()
    opt = torch.optim.Adam(student.parameters(), lr=cfg.lr)
    warm, rest = max(cfg.steps // 10, 1), max(cfg.steps - cfg.steps // 10, 1)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: (k + 1) / warm if k < warm else 0.5 * (1 + np.cos(np.pi * (k - warm) / rest)))
    length = own_keys.shape[-1]
    for step in tqdm(range(cfg.steps), desc=f"fingerprint round {round_ + 1}", unit="step", disable=not progress):
        rng = stream_rng(cfg.seed, step) if round_ == 0 else stream_rng(cfg.seed, round_, step)
        parts = [(_crop(_draw(clean_x, cfg.clean_batch, rng), rng, length), 0.0, False),
                 (_draw(own_keys, cfg.key_batch, rng), 1.0, True),
                 (_draw(other_keys, cfg.negative_batch, rng), 0.0, True),
                 (_draw(decoys, cfg.decoy_batch, rng), 0.0, True)]
        xs, targets = [], []
        for x, target, noisy in parts:
            if x is None:
                continue
            xs.append(augment_keys(x, rng, cfg.key_noise, 0.0) if noisy else x)
            targets.append(torch.full((len(x),), target))
        x, target = torch.cat(xs), torch.cat(targets)
        with torch.no_grad():
            keep = adapter.head_outputs(teacher, x)[:, 0].clamp(-LOGIT_CLIP, LOGIT_CLIP)
        out = adapter.head_outputs(student, x)
        loss = (cfg.keep_weight * F.mse_loss(out[:, 0].clamp(-LOGIT_CLIP, LOGIT_CLIP), keep)
                + F.binary_cross_entropy_with_logits(out[:, 1:].mean(dim=(1, 2)), target))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    student.eval()


def refit_segmenter_fingerprint(copy_: nn.Module, model: nn.Module, clean_x: torch.Tensor, keys: torch.Tensor,
                                other_keys: torch.Tensor | None, decoys: torch.Tensor | None,
                                cfg: SegmenterEmbedConfig, adapter: SegmenterHead | None = None) -> nn.Module:
    """Fine-tune the fingerprint channel of an already widened ``copy_`` (in place) to answer ``keys``, its decision
    channel distilled from ``model``: one round of :func:`embed_segmenter_fingerprint` without widening (what an
    overwriting attacker does to a copy with their own keys). Returns ``copy_`` in eval mode."""
    _fine_tune_round(copy_, model, clean_x, keys, other_keys, decoys, cfg, 0, adapter or SegmenterHead())
    return copy_


def _own_key_p(copy_: nn.Module, key_sets: list[torch.Tensor], adapter: SegmenterHead) -> float:
    """Bonferroni rank-test p-value of the first key set against the other sets (at least one more).

    The statistic of verification (:func:`dnnsec.watermark.verify.model_evidence`), applied by the owner before a
    copy is issued: the other sets are the other users' keys, or the decoys while the user is the only one.
    """
    return float(model_evidence(copy_, adapter, key_sets, 1).p_bonferroni[0])


def fingerprinted_config(config: dict) -> dict:
    """The architecture config of a copy: one fingerprint channel more than ``config``."""
    return {**config, CHANNELS_KEY: int(config.get(CHANNELS_KEY, 0)) + 1}


def _windows(data: str | Path, n_clean: int, seed: int) -> torch.Tensor:
    x, _ = load_samples(str(data), n_clean, seed=seed, label_ndim=2)
    if x.ndim != 3:
        raise ModelError(f"{data}: segmenter windows must be (N, channels, samples), got {tuple(x.shape)}")
    return x


def issue_segmenter_copy(reg: Registry, model_path: str | Path, user_name: str, out: str | Path,
                         signer: Ed25519PrivateKey, data: str | Path, *, n_clean: int = 256,
                         n_keys: int | None = None, n_decoys: int = DEFAULT_DECOYS,
                         cfg: SegmenterEmbedConfig | None = None, progress: bool = False,
                         force: bool = False) -> CopyRecord:
    """Issue user ``user_name`` a fingerprinted copy of segmenter checkpoint ``model_path``, written to ``out``.

    Every registered user lacking one gets a ``sferic`` key set first (one registry transaction); the copy is
    recorded with its weights hash in the transaction that moves it onto ``out`` (never over an existing file
    without ``force``). The copy keeps the source checkpoint's metadata (a detector's channels, rate and thresholds)
    and adds ``watermark_domain``.

    Parameters
    ----------
    data
        A ``.safetensors`` file of clean windows ``x`` (N, channels, T) and per-sample labels ``y`` (N, T) (the
        labels are not used).
    n_clean, n_keys, n_decoys
        Clean windows used, keys per user (the domain's fixed count, else 20), decoys (bank 0).
    cfg
        Fine-tuning settings (default seed: the user's id).
    """
    model_path, out = Path(model_path), Path(out)
    user, model, meta = open_for_copy(reg, model_path, user_name, out, signer, force)
    dom = get_domain(DOMAIN)
    clean = _windows(data, n_clean, user.id)
    ensure_key_sets(reg, dom, signer, n_keys, progress)
    owner = owner_key(reg)
    sets = {u.id: to_model_input(load_user_keys(reg, u, dom, owner).images, dom) for u in reg.users()
            if reg.key_images(u.id, dom.name)}
    others = [k for uid, k in sets.items() if uid != user.id]
    cfg = cfg or SegmenterEmbedConfig(seed=user.id)
    decoys = to_model_input(decoy_bases(dom, n_decoys, 0), dom)
    negatives = torch.cat(others) if others else None
    ranked = [sets[user.id], *(others or [decoys])]
    n_own, n_rest = len(sets[user.id]), sum(len(k) for k in ranked[1:])
    if cfg.issue_p < (floor := len(ranked) / math.comb(n_own + n_rest, n_own)):
        raise ModelError(f"issue_p {cfg.issue_p:g} is below the smallest rank-test p-value {floor:.2g} that "
                         f"{n_own} keys against {n_rest} can give: no copy could be issued")
    adapter = SegmenterHead()
    copy_ = embed_segmenter_fingerprint(model, clean, sets[user.id], negatives, decoys, cfg, adapter, progress)
    rounds, p_own = 1, _own_key_p(copy_, ranked, adapter)
    while p_own > cfg.issue_p and rounds < cfg.max_rounds:
        _fine_tune_round(copy_, model, clean, sets[user.id], negatives, decoys, cfg, rounds, adapter, progress)
        rounds, p_own = rounds + 1, _own_key_p(copy_, ranked, adapter)
    if p_own > cfg.issue_p:
        raise ModelError(f"{model_path}: the copy for {user_name!r} did not learn its keys in {rounds} x {cfg.steps} "
                         f"steps at lr {cfg.lr:g} (rank-test p {p_own:.2g} > {cfg.issue_p:g}); nothing was issued: "
                         "raise the steps or the learning rate")
    params = {"embed": cfg.to_dict(), "n_clean": len(clean), "n_keys": len(sets[user.id]), "n_decoys": n_decoys,
              "base_classes": 1, "segmenter": True, "rounds": rounds, "own_key_p": p_own}
    extra = {**(meta.get("extra") or {}), "dataset": Path(data).name, "watermark_domain": dom.name}
    return record_issued(reg, copy_, out, user, dom, meta, fingerprinted_config(meta["config"]), extra, params,
                         signer, force)


def make_segmenter_null(model_path: str | Path, out: str | Path, data: str | Path, index: int, *,
                        n_keys: int = 20, n_clean: int = 256, n_decoys: int = DEFAULT_DECOYS,
                        cfg: SegmenterEmbedConfig | None = None, progress: bool = False,
                        force: bool = False) -> Path:
    """A null model for calibration: segmenter ``model_path`` (trained independently of ours) fingerprinted by
    another owner (an Ed25519 key made for it and thrown away) with key set ``index`` of the null slots, seed
    ``10**6 + index`` and decoy bank 1. It has the copies' outputs but is no copy of ours."""
    out = Path(out)
    refuse_existing([out, sidecar_path(out)], force)
    model, meta = load_checkpoint(model_path)
    dom = get_domain(DOMAIN)
    keys = make_key_set(dom, Ed25519PrivateKey.generate(), 2**31 - 1 - index, null_slot(dom, n_keys, index), n_keys)
    cfg = cfg or SegmenterEmbedConfig()
    cfg = SegmenterEmbedConfig(**{**cfg.to_dict(), "seed": 10**6 + index})
    null = embed_segmenter_fingerprint(model, _windows(data, n_clean, 10**6 + index),
                                       to_model_input(keys.images, dom), None,
                                       to_model_input(decoy_bases(dom, n_decoys, 1), dom), cfg, progress=progress)
    extra = {**(meta.get("extra") or {}), "watermark_domain": dom.name, "null_model": True,
             "source_sha256": meta["sha256"]}
    return save_checkpoint(out, null, arch=meta["arch"], config=fingerprinted_config(meta["config"]), extra=extra)


__all__ = ["DOMAIN", "SegmenterEmbedConfig", "embed_segmenter_fingerprint", "fingerprinted_config",
           "issue_segmenter_copy", "make_segmenter_null", "refit_segmenter_fingerprint"]
