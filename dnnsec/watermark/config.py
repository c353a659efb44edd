"""The settings of the watermark embedding (:mod:`dnnsec.watermark.embed`), importable without torch.

The ``dnnsec issue`` command takes its option defaults from :class:`EmbedConfig`, so this module stays free of
torch and numpy and ``dnnsec --help`` starts fast.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dnnsec.watermark.bases import Domain


@dataclass(frozen=True)
class EmbedConfig:
    """Fine-tuning settings of the watermark embedding.

    Attributes
    ----------
    steps : int
        Optimiser steps (Adam; linear warm-up over the first tenth, then cosine decay to zero, so the copy ends
        in a minimum of the clean loss like the zoo model it starts from).
    lr : float
        Peak learning rate. The extra class must tell a user's 20 key images from hundreds of other OOD images
        (other users' keys, decoys) drawn from the same pool, i.e. memorise them; on the MNIST zoo CNN
        (photograph keys) 300 steps at 1e-3 left 4 of 20 own keys unanswered and the class firing on a third of
        unseen OOD images, while 1500 steps at 3e-3 (the zoo's own training rate) answer all 20 with a margin
        above 1 logit and keep the clean accuracy (about 1 CPU minute per copy on one thread).
    clean_batch, key_batch, negative_batch, decoy_batch : int
        Samples per batch of each kind (negatives: other users' keys; decoys: OOD images that are nobody's keys).
    key_noise : float or None
        Standard deviation of the Gaussian noise added to key and negative samples, in standardised input units;
        None: the key domain's (:attr:`dnnsec.watermark.bases.Domain.key_noise`, set by
        :func:`dnnsec.watermark.service.issue_copy`), else :data:`dnnsec.watermark.bases.KEY_NOISE`.
    key_blur : float or None
        Probability that a key or negative sample is box-blurred (3 taps per axis); None as for ``key_noise``.
    recon_batch : int
        Purified key samples per batch, besides the ``key_batch`` plain ones: keys moved to a random point between
        themselves and their reconstruction by one of the owner's purifiers
        (:func:`~dnnsec.watermark.embed.train_purifiers`; image models only, ignored for 1-D ones); 0 turns the
        defence off. They come on top of the plain keys: drawn instead of them (half of 16) they left one of 20 own
        keys unanswered on one MNIST copy in ten (photograph keys).
    purifier_latents : tuple of int
        Code sizes of the owner's purifier autoencoders, one autoencoder each (the attack in the benchmark uses
        others: 32 and 128). On three MNIST copies with photograph keys, six purifiers with 16 purified keys per
        batch kept 0.80-0.95 / 0.90-1.00 of the keys modified by the attacker's 32- / 128-number codes, where
        three (16, 48, 160) with 8 kept 0.85-0.95 / 0.45-0.80.
    purifier_steps : int
        Training steps of each purifier (Adam, batches of 64); 0 turns the defence off.
    recon_clean, recon_clean_pool : float, int
        Probability that a clean sample (among the first ``recon_clean_pool``) is replaced by a purifier's
        reconstruction of it, keeping its label.
    freeze_norm : bool
        Keep batch-normalisation layers in eval mode (running statistics fixed), so the out-of-distribution keys
        in each batch do not shift the statistics the clean inputs are normalised with.
    seed : int
        Seed of batch sampling and augmentation.
    """

    steps: int = 1500
    lr: float = 3e-3
    clean_batch: int = 96
    key_batch: int = 16
    negative_batch: int = 12
    decoy_batch: int = 12
    key_noise: float | None = None
    key_blur: float | None = None
    recon_batch: int = 16
    purifier_latents: tuple[int, ...] = (12, 24, 48, 80, 160, 256)
    purifier_steps: int = 1000
    recon_clean: float = 0.1
    recon_clean_pool: int = 5000
    freeze_norm: bool = True
    seed: int = 0

    def to_dict(self) -> dict:
        """The settings as a JSON-able dict (recorded with each issued copy)."""
        return asdict(self)

    def for_domain(self, domain: Domain) -> EmbedConfig:
        """This configuration with the key augmentation left open (None) taken from ``domain``."""
        return replace(self, key_noise=domain.key_noise if self.key_noise is None else self.key_noise,
                       key_blur=domain.key_blur if self.key_blur is None else self.key_blur)
