"""The evaluation table of the sferic CNN: every protection against every attack (docs/acceptance.md#evaluation-table).

    python -m benchmarks.dnnsec_eval_sferic [--out outputs/eval] [--independent 6] [--records 2] [--budget 1]

The same table as ``benchmarks.dnnsec_eval`` (MNIST, CIFAR-10) with the same metrics and writers, for the 1-D
per-sample sferic segmenter (:mod:`dnnsec.evaluation.segmenter`). Fidelity is the pooled sample-level F1 on the
held-out synthetic grid (:func:`benchmarks.dnnsec_sferic_fingerprint.heldout_f1`: 6 SNRs x day/night x
``--records`` records of 2 s, don't-care samples excluded, the detector's own threshold), in place of accuracy.

* Owner's model: the shipped sferic CNN (``--weights``, 156 k parameters), as it is.
* Data: ``--windows`` training-distribution windows of 2,048 samples from the checkpoint's own sampler
  (:func:`benchmarks.dnnsec_protect_sferic.search_windows`), the first half the owner's (fingerprint embedding,
  AdvParams search on its first 32), the second the attacker's (fine-pruning's activity, overwriting, the adaptive
  attacker). Fine-tuning, fine-pruning and distillation train as ``amt train`` does, on fresh windows of the
  public generator (:func:`benchmarks.dnnsec_sferic_fingerprint.continue_training`, ``distill``).
* Independent models: ``--independent`` sferic CNNs of the architecture trained from scratch by ``amt train``'s
  loop (:func:`amt.sferic.train.train`, ``--independent-steps`` steps, the fingerprint benchmark's seeds), cached
  under ``cache_root()/eval/sferic/``; half (at least 3) calibrate the intrinsic fingerprint's null, the rest
  measure false claims (for the fingerprint channel, each fingerprinted first by another owner with its own keys).
* Protections: AdvParams encryption (per-sample decisions at the detector's threshold), the additional-class
  fingerprint (the per-user extra head channel of the registry's copies, 20 key windows per user, rank test over
  four users) and the intrinsic fingerprint (``--probes`` generator windows of the owner's, DTD at the largest
  logit, :mod:`benchmarks.dnnsec_sferic_intrinsic`). The logo and noise baselines have no segmenter form: their
  rows say why, as do the cells of GAN removal, Neural Cleanse and query modification.

Writes ``<out>/sferic/table.md``, ``table.csv``, ``heatmap.png`` and ``table.json``; each finished cell is cached so
an interrupted run resumes (``--fresh`` recomputes, ``--cached-only`` writes the table from the cache alone).

Examples:
  python -m benchmarks.dnnsec_eval_sferic
  python -m benchmarks.dnnsec_eval_sferic --protections "intrinsic fingerprint" --attacks "pruning 50 %,adaptive"
  python -m benchmarks.dnnsec_eval_sferic --budget 0.25 --independent 4 --records 1   # a quicker, coarser table
"""

from __future__ import annotations

import argparse
import hashlib
import math
import time
from pathlib import Path

import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from amt.sferic.inference import DEFAULT_WEIGHTS
from amt.sferic.train import ARCH, train
from benchmarks.dnnsec_eval import tabulate, write_table
from benchmarks.dnnsec_protect_sferic import search_windows
from benchmarks.dnnsec_sferic_fingerprint import (
    NULL_SEED,
    POS_WEIGHT,
    continue_training,
    detector_of,
    distill,
    heldout_f1,
    run_config,
)
from benchmarks.dnnsec_sferic_intrinsic import probes
from dnnsec.evaluation.protections import Setting
from dnnsec.evaluation.segmenter import (
    NO_TRIGGER_BASELINE,
    NO_TRIGGER_BASELINE_CELL,
    UNAVAILABLE,
    segmenter_attacks,
    segmenter_protections,
)
from dnnsec.evaluation.table import not_applicable_row
from dnnsec.watermark.bases import decoy_bases, get_domain, null_slot, to_model_input
from dnnsec.watermark.keys import make_key_set
from dnnsec.watermark.segmenter import CHANNELS_KEY
from shared.architectures import build_model
from shared.checkpoint import load_checkpoint
from shared.paths import cache_root

BUDGETS = {"embed": 400, "finetune": 300, "distill": 600, "adaptive": 200, "advparams": 50}
#: Seed of the attacker's training runs (fine-tuning and fine-pruning add the attack's own seed).
ATTACK_SEED = 7_000
#: Windows of the AdvParams search (the first of the owner's).
ADVPARAMS_WINDOWS = 32
TRIGGER_BASELINES = ("logo baseline", "noise baseline")


def independent_models(widths: list[int], n: int, steps: int, folder: Path) -> list[torch.nn.Module]:
    """``n`` sferic CNNs trained from scratch by ``amt train``'s loop (seeds ``NULL_SEED + i``), cached."""
    out = []
    for i in range(n):
        path = folder / f"independent-{steps}steps-seed{NULL_SEED + i}" / "model.safetensors"
        if not path.is_file():
            print(f"training independent model {i} ({steps} steps)", flush=True)
            train(run_config(NULL_SEED + i, widths, steps), path.parent, progress=False)
        out.append(load_checkpoint(path)[0].eval())
    return out


def _signer(name: str) -> Ed25519PrivateKey:
    """A fixed Ed25519 key per role (the table's key windows are the same in every run)."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(name.encode()).digest())


def build_setting(args: argparse.Namespace, folder: Path) -> tuple[Setting, torch.nn.Module, dict]:
    """The owner's model, its windows, independent models, key windows and probes; and the checkpoint's metadata."""
    base, meta = load_checkpoint(args.weights)
    config, extra = meta["config"], meta["extra"]
    x, y = search_windows(meta, args.windows)
    independent = independent_models(config["widths"], args.independent, args.independent_steps, folder)
    dom = get_domain("sferic")
    owner = _signer("dnnsec-eval-owner")
    kx = [to_model_input(make_key_set(dom, owner, 900 + i, i, args.keys).images, dom) for i in range(4)]
    attacker = _signer("dnnsec-eval-attacker")
    n_null = max(3, args.independent // 2)
    nulls = [to_model_input(make_key_set(dom, _signer(f"dnnsec-eval-null-{j}"), 2**31 - 1 - j,
                                         null_slot(dom, args.keys, j), args.keys).images, dom)
             for j in range(args.independent - n_null)]
    keys = {"own": kx[0], "others": torch.cat(kx[1:4]),
            "attacker": to_model_input(make_key_set(dom, attacker, 990, 4, args.keys).images, dom),
            "decoys": to_model_input(decoy_bases(dom, 300, 0), dom),
            "null": torch.cat(nulls) if nulls else torch.empty(0), "null_decoys": to_model_input(
                decoy_bases(dom, 300, 1), dom), "attacker_decoys": to_model_input(decoy_bases(dom, 300, 2), dom)}
    probe_x = probes(args.probes)
    c = float(config.get("compress", 0.0))
    seen = c * torch.asinh(probe_x / c) if c > 0 else probe_x  # the values the first convolution reads
    steps = {k: max(1, round(v * args.budget)) for k, v in BUDGETS.items()}
    steps["advparams_batch"] = ADVPARAMS_WINDOWS

    def build(num_outputs: int, seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return build_model(ARCH, {**config, CHANNELS_KEY: num_outputs - 1})

    s = Setting("sferic", x, y, x[-8:], y[-8:], 1, (float(seen.min()), float(seen.max())), (0.0,), (1.0,), build,
                independent, n_null, keys, probe_x, steps,
                score=lambda m: heldout_f1(detector_of(m, extra), args.records), metric="F1")
    return s, base, meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    names = [*(p.name for p in segmenter_protections(0.0)), *TRIGGER_BASELINES]
    attacks_all = ["fine-tuning lr 1e-4", "fine-tuning lr 1e-3", "pruning 50 %", "fine-pruning", "overwriting",
                   "query modification", "output removal", "distillation", "GAN removal", "Neural Cleanse unlearning",
                   "adaptive"]
    ap.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="the owner's sferic checkpoint")
    ap.add_argument("--out", type=Path, default=Path("outputs/eval"))
    ap.add_argument("--protections", default=",".join(names), help="comma-separated names, in this order")
    ap.add_argument("--attacks", default=",".join(attacks_all))
    ap.add_argument("--independent", type=int, default=6, help="independent models (half, at least 3, calibrate)")
    ap.add_argument("--independent-steps", type=int, default=600, help="training steps of each independent model")
    ap.add_argument("--windows", type=int, default=128, help="training-distribution windows, half owner, half "
                                                             "attacker")
    ap.add_argument("--records", type=int, default=2, help="held-out records per grid cell (12 cells) for F1")
    ap.add_argument("--probes", type=int, default=32, help="owner's probe windows (intrinsic fingerprint)")
    ap.add_argument("--keys", type=int, default=20, help="key windows per user (fingerprint channel)")
    ap.add_argument("--budget", type=float, default=1.0, help="scale of every step budget")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--fresh", action="store_true", help="ignore cached cells")
    ap.add_argument("--cached-only", action="store_true", help="write the table from the cached cells alone")
    args = ap.parse_args()
    if args.independent < 4:
        ap.error("--independent must be at least 4 (3 calibrate the null distribution, the rest measure false claims)")
    torch.set_num_threads(args.threads)
    folder = cache_root() / "eval" / "sferic"
    cell_dir = folder / (f"cells-b{args.budget:g}-n{args.independent}-i{args.independent_steps}-w{args.windows}"
                         f"-r{args.records}-p{args.probes}-k{args.keys}-{Path(args.weights).stem}")
    t0 = time.perf_counter()
    s, base, meta = build_setting(args, folder)
    p_threshold = float(meta["extra"]["threshold"])
    widths = meta["config"]["widths"]

    def attacker_train(model: torch.nn.Module, lr: float, steps: int, seed: int) -> torch.nn.Module:
        return continue_training(model, run_config(ATTACK_SEED + seed, widths, steps, lr), ATTACK_SEED + seed)

    def attacker_distill(teacher: torch.nn.Module, steps: int, seed: int) -> torch.nn.Module:
        config = {**meta["config"], CHANNELS_KEY: teacher.head.out_channels - 1}
        return distill(teacher, config, steps, ATTACK_SEED + seed)

    registry = segmenter_attacks(attacker_train, attacker_distill, POS_WEIGHT)
    print(f"== evaluation table: sferic CNN ({sum(p.numel() for p in base.parameters())} parameters), "
          f"{len(s.train_x)} windows (half owner, half attacker), {len(s.independent)} independent models "
          f"({s.n_null} calibrate), F1 on {args.records} held-out record(s) per cell, budget x{args.budget:g} "
          f"(setting ready in {time.perf_counter() - t0:.0f} s)", flush=True)
    known = {p.name: p for p in segmenter_protections(math.log(p_threshold / (1 - p_threshold)))}
    chosen = [n for n in args.protections.split(",") if n in known or n in TRIGGER_BASELINES]
    attacks = [a for a in args.attacks.split(",") if a in attacks_all]
    rows, cells = tabulate(s, base, [known[n] for n in chosen if n in known], attacks, cell_dir, fresh=args.fresh,
                           cached_only=args.cached_only, registry=registry, unavailable=UNAVAILABLE)
    for name in chosen:
        if name in TRIGGER_BASELINES:
            row, cs = not_applicable_row(name, NO_TRIGGER_BASELINE, attacks, s.metric, NO_TRIGGER_BASELINE_CELL)
            rows.append(row)
            cells += cs
    order = {n: i for i, n in enumerate(chosen)}
    rows.sort(key=lambda r: order[r.protection])
    write_table(args.out / "sferic", f"sferic CNN: {len(s.independent)} independent models, F1 on "
                f"{args.records} held-out record(s) per cell, budget x{args.budget:g}", rows, cells, args)
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
