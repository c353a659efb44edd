"""Ablation of the sferic CNN: one F1 table over window, depth/width, kernel, positive weight, augmentation.

Each variant of the default config (``amt/sferic/configs/default.toml``) changes one thing, is trained with
the same step budget, and is scored at the fixed threshold 0.5 on the held-out cells at 0 and -5 dB, day
and night (sample-level precision, recall, F1; event recall).

Run: ``.venv/bin/python -m benchmarks.amt_sferic_ablation [--steps 600] [--variants base,"no augmentation"]``
"""

from __future__ import annotations

import argparse
import tomllib

import torch

from amt.sferic.ablation import VARIANTS, run
from amt.sferic.evaluation.heldout import Cell
from amt.sferic.train import DEFAULT_CONFIG


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
