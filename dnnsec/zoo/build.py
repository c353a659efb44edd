"""Build and cache the seeded model zoo that every dnnsec method starts from.

Each entry trains one registered architecture on one data set with ``shared.trainer`` and saves a shared-core
checkpoint ``cache_root()/zoo/<arch>-seed<seed>.safetensors`` whose sidecar ``extra`` records the data set,
test accuracy (fraction) and CPU time (s). Later work fine-tunes from these instead of training anew.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.nn import functional as F

import dnnsec.zoo.models  # noqa: F401  (registers the architectures)
from dnnsec.errors import ModelError
from dnnsec.zoo.augment import random_crop_flip
from dnnsec.zoo.data import ImageSet, load_dataset
from shared.architectures import build_model
from shared.checkpoint import load_checkpoint, save_checkpoint
from shared.data import TensorBatches
from shared.paths import cache_root
from shared.seeding import seed_everything
from shared.trainer import Trainer


@dataclass(frozen=True)
class ZooSpec:
    """How one zoo architecture is trained (steps at batch 128: one MNIST epoch is 469, CIFAR-10 391)."""

    arch: str
    dataset: str
    train: dict
    config: dict = field(default_factory=dict)
    batch_size: int = 128
    augment: bool = False


ZOO: dict[str, ZooSpec] = {
    "mnist_cnn": ZooSpec("mnist_cnn", "mnist", {"optimizer": "adam", "lr": 3e-3, "schedule": "cosine",
                                                 "max_steps": 2 * 469}),
    "resnet8": ZooSpec("resnet8", "cifar10", {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9,
                                              "weight_decay": 5e-4, "schedule": "cosine", "max_steps": 10 * 391},
                       augment=True),
    "resnet20": ZooSpec("resnet20", "cifar10", {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9,
                                                "weight_decay": 5e-4, "schedule": "cosine",
                                                "max_steps": 5 * 391}, augment=True),
}


def zoo_dir() -> Path:
    """Folder of the cached zoo checkpoints."""
    return cache_root() / "zoo"


def zoo_path(arch: str, seed: int) -> Path:
    """Checkpoint path of zoo entry ``arch`` (a key of :data:`ZOO`) trained with ``seed``."""
    return zoo_dir() / f"{arch}-seed{seed}.safetensors"


def train_zoo_model(spec: ZooSpec, seed: int, train: ImageSet, test: ImageSet, progress: bool = True
                    ) -> tuple[torch.nn.Module, dict]:
    """Train one zoo model; return it and a record of its test accuracy (fraction) and CPU time (s)."""
    seed_everything(seed)
    model = build_model(spec.arch, spec.config)
    batches = TensorBatches(train.x, train.y, spec.batch_size, seed=seed,
                            augment=random_crop_flip if spec.augment else None)
    cfg = {"converge_tol": 0.0, "log_every": 50, **spec.train, "seed": seed}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = Trainer(model, F.cross_entropy, cfg, batches, progress=progress).fit()
    record = {"dataset": spec.dataset, "seed": seed, "steps": result.steps,
              "cpu_seconds": time.process_time() - cpu0, "wall_seconds": time.perf_counter() - wall0,
              "test_accuracy": test.accuracy(model), "train": cfg}
    return model, record


def build_zoo(archs: list[str], seeds: list[int], *, force: bool = False, progress: bool = True,
              echo=print) -> list[dict]:
    """Train and cache every (arch, seed) not cached yet; return one record per model."""
    records = []
    for arch in archs:
        if arch not in ZOO:
            raise ModelError(f"unknown zoo architecture {arch!r}; known: {sorted(ZOO)}")
        spec = ZOO[arch]
        todo = [s for s in seeds if force or not zoo_path(arch, s).is_file()]
        train = load_dataset(spec.dataset, "train") if todo else None
        test = load_dataset(spec.dataset, "test") if todo else None
        for seed in seeds:
            path = zoo_path(arch, seed)
            if seed not in todo:
                _, meta = load_checkpoint(path, expected_arch=spec.arch)
                records.append({"arch": arch, **meta["extra"], "path": str(path), "cached": True})
                continue
            model, record = train_zoo_model(spec, seed, train, test, progress)
            save_checkpoint(path, model, arch=spec.arch, config=spec.config, extra=record)
            records.append({"arch": arch, **record, "path": str(path), "cached": False})
            echo(f"{arch} seed {seed}: test accuracy {record['test_accuracy']:.4f}, "
                 f"CPU {record['cpu_seconds'] / 60:.1f} min -> {path}")
    return records


def load_zoo_model(arch: str, seed: int) -> tuple[torch.nn.Module, dict]:
    """Load a cached zoo model (eval mode) and its sidecar; FileNotFoundError tells how to build it."""
    path = zoo_path(arch, seed)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: zoo model not built; run `dnnsec zoo build --arch {arch} --seeds {seed}`")
    return load_checkpoint(path, expected_arch=ZOO[arch].arch if arch in ZOO else None)
