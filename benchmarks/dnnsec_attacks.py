"""Attacks on AdvParams-encrypted zoo models: fine-tuning against training from scratch, pruning, and an
adaptive attacker who knows the method and holds 1 % of the training data.

Run: ``.venv/bin/python -m benchmarks.dnnsec_attacks [--archs mnist_cnn,resnet8] [--seeds 0,1,2]`` (needs
``dnnsec zoo build``). Every learning rate is chosen per arm on 2,000 held-out training samples (an optimistic
attacker); accuracies are on the test split, in per cent, as mean +- sample standard deviation over the seeds.
Protection under test: Xue et al., "AdvParams: An Active DNN Intellectual Property Protection Technique via
Adversarial Perturbation Based Parameter Encryption", IEEE TETC. Losing to an attack is a valid result.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections import defaultdict

import numpy as np
import torch
from torch import nn

from benchmarks.dnnsec_protect import Encrypted, encrypt_zoo_model, mean_sd
from dnnsec.attacks.finetune import finetune, refit_classifier
from dnnsec.attacks.prune import global_magnitude_prune
from dnnsec.attacks.ranking import SCORES, hits_in_top_k, parameter_scores, top_k_positions
from dnnsec.zoo.augment import random_crop_flip
from dnnsec.zoo.build import ZOO, zoo_path
from dnnsec.zoo.data import ImageSet, load_dataset
from shared.architectures import build_model

TOP_K = (50, 500, 5000)


def best_over_lrs(make: callable, lrs: list[float], val: ImageSet, test: ImageSet) -> tuple[float, float]:
    """Train one model per learning rate with ``make(lr)``; return (test accuracy at the best val lr, that lr)."""
    best = None
    for lr in lrs:
        model = make(lr)
        v = val.accuracy(model)
        if best is None or v > best[0]:
            best = (v, test.accuracy(model), lr)
    return best[1], best[2]


def last_linear(model: nn.Module) -> str:
    return [n for n, m in model.named_modules() if isinstance(m, nn.Linear)][-1]


def bn_params(model: nn.Module) -> set[str]:
    return {f"{n}.{p}" for n, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
            for p in ("weight", "bias")}


def percentile_clip(model: nn.Module, low: float, high: float) -> nn.Module:
    """Clip every parameter tensor to its own [low, high] percentiles (per cent)."""
    model = copy.deepcopy(model)
    q = torch.tensor([low / 100, high / 100], dtype=torch.float64)
    with torch.no_grad():
        for p in model.parameters():
            lo, hi = torch.quantile(p.double().flatten(), q).tolist()
            p.clamp_(lo, hi)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", default="mnist_cnn,resnet8", help="zoo architectures, benchmarked in turn")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--fractions", default="0.01,0.05,0.10")
    parser.add_argument("--lrs", default="0.001,0.003,0.01", help="Adam learning-rate grid for every arm")
    parser.add_argument("--steps", type=int, default=150, help="training steps of every arm (batch 64)")
    parser.add_argument("--test-samples", type=int, default=10000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for arch in args.archs.split(","):
        attack_tables(arch, args)


def attack_tables(arch: str, args: argparse.Namespace) -> None:
    """Print every attack table for the encrypted zoo models of ``arch``."""
    spec = ZOO[arch]
    seeds = [int(s) for s in args.seeds.split(",") if zoo_path(arch, int(s)).is_file()]
    if not seeds:
        raise SystemExit(f"no zoo model for {arch}; run `dnnsec zoo build --arch {arch}`")
    fractions = [float(f) for f in args.fractions.split(",")]
    lrs = [float(v) for v in args.lrs.split(",")]
    augment = random_crop_flip if spec.augment else None
    train = load_dataset(spec.dataset, "train")
    test = load_dataset(spec.dataset, "test").fraction(min(1.0, args.test_samples / 10000), seed=7)
    perm = np.random.default_rng(99).permutation(len(train))
    val, pool = train.subset(np.sort(perm[:2000]), "val"), train.subset(np.sort(perm[2000:]), "pool")
    t_start = time.perf_counter()
    print(f"# {arch}: seeds {seeds}, {args.steps} steps per arm at batch 64, lr grid {lrs}, "
          f"test samples {len(test)}")
    enc: list[Encrypted] = [encrypt_zoo_model(arch, s, test) for s in seeds]
    print(f"plain {mean_sd([100 * e.plain_acc for e in enc])} %, "
          f"encrypted {mean_sd([100 * e.encrypted_acc for e in enc])} %, "
          f"encrypted positions {[e.n_encrypted for e in enc]}")

    # --- fine-tuning the encrypted model against training from scratch -------------------------------------
    print("\n## Fine-tuning the encrypted model vs training from scratch on the same subset")
    print(f"{'data %':>6} {'fine-tune %':>17} {'scratch %':>17} {'ft - scratch (paired)':>22}  lrs ft / scratch")
    headline = None
    for frac in fractions:
        ft, sc, lr_ft, lr_sc = [], [], [], []
        for e in enc:
            sub = pool.fraction(frac, seed=e.seed)
            a, lr = best_over_lrs(lambda lr, e=e, sub=sub: finetune(copy.deepcopy(e.encrypted), sub.x, sub.y,
                                  steps=args.steps, lr=lr, seed=e.seed, augment=augment), lrs, val, test)
            ft.append(100 * a)
            lr_ft.append(lr)

            def scratch(lr, e=e, sub=sub):
                torch.manual_seed(e.seed + 100)
                return finetune(build_model(spec.arch, spec.config), sub.x, sub.y, steps=args.steps, lr=lr,
                                seed=e.seed, augment=augment)
            a, lr = best_over_lrs(scratch, lrs, val, test)
            sc.append(100 * a)
            lr_sc.append(lr)
        diff = [f - s for f, s in zip(ft, sc, strict=True)]
        print(f"{100 * frac:6.1f} {mean_sd(ft):>17} {mean_sd(sc):>17} {mean_sd(diff):>22}  {lr_ft} / {lr_sc}",
              flush=True)
        if headline is None and statistics.fmean(diff) <= 0:
            headline = frac
    print("headline: fine-tuning "
          + (f"stops beating scratch at {100 * headline:g} % of the data" if headline is not None
             else f"beats scratch at every fraction tried (up to {100 * fractions[-1]:g} %)"))

    # --- pruning ----------------------------------------------------------------------------------------------
    print("\n## Global magnitude pruning of conv/linear weights (accuracy %)")
    print(f"{'pruned %':>8} {'encrypted':>17} {'plain':>17}")
    for frac in (0.1, 0.2, 0.3, 0.4, 0.5):
        rows = defaultdict(list)
        for e in enc:
            for name, model in (("enc", e.encrypted), ("plain", e.plain)):
                m = copy.deepcopy(model)
                global_magnitude_prune(m, frac)
                rows[name].append(100 * test.accuracy(m))
        print(f"{100 * frac:8.0f} {mean_sd(rows['enc']):>17} {mean_sd(rows['plain']):>17}", flush=True)

    # --- adaptive attacker with 1 % of the data --------------------------------------------------------------
    print("\n## Adaptive attacker with 1 % of the training data")
    hits = defaultdict(list)
    results = defaultdict(list)
    for e in enc:
        sub = pool.fraction(0.01, seed=e.seed)
        scores = parameter_scores(copy.deepcopy(e.encrypted), sub.x, sub.y)
        for s in SCORES:
            for k in TOP_K:
                hits[(s, k)].append(hits_in_top_k(scores[s], e.positions, k))
        for lo, hi in ((1, 99), (5, 95)):
            results[f"percentile clip {lo}-{hi}"].append(100 * test.accuracy(percentile_clip(e.encrypted, lo, hi)))
        for k in TOP_K:
            chosen = top_k_positions(scores["abs_grad"], k)
            masks = {n: torch.zeros_like(p) for n, p in e.encrypted.named_parameters()}
            for n, i in chosen:
                masks[n].view(-1)[i] = 1.0
            a, _ = best_over_lrs(lambda lr, e=e, sub=sub, masks=masks: finetune(
                copy.deepcopy(e.encrypted), sub.x, sub.y, steps=args.steps, lr=lr, seed=e.seed, augment=augment,
                grad_mask=masks), lrs, val, test)
            results[f"re-optimise top {k} by |dL/dw|"].append(100 * a)
        bn = bn_params(e.encrypted)
        a, _ = best_over_lrs(lambda lr, e=e, sub=sub, bn=bn: finetune(
            copy.deepcopy(e.encrypted), sub.x, sub.y, steps=args.steps, lr=lr, seed=e.seed, augment=augment,
            trainable=bn.__contains__), lrs, val, test)
        results["fine-tune BatchNorm only"].append(100 * a)
        a, _ = best_over_lrs(lambda lr, e=e, sub=sub: refit_classifier(
            copy.deepcopy(e.encrypted), last_linear(e.encrypted), sub.x, sub.y, steps=args.steps, lr=lr,
            seed=e.seed), lrs, val, test)
        results["refit final linear layer"].append(100 * a)
    n_true = [e.n_encrypted for e in enc]
    print(f"true encrypted positions per seed: {n_true}; hits in the top k (per seed)")
    print(f"{'score':>12} " + " ".join(f"{'top ' + str(k):>14}" for k in TOP_K))
    for s in SCORES:
        print(f"{s:>12} " + " ".join(f"{hits[(s, k)]!s:>14}" for k in TOP_K))
    print(f"\n{'repair':34} {'accuracy %':>17}   (encrypted {mean_sd([100 * e.encrypted_acc for e in enc])}, "
          f"plain {mean_sd([100 * e.plain_acc for e in enc])})")
    for name, vals in results.items():
        print(f"{name:34} {mean_sd(vals):>17}")
    print(f"\ntotal wall time {(time.perf_counter() - t_start) / 60:.1f} min")


if __name__ == "__main__":
    main()
