"""GAN-based watermark removal (Wang, Xue et al., arXiv:2106.08104) against backdoor watermarks, MNIST or CIFAR-10.

    python -m benchmarks.dnnsec_gan_removal [--data mnist] [--attacks badnets,blended] [--seeds 0]

The watermarked models are the backdoored zoo models of ``benchmarks.dnnsec_backdoor`` (BadNets patch / Blended
noise, 10 % poisoning, target class 0; cached under ``cache_root()/backdoor/<data>/``, trained there if missing).
The attacker holds 1 % of the training set (600 MNIST images, 500 CIFAR-10); retention is the attack success rate
of the owner's trigger on the test images (the watermark accuracy), before and after. The additional-class
fingerprint's row is in ``benchmarks.dnnsec_eval`` (column "GAN removal").
Targets: docs/acceptance.md#gan-removal.
"""

from __future__ import annotations

import argparse
import time

import torch

import dnnsec.zoo.models  # noqa: F401  (registers the zoo architectures)
from dnnsec.attacks.gan_removal import gan_removal
from dnnsec.backdoor.data import load_pixels
from dnnsec.backdoor.metrics import attack_success_rate, predict
from dnnsec.backdoor.poison import make_attack
from shared.checkpoint import load_checkpoint
from shared.paths import cache_root


def _evaluate(model: torch.nn.Module, test, trigger) -> tuple[float, float]:
    clean = test.intensities()
    acc = float((predict(model, test.standardise(clean)) == test.labels).double().mean())
    keep = test.labels != 0
    return acc, attack_success_rate(model, trigger.apply(clean[keep]), 0, test.standardise)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="mnist")
    ap.add_argument("--attacks", default="badnets,blended")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--fraction", type=float, default=0.01, help="attacker's share of the training set")
    ap.add_argument("--detect-steps", type=int, default=150)
    ap.add_argument("--finetune-steps", type=int, default=500)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    train, test = load_pixels(args.data, "train"), load_pixels(args.data, "test")
    box = (float(train.standardise(torch.zeros(1, train.channels, 1, 1)).min()),
           float(train.standardise(torch.ones(1, train.channels, 1, 1)).max()))
    print(f"== GAN removal on {args.data}: {args.fraction:.0%} of the training set, {args.detect_steps} generator "
          f"steps per class, {args.finetune_steps} fine-tuning steps; percentages")
    print(f"{'watermark':9} {'seed':>4} {'flagged':>12} {'acc before':>10} {'acc after':>9} {'loss pt':>7} "
          f"{'retention before':>16} {'after':>6} {'time s':>6}")
    for name in args.attacks.split(","):
        attack = make_attack(name, train.num_classes, train.channels)
        for seed in (int(s) for s in args.seeds.split(",")):
            path = cache_root() / "backdoor" / args.data / f"{name}-seed{seed}.safetensors"
            if not path.is_file():
                print(f"{name:9} {seed:>4} not built: run `python -m benchmarks.dnnsec_backdoor --datasets "
                      f"{args.data} --attacks {name} --seeds {seed}`")
                continue
            model = load_checkpoint(path)[0].eval()
            few = train.subset(round(args.fraction * len(train)), 1000 + seed)
            x = few.standardise(few.intensities())
            t0 = time.perf_counter()
            cleaned, det = gan_removal(model, x, few.labels, box, detect_steps=args.detect_steps,
                                       finetune_steps=args.finetune_steps, seed=seed)
            seconds = time.perf_counter() - t0
            (a0, r0), (a1, r1) = _evaluate(model, test, attack.triggers[0]), _evaluate(cleaned, test,
                                                                                       attack.triggers[0])
            print(f"{name:9} {seed:>4} {det.flagged!s:>12} {100 * a0:10.2f} {100 * a1:9.2f} "
                  f"{100 * (a0 - a1):7.2f} {100 * r0:16.2f} {100 * r1:6.2f} {seconds:6.0f}", flush=True)
            print(f"          anomaly indices {[round(float(v), 2) for v in det.anomaly]}; mask L1 "
                  f"{[round(t.l1_norm, 1) for t in det.triggers]}", flush=True)


if __name__ == "__main__":
    main()
