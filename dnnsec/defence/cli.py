"""``dnnsec defend NAME``: run a backdoor defence on a checkpoint and write its metrics JSON.

The test split of ``--data`` is cut in two at random (seeded by ``--seed``): one half is the defender's clean
held-out data (perturbations, thresholds, Neural Cleanse, unlearning), the other is where every rate is measured.
When the checkpoint was written by ``dnnsec attack`` (its sidecar records the attack) or ``--attack`` names one,
the attack's first trigger is stamped on the evaluation images not of its target, and detection rate and ASR are
measured on them. Imported lazily by the ``dnnsec`` group (:mod:`dnnsec.cli`); bad input ends in
``error: <message>``, exit 2. Targets: docs/acceptance.md#backdoor-defences.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from dnnsec.defence import DEFENCES


def _attack_of(meta: dict, name: str | None, num_classes: int, channels: int):
    from dnnsec.backdoor.poison import make_attack

    record = meta.get("extra", {}).get("backdoor", meta.get("extra", {}))
    name = name or record.get("attack")
    if name is None:
        return None, record
    recorded = record.get("attack") == name
    n = len(record.get("triggers", [])) if recorded else 0
    shape = record.get("shape", "square") if recorded else "square"  # the physical trigger the model was trained on
    return make_attack(name, num_classes, channels, record.get("poison_rate"), n if n >= 2 else 4, shape), record


@click.command()
@click.argument("name", type=click.Choice(DEFENCES))
@click.option("--model", "model_path", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Checkpoint (.safetensors with its .json sidecar), e.g. from `dnnsec attack`.")
@click.option("--data", required=True, help="mnist, cifar10, or a .npz as in `dnnsec attack`.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder for metrics.json (and model.safetensors for neural-cleanse and sanitise).")
@click.option("--attack", default=None, help="Attack whose trigger to test with [default: the checkpoint's].")
@click.option("--fpr", default=0.01, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="False-positive (STRIP: false-rejection) rate on "
              "clean held-out data that sets the threshold.")
@click.option("--budget", default=2.0, show_default=True, help="L2 budget of the perturbations, [0, 1] pixel units.")
@click.option("--strip-n", default=100, show_default=True, type=click.IntRange(min=1),
              help="STRIP superimpositions per input.")
@click.option("--n-eval", default=1000, show_default=True, type=click.IntRange(min=1),
              help="Clean and triggered evaluation inputs, each.")
@click.option("--rounds", default=3, show_default=True, type=click.IntRange(min=1),
              help="sanitise: most screen-remove-retrain rounds (each later round screens what is kept with the "
                   "model retrained in the round before).")
@click.option("--epochs", default=None, type=click.IntRange(min=1),
              help="sanitise: passes over the kept samples per retraining [default: the zoo's recipe].")
@click.option("--per-class", is_flag=True,
              help="perturbation: one threshold per predicted class, each at --fpr on that class's clean data.")
@click.option("--seed", default=0, show_default=True, help="Seed of the defence's random draws.")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1), help="torch CPU threads.")
@click.option("--force", is_flag=True, help="Replace existing outputs in --out.")
def defend(name: str, model_path: Path, data: str, out: Path, attack: str | None, fpr: float, budget: float,
           strip_n: int, n_eval: int, rounds: int, epochs: int | None, per_class: bool, seed: int, threads: int,
           force: bool) -> None:
    """Run backdoor defence NAME on the model at --model and write metrics.json to --out.

    \b
    perturbation    intentional adversarial perturbation: detection rate, false positives, L2, ms per input
    strip           STRIP: detection rate, false rejections, ms per input
    neural-cleanse  per-class reversed triggers, anomaly index (> 2 flags), unlearning (writes the model)
    sanitise        screen the training split, drop flagged samples, retrain; repeat (writes the model)

    \b
    Examples:
      dnnsec defend perturbation --model runs/badnets/model.safetensors --data mnist --out runs/def
      dnnsec defend strip --model runs/blend/model.safetensors --data cifar10 --out runs/strip --strip-n 50
      dnnsec defend neural-cleanse --model model.safetensors --data mine.npz --out runs/nc --attack badnets
      dnnsec defend sanitise --model runs/badnets/model.safetensors --data mnist --out runs/san --rounds 3
    """
    import torch

    from dnnsec.backdoor.data import PixelSet, load_pixels
    from dnnsec.defence.classifier import DefenceError, PixelClassifier
    from dnnsec.package.outputs import check_outputs
    from shared.atomic import write_json_atomic
    from shared.checkpoint import read_sidecar, save_checkpoint

    metrics_path, new_model = out / "metrics.json", out / "model.safetensors"
    existing = [p for p in (metrics_path, new_model) if p.exists()]
    if existing and not force:
        raise DefenceError(f"{existing[0]}: exists; pass --force to replace it")
    check_outputs([metrics_path, new_model], [model_path], force=True)  # never the model read, even with --force
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    test = load_pixels(data, "test")
    if len(test) < 200:
        raise DefenceError(f"{data}: {len(test)} test images; the defences need at least 200 (half held out)")
    clf = PixelClassifier.from_checkpoint(model_path, test)
    meta = read_sidecar(model_path)
    chosen, record = _attack_of(meta, attack, test.num_classes, test.channels)
    held, rest = test.split(len(test) // 2, seed)
    half, hold, ev, yev = len(held), held.intensities(), rest.intensities(), rest.labels
    clean = ev[:n_eval]
    target = chosen.targets[0] if chosen else None
    triggered = chosen.triggers[0].apply(ev[yev != target][:n_eval]) if chosen else None
    metrics: dict = {"defence": name, "model": str(model_path), "data": data, "attack": chosen.name if chosen
                     else None, "held_out": half, "n_clean": len(clean),
                     "n_triggered": 0 if triggered is None else len(triggered)}

    def rate(flags: torch.Tensor) -> float:
        return float(flags.double().mean())

    if name == "perturbation":
        from dnnsec.defence.perturbation import PerturbationDetector

        det = PerturbationDetector(clf, test.num_classes, budget=budget, seed=seed)
        det.fit(hold[:half * 3 // 5]).calibrate(hold[half * 3 // 5:], fpr, per_class=per_class)
        fc, _, nc = det.flag(clean)
        metrics.update(budget=budget, threshold=det.threshold, fpr=rate(fc), l2_clean=float(nc.mean()),
                       per_class=per_class)
        if triggered is not None:
            ft, _, nt = det.flag(triggered)
            metrics.update(detection=rate(ft), l2_triggered=float(nt.mean()),
                           ms_per_input=1e3 * det.seconds / len(triggered))
    elif name == "strip":
        from dnnsec.defence.strip import StripDetector

        det = StripDetector(clf, hold[:half // 2], n=strip_n, seed=seed).calibrate(hold[half // 2:], fpr)
        fc, _ = det.flag(clean)
        metrics.update(n=strip_n, threshold=det.threshold, frr=rate(fc))
        if triggered is not None:
            ft, _ = det.flag(triggered)
            metrics.update(detection=rate(ft), ms_per_input=1e3 * det.seconds / len(triggered))
    elif name == "neural-cleanse":
        from dnnsec.defence.neural_cleanse import neural_cleanse, unlearn

        if triggered is not None:
            metrics["asr_before"] = rate(clf.predict(triggered) == target)
        report = neural_cleanse(clf, hold, test.num_classes, seed=seed)
        metrics.update(report.to_json())
        unlearn(clf, hold, held.labels, [report.triggers[k] for k in report.flagged], seed=seed)
        metrics["clean_accuracy_after"] = rate(clf.predict(ev) == yev)
        if triggered is not None:
            metrics["asr_after"] = rate(clf.predict(triggered) == target)
        save_checkpoint(new_model, clf.model, arch=meta["arch"], config=meta["config"],
                        extra={"defence": "neural-cleanse", "source": str(model_path)})
    else:
        from dnnsec.defence.sanitise import sanitise

        train = load_pixels(data, "train")
        if chosen is not None:
            poisoned = chosen.poison(train, int(record.get("seed", seed)))
            train = PixelSet(poisoned.images, poisoned.labels, train.num_classes, train.mean, train.std, train.name)
        per_round: list[dict] = []

        def round_metrics(r) -> None:
            m = {"n_removed": int((~r.keep).sum()), "clean_accuracy_after": r.record["test_accuracy"]}
            if chosen is not None:
                mask = poisoned.mask
                m.update(poisoned_removed=rate(~r.keep[mask]), clean_removed=rate(~r.keep[~mask]),
                         asr_after=rate(PixelClassifier(r.model, test.mean, test.std).predict(triggered) == target))
            per_round.append(m)
            click.echo(f"round {len(per_round)}: " + ", ".join(f"{k} {v:.4g}" for k, v in m.items()), err=True)

        model = sanitise(clf, meta["arch"], train, test, hold[:half * 3 // 5], hold[half * 3 // 5:], seed,
                         rounds=rounds, fpr=fpr, detector={"budget": budget}, epochs=epochs,
                         on_round=round_metrics)[-1].model
        metrics.update(per_round[-1], n_train=len(train), rounds=per_round)
        save_checkpoint(new_model, model, arch=meta["arch"], config=meta["config"],
                        extra={"defence": "sanitise", "source": str(model_path)})
    metrics["total_seconds"] = time.perf_counter() - t0
    write_json_atomic(metrics_path, metrics)
    click.echo(", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float)) + f"; wrote {out}")
