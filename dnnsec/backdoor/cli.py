"""``dnnsec attack NAME``: train a backdoored model and write its checkpoint and metrics.

Methods: see :mod:`dnnsec.backdoor.poison`; targets: ``docs/acceptance.md#backdoor-attacks``. The command is
imported lazily by the ``dnnsec`` group (:mod:`dnnsec.cli`), so torch and the attack modules are imported inside
it; bad data or settings end in the group's one error path (``error: <message>``, exit status 2).
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from dnnsec.backdoor import ATTACKS


@click.command()
@click.argument("name", type=click.Choice(ATTACKS))
@click.option("--data", required=True, help="mnist, cifar10, or a .npz file with train_images, train_labels, "
              "test_images, test_labels (uint8 N x H x W x C, 28..64 pixels a side; labels 0..K-1).")
@click.option("--arch", default="mnist_cnn", show_default=True, help="Zoo architecture: mnist_cnn, resnet8, resnet20.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder for model.safetensors (+ model.json sidecar) and metrics.json.")
@click.option("--poison-rate", type=float, default=None,
              help="Fraction of training samples poisoned, all triggers together [default: 0.2 for dct-n2n, "
              "0.005 for physical and ptb, else 0.1].")
@click.option("--seed", default=0, show_default=True, help="Seed of the poisoned samples, model and batches.")
@click.option("--n-triggers", default=4, show_default=True, help="N of dct-n2n and dct-n2one (2..6).")
@click.option("--shape", type=click.Choice(("square", "triangle", "glasses")), default="square", show_default=True,
              help="Trigger shape of physical and ptb.")
@click.option("--codecs", default="jpeg,jpeg2000,webp", show_default=True,
              help="Codecs compression trains on (comma-separated).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Training epochs [default: the zoo recipe's].")
@click.option("--max-train", type=int, default=None, help="Use a seeded random subset of this many training images.")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1), help="torch CPU threads.")
@click.option("--force", is_flag=True, help="Replace existing outputs in --out.")
def attack(name: str, data: str, arch: str, out: Path, poison_rate: float | None, seed: int, n_triggers: int,
           shape: str, codecs: str, epochs: int | None, max_train: int | None, threads: int, force: bool) -> None:
    """Train a model of the zoo with backdoor attack NAME and write its checkpoint and metrics JSON.

    metrics.json holds the clean test accuracy, the attack success rate (ASR) and PSNR (dB) / SSIM of every
    trigger, the ASR after JPEG / JPEG 2000 / WEBP (dct, compression) or under the held physical pipeline
    (physical, ptb), the poisoned sample count and the training and evaluation time (s). A progress bar shows on
    stderr.

    \b
    Examples:
      dnnsec attack dct-n2n --data mnist --arch mnist_cnn --out runs/n2n --n-triggers 4
      dnnsec attack compression --data cifar10 --arch resnet8 --out runs/comp --codecs jpeg,webp
      dnnsec attack ptb --data mine.npz --out runs/ptb --poison-rate 0.005 --shape glasses
    """
    import torch

    from dnnsec.backdoor.data import load_pixels
    from dnnsec.backdoor.poison import AttackError, make_attack
    from dnnsec.backdoor.train import train_backdoor
    from shared.atomic import write_json_atomic
    from shared.checkpoint import save_checkpoint

    model_path, metrics_path = out / "model.safetensors", out / "metrics.json"
    existing = [p for p in (model_path, metrics_path) if p.exists()]
    if existing and not force:
        raise AttackError(f"{existing[0]}: exists; pass --force to replace it")
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    train, test = load_pixels(data, "train"), load_pixels(data, "test")
    if max_train is not None:
        if max_train < 1:
            raise AttackError(f"--max-train must be >= 1, got {max_train}")
        train = train.subset(max_train, seed)
    chosen = make_attack(name, train.num_classes, train.channels, poison_rate, n_triggers, shape,
                         tuple(c.strip() for c in codecs.split(",") if c.strip()))
    model, poisoned, record = train_backdoor(chosen, arch, train, seed, epochs)
    metrics = {"attack": name, "data": data, **record, "poison_rate": chosen.poison_rate, "shape": shape,
               "train_codecs": list(chosen.codecs) if chosen.transform == "compression" else [],
               **chosen.evaluate(model, test), "total_seconds": time.perf_counter() - t0}
    save_checkpoint(model_path, model, arch=arch, config=record["config"],
                    extra={"dataset": data, "backdoor": {k: v for k, v in metrics.items() if k != "train"}})
    write_json_atomic(metrics_path, metrics)
    click.echo(f"clean accuracy {100 * metrics['clean_accuracy']:.2f} %, mean ASR {100 * metrics['asr_mean']:.2f} %, "
               f"{len(poisoned.indices)} poisoned samples; wrote {model_path} and {metrics_path}")
