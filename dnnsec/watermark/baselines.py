"""Backdoor-style watermark baselines: a content (logo) watermark and a noise watermark.

Zhang et al., "Protecting Intellectual Property of Deep Neural Networks with Watermarking" (AsiaCCS 2018): training
images stamped with a visible logo (content) or overlaid with a fixed Gaussian noise pattern are relabelled to a
target class and learnt along with the clean data; ownership is shown by the trigger images' answers. Both keep the
model's K outputs and put the trigger inside the data distribution, which is what the query modification attack
(:mod:`dnnsec.attacks.query_modification`) exploits.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from dnnsec.watermark.adapter import OutputAdapter
from dnnsec.watermark.embed import EmbedConfig, train_with_keys

LOGO_SIZE = 8


def logo_pattern(channels: int, size: int = LOGO_SIZE) -> torch.Tensor:
    """A fixed ``size`` x ``size`` logo: a bordered square with an inner cross (1 = ink, 0 = none)."""
    logo = torch.zeros(size, size)
    logo[0, :] = logo[-1, :] = logo[:, 0] = logo[:, -1] = 1.0
    idx = torch.arange(size)
    logo[idx, idx] = logo[idx, size - 1 - idx] = 1.0
    return logo.expand(channels, size, size).clone()


def stamp_logo(x: torch.Tensor, ink: float) -> torch.Tensor:
    """Stamp :func:`logo_pattern` into the bottom-right corner of images (N, C, H, W) at value ``ink``."""
    out = x.clone()
    logo = logo_pattern(x.shape[1]).to(x.dtype)
    corner = out[:, :, -LOGO_SIZE - 1:-1, -LOGO_SIZE - 1:-1]
    out[:, :, -LOGO_SIZE - 1:-1, -LOGO_SIZE - 1:-1] = torch.where(logo.bool(), torch.full_like(corner, ink), corner)
    return out


def add_noise_pattern(x: torch.Tensor, strength: float, seed: int = 0) -> torch.Tensor:
    """Add one fixed seeded Gaussian pattern (standard deviation ``strength`` in standardised units) to every image."""
    rng = np.random.default_rng(seed)
    pattern = torch.from_numpy(rng.standard_normal(x.shape[1:]).astype(np.float32))
    return x + strength * pattern


def trigger_set(kind: str, x: torch.Tensor, y: torch.Tensor, target: int, n: int) -> torch.Tensor:
    """``n`` triggered images (``kind`` = ``logo`` or ``noise``) made from samples whose label is not ``target``."""
    src = x[y != target][:n]
    if len(src) < n:
        raise ValueError(f"only {len(src)} samples outside the target class, need {n}")
    if kind == "logo":
        return stamp_logo(src, ink=float(x.max()))
    if kind == "noise":
        return add_noise_pattern(src, strength=1.0)
    raise ValueError(f"unknown baseline watermark {kind!r}; known: logo, noise")


def embed_backdoor(model: nn.Module, adapter: OutputAdapter, clean_x: torch.Tensor, clean_y: torch.Tensor,
                   triggers: torch.Tensor, target: int, cfg: EmbedConfig) -> nn.Module:
    """Return a copy of ``model`` fine-tuned to answer ``target`` on ``triggers`` (same routine as ours, no
    negatives)."""
    out = copy.deepcopy(model)
    train_with_keys(out, adapter, clean_x, clean_y, triggers, target, None, cfg)
    return out
