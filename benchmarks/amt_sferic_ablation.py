"""Ablation of the sferic CNN: one F1 table over window, depth/width, kernel, positive weight, augmentation.

Each variant of the default config (``amt/sferic/configs/default.toml``) changes one thing (:data:`VARIANTS`:
window length, depth and width, kernel size, positive weight (1 is plain, unweighted BCE), augmentation, the input
knee, the windows of strong sferics, far storms and windows of the full synthetic field, :mod:`amt.synth`), is
trained with the same step budget by :func:`amt.sferic.train.train`, and is scored at the fixed threshold 0.5 (no
per-variant calibration, so the effect of the positive weight on recall is visible) on the held-out cells at 0 and
-5 dB, day and night (sample-level precision, recall, F1; event recall).

Run: ``.venv/bin/python -m benchmarks.amt_sferic_ablation [--steps 600] [--variants base,"no augmentation"]``
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import torch

from amt.sferic.evaluation.heldout import HELDOUT_SEED, Cell
from amt.sferic.evaluation.scoring import Scorer
from amt.sferic.inference import SfericDetector
from amt.sferic.train import DEFAULT_CONFIG, RunConfig, train

#: Variant name -> dotted overrides of the base config.
VARIANTS: dict[str, dict[str, Any]] = {
    "base": {},
    "window 1024": {"sampler.window": 1024},
    "window 4096": {"sampler.window": 4096},
    "shallow 8-16": {"model.widths": [8, 16]},
    "depth 3, 8-16-24-32": {"model.widths": [8, 16, 24, 32]},
    "narrow 4-8-12-16-20-24": {"model.widths": [4, 8, 12, 16, 20, 24]},
    "wide 16-32-48-64-80-96": {"model.widths": [16, 32, 48, 64, 80, 96]},
    "kernel 3": {"model.kernel_size": 3},
    "kernel 15": {"model.kernel_size": 15},
    "pos_weight 1 (unweighted)": {"pos_weight": 1.0},
    "pos_weight auto": {"pos_weight": "auto"},
    "no augmentation": {"sampler.augment": False},
    "no input knee": {"model.compress": 0.0},
    "no strong windows": {"sampler.strong_fraction": 0.0},
    "storms to 10,000 km": {"sampler.distance_km": [300.0, 10000.0]},
    "0.3 amt.synth windows": {"sampler.synth_fraction": 0.3},
}


def with_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of the config dict ``base`` with dotted ``overrides`` applied (``None`` removes the key: the default
    applies)."""
    d = copy.deepcopy(base)
    for key, value in overrides.items():
        *path, leaf = key.split(".")
        node = d
        for p in path:
            node = node[p]
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return d


def variant(base: dict[str, Any], overrides: dict[str, Any]) -> RunConfig:
    """The base config dict with dotted ``overrides`` applied, parsed (no calibration: threshold 0.5)."""
    return RunConfig.from_dict({**with_overrides(base, overrides), "calibrate": False}, "ablation variant")


def run(
    base: dict[str, Any], variants: dict[str, dict[str, Any]], cells: list[Cell], progress: bool = False
) -> dict[str, dict[str, float]]:
    """Train every variant and return, per variant, pooled CNN scores over ``cells`` and training facts."""
    out = {}
    for name, overrides in variants.items():
        cfg = variant(base, overrides)
        with tempfile.TemporaryDirectory() as tmp:
            path, summary = train(cfg, Path(tmp), progress=progress)
            det = SfericDetector.from_checkpoint(path)
        scorer = Scorer(det, methods=("cnn",))
        scores = [scorer.score_cell(c, HELDOUT_SEED)["cnn"] for c in cells]
        keys = ("precision", "recall", "f1", "event_recall")
        out[name] = {
            **{k: sum(s[k] for s in scores) / len(scores) for k in keys},
            "steps": summary["steps"],
            "pos_weight": summary["pos_weight"],
            "parameters": summary["parameters"],
        }
    return out



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600, help="training steps per variant (max)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated variant names")
    parser.add_argument("--records", type=int, default=2, help="held-out records per cell")
    args = parser.parse_args()
    torch.set_num_threads(1)
    base = tomllib.loads(DEFAULT_CONFIG.read_text())
    base["train"].update(max_steps=args.steps, min_steps=min(base["train"]["min_steps"], args.steps))
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; known: {list(VARIANTS)}")
    cells = [Cell(snr, night, n_records=args.records) for snr in (0.0, -5.0) for night in (False, True)]
    table = run(base, {v: VARIANTS[v] for v in names}, cells, progress=True)
    print(f"ablation: <= {args.steps} steps per variant, threshold 0.5, held-out 0 and -5 dB, day and night")
    print(f"{'variant':28s} {'params':>7s} {'steps':>6s} {'pos_w':>7s} {'P':>6s} {'R':>6s} {'F1':>6s} {'evR':>6s}")
    for name, s in table.items():
        print(
            f"{name:28s} {s['parameters']:7d} {s['steps']:6d} {s['pos_weight']:7.1f} {s['precision']:6.3f} "
            f"{s['recall']:6.3f} {s['f1']:6.3f} {s['event_recall']:6.3f}"
        )


if __name__ == "__main__":
    main()
