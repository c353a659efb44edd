"""Backdoor attacks: the tables of ``docs/acceptance.md#backdoor-attacks``, mean +- sd over seeds.

    python -m benchmarks.dnnsec_backdoor [--datasets mnist,cifar10] [--seeds 0,1,2] [--attacks ...] [--no-train]

Each (data set, attack, seed) trains one backdoored zoo model (``mnist_cnn`` on MNIST, ``resnet8`` on CIFAR-10,
zoo recipe) and caches its checkpoint and metrics under ``cache_root()/backdoor/<data set>/``; clean accuracy
loss is against the zoo's clean model of the same seed (``dnnsec zoo build``). ``--no-train`` prints the tables
from the cache alone (missing entries show as "not measured"); several processes with different ``--seeds`` can
fill the cache side by side.

Attacks: ``dct-n2n`` (N = 4 triggers, 4 targets), ``dct-n2one`` (N = 4, one target), ``dct`` (plain, one
trigger), ``compression`` (trained on JPEG, JPEG 2000 and WEBP), ``loco-<codec>`` (trained on the two other
codecs, evaluated on ``<codec>``), ``badnets``, ``blended`` (10 % poisoning), ``physical`` and ``ptb`` (0.5 %).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace

import numpy as np
import torch

from dnnsec.backdoor.codecs import CODECS
from dnnsec.backdoor.data import load_pixels
from dnnsec.backdoor.poison import EVAL_QUALITIES, make_attack
from dnnsec.backdoor.train import train_backdoor
from dnnsec.zoo.build import ZOO, build_zoo, train_zoo_model, zoo_path
from dnnsec.zoo.data import load_dataset
from shared.atomic import write_json_atomic
from shared.checkpoint import read_sidecar, save_checkpoint
from shared.paths import cache_root

ARCH = {"mnist": "mnist_cnn", "cifar10": "resnet8"}
KEYS = ("dct-n2n", "dct-n2one", "compression", "dct", "ptb", "physical", "badnets", "blended",
        *(f"loco-{c}" for c in CODECS))
N_TRIGGERS = 4
#: BackdoorBench v2 (Wu et al., NeurIPS 2022 Datasets and Benchmarks), PreAct-ResNet18, CIFAR-10, 10 % poisoning:
#: (clean accuracy %, ASR %).
BACKDOORBENCH = {"badnets": (91.32, 95.03), "blended": (93.47, 99.92)}


def _attack(key: str, num_classes: int, channels: int):
    if key.startswith("loco-"):
        held = key[5:]
        return make_attack("compression", num_classes, channels, codecs=tuple(c for c in CODECS if c != held)), \
            (held,)
    return make_attack(key, num_classes, channels, n_triggers=N_TRIGGERS), CODECS


def _metrics_path(dataset: str, key: str, seed: int, epochs: int | None):
    """The cache file of one run; ``epochs`` equal to the zoo recipe's own count is the recipe itself (``None``)."""
    spec = ZOO[ARCH[dataset]]
    if epochs is not None and epochs * _steps_per_epoch(dataset) == spec.train.get("max_steps"):
        epochs = None
    folder = dataset if epochs is None else f"{dataset}-e{epochs}"
    return cache_root() / "backdoor" / folder / f"{key}-seed{seed}.metrics.json"


def _steps_per_epoch(dataset: str) -> int:
    """Steps of one epoch at the zoo's batch size (MNIST 469, CIFAR-10 391: 60,000 and 50,000 training images)."""
    return math.ceil({"mnist": 60_000, "cifar10": 50_000}[dataset] / ZOO[ARCH[dataset]].batch_size)


def clean_baseline(dataset: str, seed: int, epochs: int) -> dict:
    """Train and cache the clean zoo recipe for ``epochs`` epochs (``build_zoo`` trains the zoo's own count)."""
    spec = ZOO[ARCH[dataset]]
    train, test = load_dataset(dataset, "train"), load_dataset(dataset, "test")
    steps = epochs * math.ceil(len(train) / spec.batch_size)
    model, record = train_zoo_model(replace(spec, train={**spec.train, "max_steps": steps}), seed, train, test,
                                    progress=False)
    metrics = {**record, "clean_accuracy": record["test_accuracy"], "epochs": epochs}
    path = _metrics_path(dataset, "clean", seed, epochs)
    save_checkpoint(path.with_name(f"clean-seed{seed}.safetensors"), model, arch=spec.arch, config=spec.config,
                    extra=metrics)
    write_json_atomic(path, metrics)
    return metrics


def run_one(dataset: str, key: str, seed: int, data: dict, epochs: int | None) -> dict:
    """Train, evaluate and cache one backdoored model; return its metrics."""
    if "train" not in data:
        data["train"], data["test"] = load_pixels(dataset, "train"), load_pixels(dataset, "test")
    train, test = data["train"], data["test"]
    attack, eval_codecs = _attack(key, train.num_classes, train.channels)
    model, _, record = train_backdoor(attack, ARCH[dataset], train, seed, epochs, progress=False)
    metrics = {**record, "attack": key, **attack.evaluate(model, test, eval_codecs=eval_codecs)}
    path = _metrics_path(dataset, key, seed, epochs)
    save_checkpoint(path.with_name(f"{key}-seed{seed}.safetensors"), model, arch=ARCH[dataset],
                    config=record["config"], extra={k: v for k, v in metrics.items() if k != "train"})
    write_json_atomic(path, metrics)
    return metrics


def msd(values: list[float], scale: float = 100.0, digits: int = 2) -> str:
    """``mean +- sd (n=...)`` of the measured ``values`` times ``scale`` (None and NaN left out)."""
    v = [x * scale for x in values if x is not None and not math.isnan(x)]
    if not v:
        return "not measured"
    sd = float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")
    return f"{np.mean(v):.{digits}f} +- {sd:.{digits}f} (n={len(v)})"


def tables(dataset: str, seeds: list[int], epochs: int | None) -> None:
    """Print the acceptance tables of one data set from the cache."""
    def got(key: str) -> list[dict]:
        out = []
        for s in seeds:
            p = _metrics_path(dataset, key, s, epochs)
            if p.is_file():
                out.append(json.loads(p.read_text()))
        return out

    if epochs is None:
        base = {s: read_sidecar(zoo_path(ARCH[dataset], s))["extra"]["test_accuracy"]
                for s in seeds if zoo_path(ARCH[dataset], s).is_file()}
    else:
        base = {m["seed"]: m["clean_accuracy"] for m in got("clean")}
    recipe = "zoo recipe" if epochs is None else f"zoo recipe cut to {epochs} epochs"
    print(f"\n== {dataset} ({ARCH[dataset]}, {recipe}), seeds {seeds}; percentages, mean +- sd over seeds ==")
    print(f"clean model (same recipe) accuracy: {msd(list(base.values()))}")
    print("\n-- DCT steganography (N = 4; rate 20 % / amplitude 32 N-to-N, 10 % / 24 others) --  "
          "goals: N-to-N ASR >= 94, clean loss <= 1 pt; "
          "N-to-One ASR >= 90; PSNR >= 35 dB")
    print(f"{'attack':10} {'clean acc':>24} {'clean loss (pt)':>24} {'mean ASR':>24} {'min ASR':>24} "
          f"{'PSNR dB':>22} {'SSIM':>22}")
    for key in ("dct-n2n", "dct-n2one", "dct"):
        r = got(key)
        loss = [base[m["seed"]] - m["clean_accuracy"] for m in r if m["seed"] in base]
        print(f"{key:10} {msd([m['clean_accuracy'] for m in r]):>24} {msd(loss):>24} "
              f"{msd([m['asr_mean'] for m in r]):>24} {msd([min(t['asr'] for t in m['triggers']) for m in r]):>24} "
              f"{msd([np.mean([t['psnr_db'] for t in m['triggers']]) for m in r], 1.0):>22} "
              f"{msd([np.mean([t['ssim'] for t in m['triggers']]) for m in r], 1.0, 4):>22}")
    print("\n-- Compression: ASR after codec round trip at quality q (2,000 triggered test images) --  "
          "goal: >= 97 at JPEG q50, JPEG 2000, WEBP; plain < 15")
    print(f"{'model':22} {'codec':9} " + " ".join(f"{'q' + str(q):>22}" for q in EVAL_QUALITIES))
    rows = [("compression (all 3)", "compression", c) for c in CODECS] + \
        [("plain DCT backdoor", "dct", c) for c in CODECS] + \
        [(f"loco (not {c})", f"loco-{c}", c) for c in CODECS]
    for label, key, codec in rows:
        r = got(key)
        print(f"{label:22} {codec:9} " + " ".join(
            f"{msd([m['compression'][codec][str(q)] for m in r]):>22}" for q in EVAL_QUALITIES))
    for key in ("compression", "dct"):
        r = got(key)
        print(f"{key}: ASR untouched {msd([m['asr_mean'] for m in r])}, clean acc "
              f"{msd([m['clean_accuracy'] for m in r])}, PSNR {msd([m['triggers'][0]['psnr_db'] for m in r], 1.0)} dB")
    print("\n-- PTB (square trigger, poisoning 0.5 %), held physical pipeline --  goal: PTB >= 85, without PTB < 15")
    print(f"{'attack':10} {'ASR held':>24} {'ASR digital':>24} {'clean acc':>24} {'clean acc held':>24}")
    for key in ("ptb", "physical"):
        r = got(key)
        print(f"{key:10} {msd([m['physical']['asr_held'] for m in r]):>24} {msd([m['asr_mean'] for m in r]):>24} "
              f"{msd([m['clean_accuracy'] for m in r]):>24} "
              f"{msd([m['physical']['clean_accuracy_held'] for m in r]):>24}")
    print("\n-- Baselines (poisoning 10 %, target class 0) --  BackdoorBench: PreAct-ResNet18, CIFAR-10, 10 %")
    print(f"{'attack':10} {'clean acc':>24} {'ASR':>24} {'BackdoorBench clean / ASR':>28}")
    for key in ("badnets", "blended"):
        r = got(key)
        bb = BACKDOORBENCH[key]
        print(f"{key:10} {msd([m['clean_accuracy'] for m in r]):>24} {msd([m['asr_mean'] for m in r]):>24} "
              f"{bb[0]:>14.2f} / {bb[1]:.2f}")
    cpu = [m["cpu_seconds"] for k in KEYS for m in got(k)]
    if cpu:
        print(f"\ntraining CPU time per model: {msd(cpu, 1 / 60, 1)} min")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default="mnist,cifar10")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--attacks", default=",".join(KEYS))
    ap.add_argument("--no-train", action="store_true", help="print the tables from the cache only")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=None,
                    help="train every model (and a clean baseline) for this many epochs instead of the zoo's")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    for dataset in args.datasets.split(","):
        if not args.no_train:
            if args.epochs is None:
                build_zoo([ARCH[dataset]], seeds, progress=False)
            else:
                for seed in seeds:
                    if not _metrics_path(dataset, "clean", seed, args.epochs).is_file():
                        clean_baseline(dataset, seed, args.epochs)
            data: dict = {}
            for key in args.attacks.split(","):
                for seed in seeds:
                    if not _metrics_path(dataset, key, seed, args.epochs).is_file():
                        m = run_one(dataset, key, seed, data, args.epochs)
                        print(f"{dataset} {key} seed {seed}: clean {m['clean_accuracy']:.4f} ASR "
                              f"{m['asr_mean']:.4f} ({m['cpu_seconds'] / 60:.1f} CPU min)", flush=True)
        tables(dataset, seeds, args.epochs)


if __name__ == "__main__":
    main()
