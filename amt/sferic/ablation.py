"""Ablation of the sferic CNN: train variants of a base config, score each on the same held-out cells.

Variants change one thing each: window length, depth and width, kernel size, positive weight (1 is plain,
unweighted BCE), augmentation, the input knee, the windows of strong sferics, far storms and windows of the full
synthetic field (:mod:`amt.synth`). All are scored at the same fixed threshold 0.5 (no per-variant calibration),
so the effect of the positive weight on recall is visible.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

from amt.sferic.evaluation.heldout import HELDOUT_SEED, Cell
from amt.sferic.evaluation.scoring import Scorer
from amt.sferic.inference import SfericDetector
from amt.sferic.train import RunConfig, train

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


def variant(base: dict[str, Any], overrides: dict[str, Any]) -> RunConfig:
    """The base config dict with dotted ``overrides`` applied, parsed (no calibration: threshold 0.5)."""
    d = copy.deepcopy(base)
    for key, value in overrides.items():
        *path, leaf = key.split(".")
        node = d
        for p in path:
            node = node[p]
        node[leaf] = value
    d["calibrate"] = False
    return RunConfig.from_dict(d, "ablation variant")


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
