"""Backdoor defences: the table of ``docs/acceptance.md#backdoor-defences``, mean +- sd over seeds.

    python -m benchmarks.dnnsec_defence [--datasets mnist,cifar10] [--seeds 0,1,2] [--attacks badnets,blended,dct]
                                        [--sanitise-seeds 0,1,2] [--sanitise-rounds 3] [--adaptive-seeds 0]
                                        [--perturbation-seeds 0,1,2] [--no-run]

Models: the backdoored models of ``benchmarks.dnnsec_backdoor`` (its cache; trained there if missing): MNIST
``mnist_cnn`` with the zoo recipe, CIFAR-10 ``resnet8`` cut to ``--cifar-epochs`` (3) epochs. Attacks: BadNets,
Blended (10 % poisoning) and the plain DCT backdoor (one trigger, 10 %), target class 0.

The defender's clean held-out data are 5,000 test images drawn at random (seed 0, the same for every model: the
CIFAR-10 test file here is ordered by class); every figure is measured on the other 5,000 (the first ``--n-eval``
(300) clean ones, and as many triggered ones whose true class is not the target):

- intentional adversarial perturbation (one universal perturbation per predicted class, L2 budget ``--budget``
  2.0): fitted on held-out images 0-2,999, threshold at 1 % false positives on held-out images 3,000-4,999;
- the per-input minimal (DeepFool-like) walk, budget at 1 % false positives on ``--n-eval`` held-out images from
  3,000;
- STRIP, N = ``--strip-n`` (100) superimpositions drawn from held-out images 0-999, threshold at 1 % false
  rejections on ``--n-eval`` held-out images from 3,000;
- Neural Cleanse on held-out images 0-999 (anomaly index, flag > 2), unlearning on all 5,000 when it flags;
- sanitisation (MNIST): the perturbation detector of the backdoored model screens the poisoned training set, the
  flagged samples go, the model is retrained with the zoo recipe, and the retrained model's detector screens the
  kept set again, up to ``--sanitise-rounds`` rounds (:func:`dnnsec.defence.sanitise.sanitise`); ASR and clean
  accuracy of the model retrained after each round;
- perturbation only (MNIST, ``--perturbation-seeds``): the detector on ``--n-eval-large`` (2,000) clean and
  triggered inputs, with one global threshold, with per-class thresholds, and with a second perturbation per
  class that avoids the first one's natural destination (``PerturbationDetector.fit(second=True)``); detection
  over all triggered inputs and over those sent to the target, and what the perturbation does to the missed ones;
  with the development attack ``dev-triangle`` of ``benchmarks.dnnsec_gan_removal`` (seed 5), on which each
  variant is judged;
- adaptive (MNIST): the attacker trains the backdoor to be fragile (:mod:`dnnsec.defence.adaptive`).

The budget 2.0 was chosen on MNIST seed 0's BadNets model (see docs/results.md#backdoor-defences). The sizes are
small because the CPU is shared; ``--n-eval``, ``--uap-steps``, ``--nc-steps`` and ``--strip-n`` raise them.
Results are cached under ``cache_root()/defence/<data set>/`` (``--no-run`` prints the table from the cache).
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch

from benchmarks.dnnsec_backdoor import ARCH, _metrics_path, msd, run_one
from benchmarks.dnnsec_gan_removal import DEV
from benchmarks.dnnsec_gan_removal import _attack as dev_attack
from benchmarks.dnnsec_gan_removal import _model as dev_model
from dnnsec.backdoor.data import PixelSet, load_pixels
from dnnsec.backdoor.poison import make_attack
from dnnsec.defence.adaptive import train_fragile_backdoor
from dnnsec.defence.classifier import DefenceError, PixelClassifier
from dnnsec.defence.neural_cleanse import neural_cleanse, unlearn
from dnnsec.defence.perturbation import MinimalPerturbationDetector, PerturbationDetector
from dnnsec.defence.sanitise import sanitise
from dnnsec.defence.strip import StripDetector
from dnnsec.zoo.build import zoo_path
from shared.atomic import write_json_atomic
from shared.checkpoint import read_sidecar, save_checkpoint
from shared.paths import cache_root

HOLD = 5000
#: Seed of the held-out / evaluation split of the test set (fixed for every model).
SPLIT_SEED = 0
FPR = 0.01


def _epochs(dataset: str, cifar_epochs: int) -> int | None:
    return None if dataset == "mnist" else cifar_epochs


def _result_path(dataset: str, kind: str, key: str, seed: int, epochs: int | None = None):
    """The cache file of one result, in a folder named as the backdoored models' (``cifar10-e3`` for 3 epochs)."""
    folder = _metrics_path(dataset, key, seed, epochs).parent.name
    return cache_root() / "defence" / folder / f"{kind}-{key}-seed{seed}.json"


def _cached(dataset: str, kind: str, key: str, seed: int, args: argparse.Namespace):
    """:func:`_result_path` for the models the arguments train (CIFAR-10: ``--cifar-epochs``)."""
    return _result_path(dataset, kind, key, seed, _epochs(dataset, args.cifar_epochs))


def _model_path(dataset: str, key: str, seed: int, epochs: int | None, data: dict):
    path = _metrics_path(dataset, key, seed, epochs).with_name(f"{key}-seed{seed}.safetensors")
    if not path.is_file():
        run_one(dataset, key, seed, data, epochs)
    return path


def _sets(test: PixelSet, key: str, n_eval: int, attack=None
          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, PixelSet, object]:
    """Held-out intensities and labels, clean and triggered evaluation inputs, the evaluation set, the attack."""
    attack = attack or make_attack(key, test.num_classes, test.channels)
    held, rest = test.split(HOLD, SPLIT_SEED)
    ev = rest.intensities()
    triggered = attack.triggers[0].apply(ev[rest.labels != attack.targets[0]][:n_eval])
    return held.intensities(), held.labels, ev[:n_eval], triggered, rest, attack


def _accuracy(clf: PixelClassifier, data: PixelSet) -> float:
    return _rate(clf.predict(data.intensities()) == data.labels)


def _rate(flags: torch.Tensor) -> float:
    return float(flags.double().mean())


def defend_one(dataset: str, key: str, seed: int, args, data: dict) -> dict:
    """All detectors and Neural Cleanse on one backdoored model; cached."""
    epochs = _epochs(dataset, args.cifar_epochs)
    path = _model_path(dataset, key, seed, epochs, data)
    test = data.setdefault("test", load_pixels(dataset, "test"))
    hold, hold_labels, clean, triggered, rest, attack = _sets(test, key, args.n_eval)
    target = attack.targets[0]
    clf = PixelClassifier.from_checkpoint(path, test)
    out: dict = {"dataset": dataset, "attack": key, "seed": seed, "model": str(path), "n_eval": len(triggered),
                 "clean_accuracy": _accuracy(clf, rest),
                 "asr": _rate(clf.predict(triggered) == target)}
    det = PerturbationDetector(clf, test.num_classes, budget=args.budget, steps=args.uap_steps,
                               batch_size=args.uap_batch, seed=seed)
    t0 = time.perf_counter()
    det.fit(hold[:3000]).calibrate(hold[3000:], FPR)
    fit_s = time.perf_counter() - t0
    fc, _, nc = det.flag(clean)
    ft, _, nt = det.flag(triggered)
    out["perturbation"] = {"budget": args.budget, "threshold": det.threshold, "detection": _rate(ft),
                           "fpr": _rate(fc), "l2_triggered": float(nt.mean()), "l2_clean": float(nc.mean()),
                           "ms_per_input": 1e3 * det.seconds / len(triggered), "fit_seconds": fit_s}
    walk = MinimalPerturbationDetector(clf, steps=50)
    try:
        walk.calibrate(hold[3000:3000 + args.n_eval], FPR)
    except DefenceError as exc:              # more than 1 % of clean inputs never flip within the steps
        out["minimal_walk"] = {"error": str(exc), "detection": math.nan, "fpr": math.nan}
    else:
        fc, _ = walk.flag(clean)
        ft, rt = walk.flag(triggered)
        out["minimal_walk"] = {"budget": walk.budget, "detection": _rate(ft), "fpr": _rate(fc),
                               "median_norm_triggered": float(walk.norms(triggered[:100]).norm.median()),
                               "median_norm_clean": float(walk.norms(clean[:100]).norm.median()),
                               "ms_per_input": 1e3 * rt.seconds / len(triggered)}
    strip = StripDetector(clf, hold[:1000], n=args.strip_n, seed=seed).calibrate(hold[3000:3000 + args.n_eval], FPR)
    fc, _ = strip.flag(clean)
    ft, _ = strip.flag(triggered)
    out["strip"] = {"n": args.strip_n, "threshold": strip.threshold, "detection": _rate(ft), "frr": _rate(fc),
                    "ms_per_input": 1e3 * strip.seconds / len(triggered)}
    report = neural_cleanse(clf, hold[:1000], test.num_classes, steps=args.nc_steps,
                            batch_size=args.nc_batch, seed=seed)
    nc_out = {**report.to_json(), "target_index": float(report.index[target]),
              "target_flagged": target in report.flagged}
    if report.flagged:
        unlearn(clf, hold, hold_labels, [report.triggers[k] for k in report.flagged], seed=seed)
    nc_out["asr_after"] = _rate(clf.predict(triggered) == target)
    nc_out["clean_accuracy_after"] = _accuracy(clf, rest)
    out["neural_cleanse"] = nc_out
    write_json_atomic(_cached(dataset, "detect", key, seed, args), out)
    return out


def perturbation_one(dataset: str, key: str, seed: int, args, data: dict) -> dict:
    """The perturbation detector alone on ``--n-eval-large`` inputs: global and per-class thresholds; cached.

    Detection over every triggered input and over those the model sends to the target; false positives on as
    many clean evaluation inputs; of the missed triggered inputs, how many the perturbation sends to their true
    class, and their true classes. ``dev-triangle`` (seed 5) is the development attack of
    ``benchmarks.dnnsec_gan_removal``, not in the table, on which the variants (per-class thresholds, a second
    perturbation) are judged.
    """
    test = data.setdefault("test", load_pixels(dataset, "test"))
    if key == DEV:
        train = data.setdefault("train", load_pixels(dataset, "train"))
        attack = dev_attack(DEV, test)
        clf = PixelClassifier.checked(dev_model(DEV, dataset, seed, attack, train), test, DEV)
    else:
        attack = None
        clf = PixelClassifier.from_checkpoint(_model_path(dataset, key, seed, _epochs(dataset, args.cifar_epochs),
                                                          data), test)
    hold, _, clean, triggered, rest, attack = _sets(test, key, args.n_eval_large, attack)
    target = attack.targets[0]
    truth = rest.labels[rest.labels != target][:len(triggered)]
    det = PerturbationDetector(clf, test.num_classes, budget=args.budget, steps=args.uap_steps,
                               batch_size=args.uap_batch, seed=seed).fit(hold[:3000], second=True)
    out: dict = {"dataset": dataset, "attack": key, "seed": seed, "n_eval": len(triggered), "budget": args.budget,
                 "destinations": det.destinations.tolist()}
    sent = clf.predict(triggered) == target
    out["asr"] = _rate(sent)
    second = det.second
    for name, per_class, two in (("global", False, False), ("per_class", True, False), ("two", False, True)):
        det.second = second if two else None
        det.calibrate(hold[3000:], FPR, per_class=per_class)
        fc, _, _ = det.flag(clean)
        ft, _, nt = det.flag(triggered)
        miss = sent & ~ft
        with torch.no_grad():
            moved = clf.predict((triggered[miss] + det.perturbations[target]).clamp(0.0, 1.0))
        out[name] = {"threshold": det.threshold if not per_class else float(det.class_thresholds[target]),
                     "fpr": _rate(fc), "detection": _rate(ft), "detection_sent": _rate(ft[sent]),
                     "l2_triggered": float(nt.mean()), "missed_sent": int(miss.sum()),
                     "missed_to_true_class": int((moved == truth[miss]).sum()),
                     "missed_true_classes": torch.bincount(truth[miss], minlength=test.num_classes).tolist()}
    write_json_atomic(_cached(dataset, "perturbation", key, seed, args), out)
    return out


def sanitise_one(dataset: str, key: str, seed: int, args, data: dict) -> dict:
    """Iterated sanitisation (:func:`dnnsec.defence.sanitise.sanitise`) of the poisoned training set; cached.

    Every round's figures: the poisoned and clean training samples removed so far (fractions of each), the ASR
    and clean accuracy of the model retrained on what is kept.
    """
    epochs = _epochs(dataset, args.cifar_epochs)
    path = _model_path(dataset, key, seed, epochs, data)
    test = data.setdefault("test", load_pixels(dataset, "test"))
    train = data.setdefault("train", load_pixels(dataset, "train"))
    hold, _, _, triggered, _, attack = _sets(test, key, args.n_eval)
    poisoned = attack.poison(train, seed)
    mask = poisoned.mask
    clf = PixelClassifier.from_checkpoint(path, test)
    kept = PixelSet(poisoned.images, poisoned.labels, train.num_classes, train.mean, train.std, train.name)
    zoo = zoo_path(ARCH[dataset], seed)
    rows: list[dict] = []
    t0 = time.perf_counter()

    def record(r) -> None:
        after = PixelClassifier(r.model, test.mean, test.std)
        removed = ~r.keep
        rows.append({"poisoned_removed": _rate(removed[mask]), "clean_removed": _rate(removed[~mask]),
                     "n_removed": int(removed.sum()), "poisoned_left": int((r.keep & mask).sum()),
                     "poisoned_left_true_classes": torch.bincount(train.labels[r.keep & mask],
                                                                  minlength=train.num_classes).tolist(),
                     "flag_rate_by_label": r.flag_rate,
                     "asr_after": _rate(after.predict(triggered) == attack.targets[0]),
                     "clean_accuracy_after": r.record["test_accuracy"], "seconds": time.perf_counter() - t0})
        print(f"  {key} seed {seed} round {len(rows)}: {rows[-1]}", flush=True)

    sanitise(clf, ARCH[dataset], kept, test, hold[:3000], hold[3000:], seed, rounds=args.sanitise_rounds, fpr=FPR,
             detector={"budget": args.budget, "steps": args.uap_steps, "batch_size": args.uap_batch},
             epochs=epochs, on_round=record)
    out = {"dataset": dataset, "attack": key, "seed": seed, "max_rounds": args.sanitise_rounds, "rounds": rows,
           **{k: rows[-1][k] for k in ("poisoned_removed", "clean_removed", "n_removed", "asr_after",
                                       "clean_accuracy_after")},
           "asr_after_round1": rows[0]["asr_after"],
           "clean_accuracy_zoo": read_sidecar(zoo)["extra"]["test_accuracy"] if zoo.is_file() and epochs is None
           else math.nan}
    write_json_atomic(_cached(dataset, f"sanitise-r{args.sanitise_rounds}", key, seed, args), out)
    return out


def adaptive_one(dataset: str, key: str, seed: int, args, data: dict) -> dict:
    """Train the fragile backdoor (:mod:`dnnsec.defence.adaptive`), then detect as in :func:`defend_one`; cached."""
    test = data.setdefault("test", load_pixels(dataset, "test"))
    train = data.setdefault("train", load_pixels(dataset, "train"))
    hold, _, clean, triggered, rest, attack = _sets(test, key, args.n_eval)
    path = _cached(dataset, "adaptive-model", key, seed, args).with_suffix(".safetensors")
    if path.is_file():
        clf = PixelClassifier.from_checkpoint(path, test)
    else:
        model, _, record = train_fragile_backdoor(attack, ARCH[dataset], train, seed, args.adaptive_eps,
                                                  _epochs(dataset, args.cifar_epochs))
        save_checkpoint(path, model, arch=ARCH[dataset], config=record["config"],
                        extra={"attack": key, "adaptive_eps": args.adaptive_eps, "seed": seed})
        clf = PixelClassifier.checked(model, test, str(path))
    det = PerturbationDetector(clf, test.num_classes, budget=args.budget, steps=args.uap_steps,
                               batch_size=args.uap_batch, seed=seed)
    det.fit(hold[:3000]).calibrate(hold[3000:], FPR)
    fc, _, _ = det.flag(clean)
    ft, _, nt = det.flag(triggered)
    strip = StripDetector(clf, hold[:1000], n=args.strip_n, seed=seed).calibrate(hold[3000:3000 + args.n_eval], FPR)
    out = {"dataset": dataset, "attack": key, "seed": seed, "eps": args.adaptive_eps,
           "clean_accuracy": _accuracy(clf, rest),
           "asr": _rate(clf.predict(triggered) == attack.targets[0]),
           "perturbation": {"detection": _rate(ft), "fpr": _rate(fc), "l2_triggered": float(nt.mean())},
           "strip": {"detection": _rate(strip.flag(triggered)[0]), "frr": _rate(strip.flag(clean)[0])}}
    write_json_atomic(_cached(dataset, "adaptive", key, seed, args), out)
    return out


def _got(dataset: str, kind: str, key: str, seeds: list[int], epochs: int | None = None) -> list[dict]:
    paths = [_result_path(dataset, kind, key, s, epochs) for s in seeds]
    return [json.loads(p.read_text()) for p in paths if p.is_file()]


def tables(dataset: str, attacks: list[str], seeds: list[int], rounds: int = 3, epochs: int | None = None) -> None:
    """Print the acceptance table of one data set from the cache (sanitisation rows of at most ``rounds``)."""
    print(f"\n== {dataset} ({ARCH[dataset]}), seeds {seeds}; percentages, mean +- sd over seeds ==")
    print("-- detection of backdoor inputs (thresholds at 1 % false positives on clean held-out data) --  goal: "
          "perturbation >= 99.6 at <= 1 % FP, L2 <= 3.0, better and faster than STRIP")
    cols = ("clean acc", "ASR", "pert. det", "pert. FP", "pert. L2", "pert. ms/in", "walk det", "walk FP",
            "STRIP det", "STRIP FRR", "STRIP ms/in")
    print(f"{'attack':9} " + " ".join(f"{c:>24}" for c in cols))
    for key in attacks:
        r = _got(dataset, "detect", key, seeds, epochs)
        p, w, s = ([m[k] for m in r] for k in ("perturbation", "minimal_walk", "strip"))
        vals = (msd([m["clean_accuracy"] for m in r]), msd([m["asr"] for m in r]),
                msd([m["detection"] for m in p]), msd([m["fpr"] for m in p]),
                msd([m["l2_triggered"] for m in p], 1.0), msd([m["ms_per_input"] for m in p], 1.0, 3),
                msd([m["detection"] for m in w]), msd([m["fpr"] for m in w]),
                msd([m["detection"] for m in s]), msd([m["frr"] for m in s]),
                msd([m["ms_per_input"] for m in s], 1.0, 3))
        print(f"{key:9} " + " ".join(f"{v:>24}" for v in vals))
    print("-- Neural Cleanse (flag: anomaly index > 2; unlearning when flagged) --  goal: BadNets flagged")
    cols = ("target index", "max index", "target flagged", "ASR before", "ASR after", "clean acc after")
    print(f"{'attack':9} " + " ".join(f"{c:>24}" for c in cols))
    for key in attacks:
        r = _got(dataset, "detect", key, seeds, epochs)
        n = [m["neural_cleanse"] for m in r]
        vals = (msd([m["target_index"] for m in n], 1.0), msd([m["max_anomaly_index"] for m in n], 1.0),
                f"{sum(m['target_flagged'] for m in n)} of {len(n)}", msd([m["asr"] for m in r]),
                msd([m["asr_after"] for m in n]), msd([m["clean_accuracy_after"] for m in n]))
        print(f"{key:9} " + " ".join(f"{v:>24}" for v in vals))
    rows = {key: _got(dataset, f"sanitise-r{rounds}", key, seeds, epochs) for key in attacks}
    if any(rows.values()):
        print(f"-- training-set sanitisation (remove flagged, retrain, re-screen; at most {rounds} rounds) --  goal: "
              "ASR < 5 at clean loss <= 1 pt")
        cols = ("rounds", "poisoned removed", "clean removed", "ASR after round 1", "ASR after",
                "clean acc after", "loss vs zoo (pt)")
        print(f"{'attack':9} " + " ".join(f"{c:>24}" for c in cols))
        for key, r in rows.items():
            vals = (",".join(str(len(m.get("rounds", [0]))) for m in r),
                    msd([m["poisoned_removed"] for m in r]), msd([m["clean_removed"] for m in r]),
                    msd([m.get("asr_after_round1", m["asr_after"]) for m in r]),
                    msd([m["asr_after"] for m in r]), msd([m["clean_accuracy_after"] for m in r]),
                    msd([m["clean_accuracy_zoo"] - m["clean_accuracy_after"] for m in r]))
            print(f"{key:9} " + " ".join(f"{v:>24}" for v in vals))
    rows = {key: _got(dataset, "adaptive", key, seeds, epochs) for key in attacks}
    if any(rows.values()):
        print("-- adaptive attacker (backdoor trained fragile: eps-step copies towards the true class keep it) --")
        cols = ("eps", "clean acc", "ASR", "pert. det", "pert. FP", "STRIP det", "STRIP FRR")
        print(f"{'attack':9} " + " ".join(f"{c:>24}" for c in cols))
        for key, r in rows.items():
            if r:
                vals = (msd([m["eps"] for m in r], 1.0), msd([m["clean_accuracy"] for m in r]),
                        msd([m["asr"] for m in r]), msd([m["perturbation"]["detection"] for m in r]),
                        msd([m["perturbation"]["fpr"] for m in r]), msd([m["strip"]["detection"] for m in r]),
                        msd([m["strip"]["frr"] for m in r]))
                print(f"{key:9} " + " ".join(f"{v:>24}" for v in vals))


def perturbation_table(dataset: str, attacks: list[str], seeds: list[int]) -> None:
    """Print the perturbation-only rows (global and per-class thresholds) from the cache."""
    rows = [(DEV, _got(dataset, "perturbation", DEV, [5]))] + [(k, _got(dataset, "perturbation", k, seeds))
                                                                for k in attacks]
    if not any(r for _, r in rows):
        return
    print(f"-- perturbation detection on {rows[-1][1][0]['n_eval'] if rows[-1][1] else '?'} inputs each "
          f"(detection: all triggered / those sent to the target; {DEV}: development attack, seed 5) --")
    cols = ("seeds", "ASR", "global: det", "det | sent", "FP", "per class: det", "det | sent", "FP",
            "two pert.: det", "det | sent", "FP", "missed -> true class")
    print(f"{'attack':12} " + " ".join(f"{c:>22}" for c in cols))
    for key, r in rows:
        if r:
            g, c, t = [m["global"] for m in r], [m["per_class"] for m in r], [m.get("two") for m in r]
            t = [m for m in t if m is not None]
            vals = (",".join(str(m["seed"]) for m in r), msd([m["asr"] for m in r]),
                    msd([m["detection"] for m in g]), msd([m["detection_sent"] for m in g]),
                    msd([m["fpr"] for m in g]), msd([m["detection"] for m in c]),
                    msd([m["detection_sent"] for m in c]), msd([m["fpr"] for m in c]),
                    msd([m["detection"] for m in t]), msd([m["detection_sent"] for m in t]), msd([m["fpr"] for m in t]),
                    f"{sum(m['missed_to_true_class'] for m in g)} of {sum(m['missed_sent'] for m in g)}")
            print(f"{key:12} " + " ".join(f"{v:>22}" for v in vals))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default="mnist,cifar10")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--attacks", default="badnets,blended,dct")
    ap.add_argument("--sanitise-seeds", default="", help="seeds of the sanitisation rows (MNIST only)")
    ap.add_argument("--perturbation-seeds", default="",
                    help="seeds of the perturbation-only rows on --n-eval-large inputs, global and per-class "
                         "thresholds (MNIST; the development attack dev-triangle, seed 5, is added)")
    ap.add_argument("--n-eval-large", type=int, default=2000, help="clean and triggered inputs of those rows")
    ap.add_argument("--sanitise-rounds", type=int, default=3, help="most screening rounds of the sanitisation")
    ap.add_argument("--adaptive-seeds", default="", help="seeds of the adaptive-attacker rows (MNIST only)")
    ap.add_argument("--adaptive-eps", type=float, default=1.0, help="L2 step of the fragile copies (pixel units)")
    ap.add_argument("--no-run", action="store_true", help="print the tables from the cache only")
    ap.add_argument("--n-eval", type=int, default=300, help="clean and triggered evaluation inputs each")
    ap.add_argument("--budget", type=float, default=2.0, help="L2 budget of the perturbations (pixel units)")
    ap.add_argument("--uap-steps", type=int, default=300)
    ap.add_argument("--strip-n", type=int, default=100)
    ap.add_argument("--nc-steps", type=int, default=100)
    ap.add_argument("--nc-batch", type=int, default=32)
    ap.add_argument("--uap-batch", type=int, default=128)
    ap.add_argument("--cifar-epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    attacks = args.attacks.split(",")
    sanitise_seeds = [int(s) for s in args.sanitise_seeds.split(",") if s]
    adaptive_seeds = [int(s) for s in args.adaptive_seeds.split(",") if s]
    perturbation_seeds = [int(s) for s in args.perturbation_seeds.split(",") if s]
    for dataset in args.datasets.split(","):
        data: dict = {}
        if not args.no_run:
            for seed in seeds:
                for key in attacks:
                    if not _cached(dataset, "detect", key, seed, args).is_file():
                        m = defend_one(dataset, key, seed, args, data)
                        print(f"{dataset} {key} seed {seed}: perturbation {m['perturbation']['detection']:.4f} "
                              f"STRIP {m['strip']['detection']:.4f} NC index "
                              f"{m['neural_cleanse']['target_index']:.2f}", flush=True)
            for seed in sanitise_seeds if dataset == "mnist" else []:
                for key in attacks:
                    if not _cached(dataset, f"sanitise-r{args.sanitise_rounds}", key, seed, args).is_file():
                        m = sanitise_one(dataset, key, seed, args, data)
                        print(f"{dataset} {key} seed {seed} sanitised: ASR {m['asr_after']:.4f}", flush=True)
            todo = [(DEV, 5)] if perturbation_seeds and dataset == "mnist" else []
            for seed in perturbation_seeds if dataset == "mnist" else []:
                todo += [(key, seed) for key in attacks]
            for key, seed in todo:
                path = _cached(dataset, "perturbation", key, seed, args)
                if not path.is_file() or "two" not in json.loads(path.read_text()):
                    m = perturbation_one(dataset, key, seed, args, data)
                    print(f"{dataset} {key} seed {seed} perturbation: global {m['global']['detection']:.4f}, "
                          f"per class {m['per_class']['detection']:.4f}", flush=True)
            for seed in adaptive_seeds if dataset == "mnist" else []:
                for key in attacks:
                    if not _cached(dataset, "adaptive", key, seed, args).is_file():
                        m = adaptive_one(dataset, key, seed, args, data)
                        print(f"{dataset} {key} seed {seed} adaptive: ASR {m['asr']:.4f} detection "
                              f"{m['perturbation']['detection']:.4f}", flush=True)
        listed = sorted(set(seeds) | set(sanitise_seeds) | set(adaptive_seeds))
        if listed or not perturbation_seeds:
            tables(dataset, attacks, listed, args.sanitise_rounds, _epochs(dataset, args.cifar_epochs))
        if dataset == "mnist":
            perturbation_table(dataset, attacks, perturbation_seeds or [0, 1, 2])


if __name__ == "__main__":
    main()
