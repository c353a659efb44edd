"""The sferic CNN frozen for one input length, for the long passes of chunked detection.

A detection pass runs the CNN on hundreds of windows of one length (:data:`amt.sferic.stitch.BATCH` at a time).
Traced for that length (TorchScript), frozen and optimised for inference (``torch.jit.optimize_for_inference``:
the convolutions' weights prepacked for oneDNN once instead of at every call), the network gives the same
outputs for 20 % less CPU (the shipped U-Net, 4 windows of 32,768 samples: 126 -> 100 ms, one thread) after about
0.4 s of tracing. The trace holds the network's shape-dependent steps (the padding to its pooling multiple, the
crop back) for the traced length, so it serves inputs of that length alone (any batch size).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable

import torch

from amt.sferic.model import SfericUNet


def freeze_for_length(model: SfericUNet, channels: int, length: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """``model`` (in eval mode) as a frozen TorchScript function of ``(batch, channels, length)`` inputs.

    The weights are copied (the frozen graph would otherwise share some tensors with ``model``): later changes to
    ``model`` do not reach it.

    Raises
    ------
    ValueError
        If called with an input of another length or channel count.
    """
    example = torch.zeros(1, channels, length)
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the shape-dependent steps, fixed by design
        traced = torch.jit.trace(copy.deepcopy(model).eval(), example)
        traced = torch.jit.optimize_for_inference(torch.jit.freeze(traced))

    def run(x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != (channels, length):
            raise ValueError(f"frozen for inputs of {channels} x {length} samples, got {tuple(x.shape[1:])}")
        return traced(x)

    return run
