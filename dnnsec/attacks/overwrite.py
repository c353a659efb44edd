"""Watermark overwriting: the attacker fine-tunes their own additional-class watermark into a copy.

The strongest form reuses the copy's extra output: the attacker's key images are taught as class K, with the
attacker's own decoys as negatives, so the extra class is repurposed for the attacker (Xue et al.,
arXiv:2104.09203, evaluate overwriting; the training routine is :func:`dnnsec.watermark.embed.train_with_keys`).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from dnnsec.watermark.adapter import OutputAdapter
from dnnsec.watermark.embed import EmbedConfig, train_with_keys


def overwrite(model: nn.Module, adapter: OutputAdapter, x: torch.Tensor, y: torch.Tensor, attacker_keys: torch.Tensor,
              attacker_decoys: torch.Tensor | None, cfg: EmbedConfig) -> nn.Module:
    """Return a copy of the K+1-output ``model`` whose class K was retrained on the attacker's keys."""
    out = copy.deepcopy(model)
    train_with_keys(out, adapter, x, y, attacker_keys, adapter.num_outputs(out) - 1, None, cfg, attacker_decoys)
    return out.eval()
