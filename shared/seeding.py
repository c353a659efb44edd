"""Deterministic seeding of Python, NumPy and PyTorch, and reproducible per-index random streams."""

from __future__ import annotations

import random

import numpy as np


def seed_everything(seed: int) -> np.random.Generator:
    """Seed ``random``, NumPy's legacy global state and PyTorch; return a fresh NumPy Generator.

    Parameters
    ----------
    seed
        Non-negative integer seed.

    Returns
    -------
    numpy.random.Generator
        A PCG64 generator seeded with ``seed``: prefer it over global state in new code.
    """
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    import torch  # here, not at the top: the NumPy streams below serve modules that never load torch

    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - legacy global state, seeded for third-party code
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def stream_rng(seed: int, *index: int) -> np.random.Generator:
    """A Generator for the stream identified by ``(seed, *index)``, independent of every other index.

    Used so that batch ``k`` of a run (or sample ``k`` of worker ``w``) is the same whatever was drawn
    before it: resuming at step ``k`` reproduces the data exactly.
    """
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *index])))


def torch_seed_for(seed: int, *index: int) -> int:
    """A 63-bit integer seed for ``torch.manual_seed`` derived from ``(seed, *index)``."""
    return int(np.random.SeedSequence([seed, *index]).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
