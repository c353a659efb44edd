"""What each training family of the sferic CNN buys: leave-one-family-out retrains scored on the held-out families.

The base is ``amt/sferic/configs/shapes.toml`` (the wide family plus further sferic shapes); each variant reverts one
of its families to the narrow default's (:data:`VARIANTS`), is fine-tuned with the same budget from the same narrow
weights, and gets its own event trigger (0.5 false events per minute on sferic-free training-family records) and
calibration, exactly as ``amt train`` sets them. Each is then scored by :func:`benchmarks.amt_sferic_families.compute`
(held-out ``modes`` and ``damped`` cells, full and fast path; false events per minute on held-out noise, training
noise and the Phoenix bench recording; expected calibration error) and on the training physics (event recall at 0 and
10 dB, day and night, the held-out cells of :mod:`amt.sferic.evaluation.heldout`). The calibration step's own row is
``python -m benchmarks.amt_sferic_families --weights W --uncalibrated``.

Trained variants are cached under ``~/.cache/amt-dnnsec/sferic_family_ablation/`` (keyed by their config), with
their scores, so a rerun prints the table without training.

Run: ``.venv/bin/python -m benchmarks.amt_sferic_family_ablation [--variants "all (shapes.toml),no dead-band instrument
noise"] [--records 2] [--no-train]`` (variant names: :data:`VARIANTS`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any

import torch

from amt.sferic.evaluation.heldout import HELDOUT_SEED, Cell
from amt.sferic.evaluation.scoring import Scorer
from amt.sferic.inference import SfericDetector
from amt.sferic.train import RunConfig, train
from benchmarks.amt_sferic_ablation import with_overrides
from benchmarks.amt_sferic_families import compute
from shared.atomic import write_json_atomic

BASE_CONFIG = Path(__file__).resolve().parents[1] / "amt" / "sferic" / "configs" / "shapes.toml"
CACHE = Path.home() / ".cache" / "amt-dnnsec" / "sferic_family_ablation"

#: Variant name -> dotted overrides of the base config (each reverts one training family to the narrow default's).
VARIANTS: dict[str, dict[str, Any]] = {
    "all (shapes.toml)": {},
    "no further shapes (waveguide only)": {"sampler.shape_fraction": 0.0, "sampler.shapes": []},
    "no dead-band instrument noise": {"sampler.deadband_fraction": 0.0},
    "sferic rates 0.5-30/s only": {"sampler.sferic_rate_hz": [0.5, 30.0]},
    "storms to 3000 km only": {"sampler.distance_km": [300.0, 3000.0]},
    "pink coil noise only": {"sampler.coil_colour": None},
}


def variant_config(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The base config dict with dotted ``overrides`` applied, calibrated as ``amt train`` calibrates."""
    return {**with_overrides(base, overrides), "calibrate": True}


def checkpoint(config: dict[str, Any]) -> Path:
    """Where a variant's checkpoint is cached (keyed by its config)."""
    key = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    return CACHE / key / "model.safetensors"


def trained(name: str, config: dict[str, Any], progress: bool) -> Path:
    """The checkpoint of a variant, trained into the cache unless its config was trained before."""
    path = checkpoint(config)
    if not path.is_file():
        print(f"training {name!r} into {path.parent}", flush=True)
        train(RunConfig.from_dict(config, f"ablation variant {name!r}"), path.parent, progress=progress)
    return path


def score(path: Path, records: int, progress: bool) -> dict[str, Any]:
    """Held-out family scores, false alarms and calibration, and training-physics event recall (cached beside)."""
    cached = path.with_name(f"scores-{records}.json")
    if cached.is_file():
        return json.loads(cached.read_text())
    det = SfericDetector.from_checkpoint(path)
    res = compute(det, records, progress)
    scorer = Scorer(det, methods=("cnn",))
    recall = {
        (snr, night): scorer.score_cell(Cell(snr, night), HELDOUT_SEED)["cnn"]["event_recall"]
        for snr in (0.0, 10.0)
        for night in (False, True)
    }
    res["training_physics"] = {f"{snr:g} dB": (recall[snr, False] + recall[snr, True]) / 2 for snr in (0.0, 10.0)}
    write_json_atomic(cached, res)
    return res


def _span(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def row(name: str, res: dict[str, Any]) -> str:
    """One table row of a variant's scores."""
    cells = res["families"]["cells"]
    fam = {f: [c for n, c in cells.items() if n.startswith(f)] for f in ("modes", "damped")}
    recall = {f: _span([c["cnn"]["recall"] for c in cs]) for f, cs in fam.items()}
    precision = min(c["cnn"]["precision"] for c in cells.values())
    fast_loss = max(c["cnn"]["recall"] - c["fast"]["recall"] for c in cells.values())
    fa = res["false_alarms"]
    train_fa = fa["training-family noise"]["false_per_min"]
    held_fa = max(v["false_per_min"] for k, v in fa.items() if k.startswith("noise"))
    phoenix = fa.get("Phoenix bench (amt detect)", {}).get("false_per_min", float("nan"))
    ece = res["families"]["calibration"]
    tp = res["training_physics"]
    return (
        f"| {name} | {res['event_threshold']:.3f} | {recall['modes']} | {recall['damped']} | {precision:.2f} | "
        f"{fast_loss:+.3f} | {train_fa:.1f} / {held_fa:.1f} / {phoenix:.1f} | {ece['modes']['ece']:.3f} / "
        f"{ece['damped']['ece']:.3f} | {tp['0 dB']:.2f} / {tp['10 dB']:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated variant names")
    parser.add_argument("--records", type=int, default=2, help="held-out records (30 s) per cell")
    parser.add_argument("--no-train", action="store_true", help="print only the variants already cached")
    parser.add_argument("--seed", type=int, default=None, help="training seed for every variant (default: the base's)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; known: {list(VARIANTS)}")
    base = tomllib.loads(BASE_CONFIG.read_text())
    rows = []
    for name in names:
        config = variant_config(base, VARIANTS[name])
        if args.seed is not None:
            config["seed"] = args.seed
            name = f"{name}, seed {args.seed}"
        if args.no_train and not checkpoint(config).is_file():
            continue
        res = score(trained(name, config, progress=False), args.records, progress=False)
        rows.append(row(name, res))
        print(rows[-1], flush=True)
    print(
        "\n| training family left out | trigger | recall `modes` | recall `damped` | precision (min) | fast recall "
        "loss (max) | false/min training noise / held-out noise / Phoenix | ECE `modes` / `damped` | training "
        "physics event recall 0 / 10 dB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
