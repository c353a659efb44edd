"""Watermark overwriting: the attacker fine-tunes their own additional-class watermark into a copy.

The strongest form reuses the copy's extra output: the attacker's key images are taught as class K, with the
attacker's own decoys as negatives, so the extra class is repurposed for the attacker (Xue et al.,
arXiv:2104.09203, evaluate overwriting; the training routine is :func:`dnnsec.watermark.embed.train_with_keys`).
For a per-sample segmenter the extra output is the head's fingerprint channel (:mod:`dnnsec.watermark.segmenter`),
retrained on the attacker's key windows (:func:`overwrite_segmenter`).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from dnnsec.watermark.adapter import OutputAdapter, SegmenterHead
from dnnsec.watermark.embed import EmbedConfig, train_with_keys
from dnnsec.watermark.segmenter import SegmenterEmbedConfig, embed_segmenter_fingerprint, refit_segmenter_fingerprint


def overwrite(model: nn.Module, adapter: OutputAdapter, x: torch.Tensor, y: torch.Tensor, attacker_keys: torch.Tensor,
              attacker_decoys: torch.Tensor | None, cfg: EmbedConfig) -> nn.Module:
    """Return a copy of the K+1-output ``model`` whose class K was retrained on the attacker's keys."""
    out = copy.deepcopy(model)
    train_with_keys(out, adapter, x, y, attacker_keys, adapter.num_outputs(out) - 1, None, cfg, attacker_decoys)
    return out.eval()


def overwrite_segmenter(model: nn.Module, clean_x: torch.Tensor, attacker_keys: torch.Tensor,
                        attacker_decoys: torch.Tensor | None, cfg: SegmenterEmbedConfig,
                        adapter: SegmenterHead | None = None) -> nn.Module:
    """Return a copy of segmenter ``model`` whose fingerprint channel was retrained on the attacker's key windows
    (its decision channel distilled from ``model`` on ``clean_x`` windows); a model without a fingerprint channel
    gets the attacker's own (:func:`~dnnsec.watermark.segmenter.embed_segmenter_fingerprint`)."""
    adapter = adapter or SegmenterHead()
    if adapter.num_outputs(model) < 2:
        return embed_segmenter_fingerprint(model, clean_x, attacker_keys, None, attacker_decoys, cfg, adapter).eval()
    out = copy.deepcopy(model)
    return refit_segmenter_fingerprint(out, model, clean_x, attacker_keys, None, attacker_decoys, cfg, adapter)
