"""Run the CNN over a long normalised segment in overlapping chunks and stitch the probabilities.

Chunks of ``window`` samples start every ``window - 2 * margin`` samples; of each chunk only the central
part (``margin`` samples in from both ends) is kept, except at the segment's start. The segment is
followed by zeros (at least ``margin``), in one pass and in chunks alike. Chunk starts and
lengths are multiples of the network's pooling factor, so with a margin wider than the receptive field the
stitched trace equals the one-pass trace up to float rounding.
"""

from __future__ import annotations

import numpy as np
import torch

from amt.sferic.model import SfericUNet

#: Chunks per forward pass (the whole-segment pass and :mod:`amt.sferic.chunked` alike).
BATCH = 4


def _round_up(n: int, k: int) -> int:
    return -(-n // k) * k


def chunk_plan(n: int, k: int, window: int, margin: int) -> tuple[int, int, np.ndarray]:
    """``(window, margin, starts)`` for a segment of ``n`` samples and a network of pooling factor ``k``: window and
    margin rounded up to multiples of ``k``, and the chunk starts (a single start where the segment and its
    margin fit one window)."""
    margin = _round_up(max(margin, 0), k)
    window = _round_up(max(window, 2 * margin + k), k)
    starts = np.arange(0, n, window - 2 * margin) if n + margin > window else np.zeros(1, dtype=np.int64)
    return window, margin, starts


def kept(start: int, n: int, window: int, margin: int) -> tuple[int, int]:
    """The part ``[lo, hi)`` of the chunk starting at ``start`` that is kept (relative to ``start``)."""
    return (0 if start == 0 else margin), min(window - margin, n - start)


@torch.inference_mode()
def predict_proba(
    model: SfericUNet, x: np.ndarray, window: int = 32768, margin: int = 512, batch: int = BATCH
) -> np.ndarray:
    """Per-sample sferic probability of a normalised segment.

    Parameters
    ----------
    model
        The sferic CNN (set to eval mode here).
    x
        ``(channels, n)`` float32 input from :func:`amt.sferic.preprocess.normalise`.
    window, margin
        Chunk length and the samples discarded at each inner chunk edge (rounded up to the pooling factor).
    batch
        Chunks per forward pass.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` float32 probabilities.
    """
    model.eval()
    n = x.shape[1]
    window, margin, starts = chunk_plan(n, model.multiple, window, margin)
    length = max(int(starts[-1]) + window, n + margin) if len(starts) > 1 else n + margin
    padded = np.zeros((x.shape[0], length), dtype=np.float32)  # zeros after the end, as in every chunk
    padded[:, :n] = x
    if len(starts) == 1:
        return torch.sigmoid(model(torch.from_numpy(padded)[None]))[0, :n].numpy()
    out = np.empty(n, dtype=np.float32)
    for b in range(0, len(starts), batch):
        chunk_starts = starts[b : b + batch]
        inp = torch.from_numpy(np.stack([padded[:, s : s + window] for s in chunk_starts]))
        prob = torch.sigmoid(model(inp)).numpy()
        for s, p in zip(chunk_starts, prob, strict=True):
            lo, hi = kept(int(s), n, window, margin)
            out[s + lo : s + hi] = p[lo:hi]
    return out
