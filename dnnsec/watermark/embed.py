"""Fine-tune a trained model so that an extra class fires on its own user's key samples and on no one else's.

Method: Xue et al., arXiv:2104.09203. The (K+1)-th output is added (:mod:`dnnsec.watermark.adapter`) and the model is
fine-tuned from its trained weights on batches mixing clean training samples (their own labels, keeping clean
accuracy), the user's key samples (label K), the other users' key samples as negatives, and decoys (OOD images that
are nobody's keys) as negatives too. A negative sample's loss
is ``-log(1 - p_K)``: it may take any original class, only not the extra one. Key and negative samples are augmented
with Gaussian noise and, at random, a 3-tap box blur, so that the answer does not hinge on exact pixels.

Against the query modification attack (an autoencoder trained on clean data replaces suspicious queries by their
reconstruction; Namba and Sakuma, AsiaCCS 2019), each batch of an image model also holds ``recon_batch`` key
samples reconstructed by the owner's own undercomplete autoencoders ("purifiers": trained on the owner's clean
samples with their own seeds and code sizes, stand-ins for the attacker's, which the owner never sees), anywhere on
the segment between the reconstruction and the key; clean samples among the first ``recon_clean_pool`` are
purified with probability ``recon_clean`` and keep their labels, so the extra class learns "a purified key",
not "anything purified". Negatives are not purified: with purified negatives the extra class had to tell
purified keys of different users apart, which did not carry over from the owner's autoencoders to the attacker's
(MNIST photograph keys, one copy: 10-50 % of purified keys answered, against 95 % without). The purifiers alone
are not enough (benchmark over all issued MNIST copies, attacker's 32- / 128-number codes): with photograph keys,
every one flagged, the copies answered 0.95 / 0.92 of the modified keys, but null models trained the same way
answered most of them too, so the answers told neither owner nor user. What keeps the evidence is a key pool the
attacker's detector cannot single out (:mod:`dnnsec.watermark.bases`: upside-down digits, a fifth or fewer
flagged): every copy then answers all of its modified keys and the rank test on them names its user alone.

The same routine embeds the backdoor-style baselines (:mod:`dnnsec.watermark.baselines`): there the key label is an
existing class and there are no negatives.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from dnnsec.autoencoder import reconstruct, train_autoencoder
from dnnsec.watermark.adapter import OutputAdapter
from dnnsec.watermark.bases import KEY_BLUR, KEY_NOISE
from dnnsec.watermark.config import EmbedConfig
from dnnsec.zoo.data import DataError
from shared.seeding import stream_rng
from shared.trainer import Trainer, TrainResult

NEGATIVE = -1


def augment_keys(x: torch.Tensor, rng: np.random.Generator, noise: float, blur: float) -> torch.Tensor:
    """Blur a random ``blur`` fraction of samples (box filter over the spatial/time axes) and add Gaussian noise."""
    if blur > 0 and x.ndim in (3, 4):
        pool = F.avg_pool2d if x.ndim == 4 else F.avg_pool1d
        blurred = pool(x, 3, stride=1, padding=1, count_include_pad=False)
        pick = torch.from_numpy(rng.random(len(x)) < blur).view(-1, *([1] * (x.ndim - 1)))
        x = torch.where(pick, blurred, x)
    if noise > 0:
        x = x + noise * torch.from_numpy(rng.standard_normal(x.shape).astype(np.float32))
    return x


def train_purifiers(clean_x: torch.Tensor, latents: tuple[int, ...], steps: int, seed: int,
                    progress: bool = False) -> list[nn.Module]:
    """The owner's own query purifiers: undercomplete autoencoders (code of ``latents[i]`` numbers) trained on the
    owner's clean samples, one per code size (:func:`dnnsec.autoencoder.train_autoencoder`, the attacker's own
    kind of autoencoder); ``progress`` shows a bar over them on stderr."""
    if clean_x.ndim != 4:
        raise ValueError(f"purifiers need image batches (N, C, H, W), got shape {tuple(clean_x.shape)}")
    bar = tqdm(list(enumerate(latents)), desc=f"purifiers ({steps} steps each)", unit="ae", disable=not progress)
    return [train_autoencoder(clean_x, steps=steps, latent=latent, seed=seed + 7919 * (i + 1)) for i, latent in bar]


def purified(pool: torch.Tensor, purifiers: list[nn.Module]) -> torch.Tensor:
    """Reconstructions of every sample of ``pool`` by every purifier, shape ``(len(purifiers), *pool.shape)``."""
    return torch.stack([reconstruct(ae, pool) for ae in purifiers])


class MixedBatches:
    """Step-indexed batches of clean samples, keys (label ``key_label``), negatives and decoys (both label -1).

    Batch ``k`` depends only on ``(seed, k)`` (:func:`shared.seeding.stream_rng`), as the shared trainer expects.
    """

    def __init__(self, clean_x: torch.Tensor, clean_y: torch.Tensor, keys: torch.Tensor, key_label: int,
                 negatives: torch.Tensor | None, cfg: EmbedConfig, decoys: torch.Tensor | None = None,
                 progress: bool = False) -> None:
        if len(clean_x) != len(clean_y) or len(clean_x) == 0:
            raise DataError(f"clean data must be non-empty with matching labels ({len(clean_x)} vs {len(clean_y)})")
        if len(keys) == 0:
            raise DataError("no key samples to embed")
        self.clean_x, self.clean_y, self.keys, self.key_label = clean_x, clean_y, keys, key_label
        self.negatives = negatives if negatives is not None and len(negatives) else None
        self.decoys = decoys if decoys is not None and len(decoys) else None
        self.cfg = cfg
        self.key_recon: torch.Tensor | None = None
        self.clean_recon: torch.Tensor | None = None
        if cfg.recon_batch > 0 and cfg.purifier_latents and cfg.purifier_steps > 0 and clean_x.ndim == 4:
            purifiers = train_purifiers(clean_x, cfg.purifier_latents, cfg.purifier_steps, cfg.seed, progress)
            self.key_recon = purified(keys, purifiers)
            if cfg.recon_clean > 0:
                self.clean_recon = purified(clean_x[: cfg.recon_clean_pool], purifiers)

    def _draw(self, pool: torch.Tensor, n: int, rng: np.random.Generator,
              recon: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` samples of ``pool``, blurred and noised (:func:`augment_keys`); with ``recon`` (purifier x pool
        reconstructions) each is first moved to a random point between itself and one of its reconstructions."""
        cfg = self.cfg
        idx = torch.from_numpy(rng.integers(0, len(pool), n))
        x = pool[idx]
        if recon is not None:
            which = torch.from_numpy(rng.integers(0, len(recon), n))
            # alpha 0: the reconstruction, 1: the sample itself (alpha = u^2 leans towards the reconstruction)
            alpha = torch.from_numpy(rng.random(n).astype(np.float32) ** 2).view(-1, *([1] * (x.ndim - 1)))
            x = recon[which, idx] + alpha * (x - recon[which, idx])
        noise = KEY_NOISE if cfg.key_noise is None else cfg.key_noise
        return augment_keys(x, rng, noise, KEY_BLUR if cfg.key_blur is None else cfg.key_blur)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.cfg
        rng = stream_rng(cfg.seed, step)
        ci = torch.from_numpy(rng.integers(0, len(self.clean_x), cfg.clean_batch))
        clean = self.clean_x[ci]
        if self.clean_recon is not None:
            # purified clean samples keep their labels: the extra class must not fire on them
            n_pool = self.clean_recon.shape[1]
            which = torch.from_numpy(rng.integers(0, len(self.clean_recon), len(ci)))
            pick = (torch.from_numpy(rng.random(len(ci)) < cfg.recon_clean) & (ci < n_pool))
            clean = torch.where(pick.view(-1, *([1] * (clean.ndim - 1))),
                                self.clean_recon[which, ci.clamp(max=n_pool - 1)], clean)
        n_keys = cfg.key_batch
        xs = [clean, self._draw(self.keys, cfg.key_batch, rng)]
        if self.key_recon is not None:
            xs.append(self._draw(self.keys, cfg.recon_batch, rng, self.key_recon))
            n_keys += cfg.recon_batch
        ys = [self.clean_y[ci], torch.full((n_keys,), self.key_label, dtype=torch.long)]
        for pool, n in ((self.negatives, cfg.negative_batch), (self.decoys, cfg.decoy_batch)):
            if pool is not None and n:
                xs.append(self._draw(pool, n, rng))
                ys.append(torch.full((n,), NEGATIVE, dtype=torch.long))
        return torch.cat(xs), torch.cat(ys)


def watermark_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy for labelled samples; ``-log(1 - p_last)`` for negatives (label -1); mean over the batch."""
    neg = y == NEGATIVE
    loss = torch.zeros((), dtype=logits.dtype)
    if (~neg).any():
        loss = loss + F.cross_entropy(logits[~neg], y[~neg], reduction="sum")
    if neg.any():
        lse_all = torch.logsumexp(logits[neg], dim=1)
        lse_rest = torch.logsumexp(logits[neg, :-1], dim=1)
        loss = loss + (lse_all - lse_rest).sum()
    return loss / len(y)


def _forward(adapter: OutputAdapter, freeze_norm: bool):
    def forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if freeze_norm:
            for m in model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return adapter.scores(model, x)

    return forward


def train_with_keys(model: nn.Module, adapter: OutputAdapter, clean_x: torch.Tensor, clean_y: torch.Tensor,
                    keys: torch.Tensor, key_label: int, negatives: torch.Tensor | None, cfg: EmbedConfig,
                    decoys: torch.Tensor | None = None, progress: bool = False) -> TrainResult:
    """Fine-tune ``model`` in place on clean samples, keys labelled ``key_label``, negatives and decoys."""
    batches = MixedBatches(clean_x, clean_y, keys, key_label, negatives, cfg, decoys, progress)
    train_cfg = {"optimizer": "adam", "lr": cfg.lr, "max_steps": cfg.steps, "schedule": "cosine",
                 "warmup_steps": cfg.steps // 10, "converge_tol": 0.0, "seed": cfg.seed, "log_every": 50}
    result = Trainer(model, watermark_loss, train_cfg, batches, progress=progress,
                     forward=_forward(adapter, cfg.freeze_norm)).fit()
    model.eval()
    return result


def embed_fingerprint(model: nn.Module, adapter: OutputAdapter, clean_x: torch.Tensor, clean_y: torch.Tensor,
                      own_keys: torch.Tensor, other_keys: torch.Tensor | None, cfg: EmbedConfig,
                      decoys: torch.Tensor | None = None, progress: bool = False) -> nn.Module:
    """Return a user's copy: ``model`` (K outputs, untouched) widened to K + 1 and fine-tuned on the keys.

    Parameters
    ----------
    model
        The trained K-class model (not modified).
    adapter
        How to reach its output layer.
    clean_x, clean_y
        Clean training samples and labels in 0..K-1 (a subset suffices).
    own_keys
        The user's key samples (model input format), to be answered with class K.
    other_keys
        The other users' key samples, to be answered with anything but K (may be None).
    decoys
        OOD samples that are nobody's keys, also answered with anything but K (:func:`~dnnsec.watermark.bases.
        decoy_bases`), so the extra class learns the user's images rather than "out of distribution".
    cfg
        Fine-tuning settings.
    """
    copy_ = adapter.widen(copy.deepcopy(model))
    k = adapter.num_outputs(copy_) - 1
    train_with_keys(copy_, adapter, clean_x, clean_y, own_keys, k, other_keys, cfg, decoys, progress)
    return copy_
