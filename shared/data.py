"""Data sources: infinite random-sample sources and finite tensor sets, both step-indexed.

A *sample source* is any callable ``source(rng) -> (x, y)`` drawing one example from a NumPy Generator
(the sferic CNN draws fresh synthetic, augmented windows this way; dnnsec's poisoned and watermarked sets
too). Batches are *step-indexed*: batch ``k`` depends only on ``(seed, k)``, so a resumed run sees exactly
the batches it would have seen (:class:`RandomBatches`, :class:`TensorBatches`). For multi-process loading
:class:`RandomSampleDataset` wraps a source as a torch ``IterableDataset`` with per-worker seeding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from shared.seeding import stream_rng

Batch = tuple[torch.Tensor, torch.Tensor]


class SampleSource(Protocol):
    """Draws one ``(x, y)`` example (NumPy arrays or tensors) from ``rng``."""

    def __call__(self, rng: np.random.Generator) -> tuple[Any, Any]:  # pragma: no cover - protocol
        ...


def _to_tensor(a: Any) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a
    arr = np.asarray(a)
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")
    return torch.from_numpy(arr)  # (np.ascontiguousarray would turn a 0-d label into shape (1,))


def collate(samples: list[tuple[Any, Any]]) -> Batch:
    """Stack ``(x, y)`` samples into a batch of tensors (float64 arrays become float32)."""
    xs, ys = zip(*samples, strict=True)
    return torch.stack([_to_tensor(x) for x in xs]), torch.stack([_to_tensor(y) for y in ys])


class RandomBatches:
    """Infinite batches drawn from a sample source; batch ``k`` is a pure function of ``(seed, k)``.

    Parameters
    ----------
    source
        ``source(rng) -> (x, y)``.
    batch_size
        Samples per batch.
    seed
        Stream seed.
    """

    def __init__(self, source: SampleSource, batch_size: int, seed: int = 0) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.source, self.batch_size, self.seed = source, batch_size, seed

    def batch(self, step: int) -> Batch:
        rng = stream_rng(self.seed, step)
        return collate([self.source(rng) for _ in range(self.batch_size)])

    def __iter__(self) -> Iterator[Batch]:
        step = 0
        while True:
            yield self.batch(step)
            step += 1


class TensorBatches:
    """Shuffled mini-batches over finite tensors; epoch ``e`` uses the permutation seeded by ``(seed, e)``.

    Parameters
    ----------
    x, y
        Inputs and targets with the same first dimension.
    batch_size
        Samples per batch (the last partial batch of an epoch is filled from the next permutation's start
        so every batch has ``batch_size`` samples).
    seed
        Shuffle seed.
    augment
        Optional ``augment(x_batch, rng) -> x_batch`` applied per step with ``rng = stream_rng(seed, 1, step)``.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        seed: int = 0,
        augment: Callable[[torch.Tensor, np.random.Generator], torch.Tensor] | None = None,
    ) -> None:
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
        if len(x) == 0:
            raise ValueError("cannot batch an empty data set")
        self.x, self.y, self.batch_size, self.seed, self.augment = x, y, min(batch_size, len(x)), seed, augment

    def _perm(self, epoch: int) -> np.ndarray:
        return stream_rng(self.seed, 0, epoch).permutation(len(self.x))

    def batch(self, step: int) -> Batch:
        n = len(self.x)
        start = step * self.batch_size
        idx = []
        while len(idx) < self.batch_size:
            epoch, offset = divmod(start + len(idx), n)
            take = min(self.batch_size - len(idx), n - offset)
            idx.extend(self._perm(epoch)[offset : offset + take].tolist())
        ix = torch.as_tensor(idx)
        xb, yb = self.x[ix], self.y[ix]
        if self.augment is not None:
            xb = self.augment(xb, stream_rng(self.seed, 1, step))
        return xb, yb

    def __iter__(self) -> Iterator[Batch]:
        step = 0
        while True:
            yield self.batch(step)
            step += 1


class RandomSampleDataset(IterableDataset):
    """A sample source as an infinite torch ``IterableDataset`` with per-worker seeding.

    Worker ``w`` draws sample ``k`` from ``stream_rng(seed, w, k)``, so workers never repeat each other
    and a given ``(seed, num_workers)`` always yields the same samples.
    """

    def __init__(self, source: SampleSource, seed: int = 0) -> None:
        super().__init__()
        self.source, self.seed = source, seed

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = get_worker_info()
        worker = info.id if info is not None else 0
        k = 0
        while True:
            x, y = self.source(stream_rng(self.seed, worker, k))
            yield _to_tensor(x), _to_tensor(y)
            k += 1
