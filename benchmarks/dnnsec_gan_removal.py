"""GAN-based watermark removal (Wang, Xue et al., arXiv:2106.08104) against backdoor watermarks, MNIST or CIFAR-10.

    python -m benchmarks.dnnsec_gan_removal [--data mnist] [--attacks badnets,blended] [--seeds 0,1,2]
    python -m benchmarks.dnnsec_gan_removal --attacks dev-triangle --seeds 5       # the development family
    python -m benchmarks.dnnsec_gan_removal --attacks blended --prior l2         # perturbation-L2 prior
    python -m benchmarks.dnnsec_gan_removal --data cifar10 --epochs 3 --seeds 0     # the 3-epoch CIFAR-10 models

The watermarked models are the backdoored zoo models of ``benchmarks.dnnsec_backdoor`` (BadNets patch / Blended
noise, 10 % poisoning, target class 0; cached under ``cache_root()/backdoor/<data>/``; build them there first).
``dev-triangle`` is the family the removal's settings were developed on and never reported as a result: a white
triangle (15 % of the side) near the bottom-right corner -> class 3, 10 % poisoning, trained here with the zoo
recipe and cached beside the others. ``--assume-target`` hands phase 2 the watermark's true class (to study the
removal apart from the detection).

The attacker holds 1 % of the training set (600 MNIST images, 500 CIFAR-10) and holds a sixth of them out
(:func:`dnnsec.attacks.gan_removal.gan_removal`): the fine-tuned checkpoint is chosen on them by clean accuracy and
by the reversed trigger's success rate, never by the owner's trigger or the test set. Retention is the success
rate of the owner's trigger on the test images of other classes (the watermark accuracy), before and after. The
additional-class fingerprint's row is in ``benchmarks.dnnsec_eval`` (column "GAN removal").
Targets: docs/acceptance.md#gan-removal.
"""

from __future__ import annotations

import argparse
import time

import torch

import dnnsec.zoo.models  # noqa: F401  (registers the zoo architectures)
from benchmarks.dnnsec_backdoor import ARCH, msd
from dnnsec.attacks.gan_removal import PRIORS, detect, gan_removal, remove
from dnnsec.backdoor.data import load_pixels
from dnnsec.backdoor.metrics import attack_success_rate, predict
from dnnsec.backdoor.poison import BackdoorAttack, make_attack
from dnnsec.backdoor.train import train_backdoor
from dnnsec.backdoor.triggers import PhysicalTrigger
from shared.checkpoint import load_checkpoint, save_checkpoint
from shared.paths import cache_root

DEV = "dev-triangle"


def _attack(name: str, data) -> BackdoorAttack:
    if name == DEV:
        return BackdoorAttack(DEV, [PhysicalTrigger("triangle", 0.15, (1.0, 1.0, 1.0), 2)], [3], 0.1)
    return make_attack(name, data.num_classes, data.channels)


def _model(
    name: str, data: str, seed: int, attack: BackdoorAttack, train, epochs: int | None = None
) -> torch.nn.Module | None:
    folder = data if epochs is None else f"{data}-e{epochs}"  # benchmarks.dnnsec_backdoor's cache folders
    path = cache_root() / "backdoor" / folder / f"{name}-seed{seed}.safetensors"
    if not path.is_file() and name == DEV:
        model, _, record = train_backdoor(attack, ARCH[data], train, seed, progress=False)
        save_checkpoint(path, model, arch=ARCH[data], config=record["config"], extra={"attack": name})
    return load_checkpoint(path)[0].eval() if path.is_file() else None


def _evaluate(model: torch.nn.Module, test, attack: BackdoorAttack) -> tuple[float, float]:
    clean = test.intensities()
    acc = float((predict(model, test.standardise(clean)) == test.labels).double().mean())
    target = attack.targets[0]
    keep = test.labels != target
    return acc, attack_success_rate(model, attack.triggers[0].apply(clean[keep]), target, test.standardise)


def _known_target(model, x, y, box, target: int, args, seed: int):
    """Phase 2 with the watermark's class given: the same split and settings as :func:`gan_removal`."""
    n_val = round(len(x) / 6)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    tr, va = perm[n_val:], perm[:n_val]
    det = detect(model, x[tr], box, classes=[target], steps=args.detect_steps, prior=args.prior, seed=seed)
    cleaned, log = remove(model, x[tr], y[tr], det.triggers, (x[va], y[va]), steps=args.finetune_steps,
                          prior=args.prior, seed=seed)
    return cleaned, det, log


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="mnist")
    ap.add_argument("--attacks", default="badnets,blended")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--fraction", type=float, default=0.01, help="attacker's share of the training set")
    ap.add_argument("--detect-steps", type=int, default=150)
    ap.add_argument("--finetune-steps", type=int, default=600)
    ap.add_argument("--assume-target", action="store_true", help="give phase 2 the watermark's true class")
    ap.add_argument("--prior", choices=PRIORS, default="mask",
                    help="trigger size the generators minimise: mask L1 (patches) or perturbation L2 (blends)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=None,
                    help="use the backdoored models benchmarks.dnnsec_backdoor trained with --epochs N")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    train, test = load_pixels(args.data, "train"), load_pixels(args.data, "test")
    box = (float(train.standardise(torch.zeros(1, train.channels, 1, 1)).min()),
           float(train.standardise(torch.ones(1, train.channels, 1, 1)).max()))
    print(f"== GAN removal on {args.data}: {args.fraction:.0%} of the training set (a sixth held out), "
          f"{args.detect_steps} generator steps per class ({args.prior} prior), up to {args.finetune_steps} "
          f"fine-tuning steps; percentages")
    print(f"{'watermark':12} {'seed':>4} {'flagged':>8} {'acc before':>10} {'after':>6} {'loss pt':>7} "
          f"{'retention before':>16} {'after':>6} {'val acc':>11} {'val proxy':>11} {'step':>4} {'time s':>6}")
    for name in args.attacks.split(","):
        attack = _attack(name, train)
        rows = []
        for seed in (int(s) for s in args.seeds.split(",")):
            model = _model(name, args.data, seed, attack, train, args.epochs)
            if model is None:
                epochs = "" if args.epochs is None else f" --epochs {args.epochs}"
                print(f"{name:12} {seed:>4} not built: run `python -m benchmarks.dnnsec_backdoor --datasets "
                      f"{args.data} --attacks {name} --seeds {seed}{epochs}`")
                continue
            few = train.subset(round(args.fraction * len(train)), 1000 + seed)
            x = few.standardise(few.intensities())
            t0 = time.perf_counter()
            if args.assume_target:
                cleaned, det, log = _known_target(model, x, few.labels, box, attack.targets[0], args, seed)
            else:
                cleaned, det, log = gan_removal(model, x, few.labels, box, detect_steps=args.detect_steps,
                                                finetune_steps=args.finetune_steps, prior=args.prior, seed=seed)
            seconds = time.perf_counter() - t0
            (a0, r0), (a1, r1) = _evaluate(model, test, attack), _evaluate(cleaned, test, attack)
            rows.append((a0 - a1, r1))
            c, va, vp = log.chosen, log.val_accuracy, log.val_proxy
            print(f"{name:12} {seed:>4} {det.flagged!s:>8} {100 * a0:10.2f} {100 * a1:6.2f} {100 * (a0 - a1):7.2f} "
                  f"{100 * r0:16.2f} {100 * r1:6.2f} {100 * va[0]:5.0f}->{100 * va[c]:3.0f} "
                  f"{100 * vp[0]:5.0f}->{100 * vp[c]:3.0f} {log.steps[c]:>4} {seconds:6.0f}", flush=True)
            print(f"{'':12} anomaly indices {[round(float(v), 2) for v in det.anomaly]}; mask L1 "
                  f"{[round(t.l1_norm, 1) for t in det.triggers]}; sizes {[round(t.size, 1) for t in det.triggers]}",
                  flush=True)
        if rows:
            print(f"{name:12} mean +- sd: accuracy loss {msd([r[0] for r in rows])} points, retention after "
                  f"{msd([r[1] for r in rows])} %", flush=True)


if __name__ == "__main__":
    main()
