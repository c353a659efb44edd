"""One table of every protection against every attack (docs/acceptance.md#evaluation-table).

    python -m benchmarks.dnnsec_eval [--data mnist|cifar10|FILE.npz] [--out outputs/eval] [--independent 16]

The owner's model is trained by the zoo recipe (MNIST: the zoo's ``mnist_cnn`` seed 0; CIFAR-10 and a user's
``.npz``: the smallest zoo architecture, ``mnist_cnn`` with the data's channels, trained here for ``--epochs``: the
independent models the intrinsic fingerprint needs cost a ResNet's training each on 2 cores). ``--independent``
models of the same architecture are trained from scratch with other seeds (half calibrate the intrinsic fingerprint's
null distribution, half measure false claims and the ROC). The training data is split: the first half is the
owner's (watermark embedding), the second the attacker's (every attack); GAN removal and Neural Cleanse get 1 % of it.

Writes ``<out>/<data>/table.md``, ``table.csv``, ``heatmap.png`` and ``table.json``; every finished cell is cached
under ``cache_root()/eval/<data>/`` so an interrupted run resumes (``--fresh`` recomputes). Also prints the intrinsic
fingerprint's ROC-AUC over its attacked (pirated) models against the held-out independent ones. The sferic CNN's table
(the same metrics, F1 in place of accuracy) is ``benchmarks.dnnsec_eval_sferic``, which reuses :func:`tabulate` and
:func:`write_table`.

Examples:
  python -m benchmarks.dnnsec_eval                                   # MNIST, every protection and attack
  python -m benchmarks.dnnsec_eval --protections "intrinsic fingerprint" --attacks "pruning 50 %,adaptive"
  python -m benchmarks.dnnsec_eval --data my_images.npz --epochs 2 --independent 6
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import dnnsec.zoo.models  # noqa: F401  (registers the zoo architectures)
from dnnsec.backdoor.data import mean_std
from dnnsec.evaluation.attacks import ATTACKS
from dnnsec.evaluation.protections import Setting, all_protections
from dnnsec.evaluation.report import heat_map, markdown, write_csv
from dnnsec.evaluation.table import Cell, Row, evaluate_protection
from dnnsec.watermark.bases import decoy_bases, domain_for_data, get_domain, to_model_input
from dnnsec.watermark.keys import make_key_set
from dnnsec.zoo.build import ZOO, build_zoo, train_zoo_model, zoo_path
from dnnsec.zoo.data import load_dataset
from shared.architectures import build_model
from shared.atomic import write_bytes_atomic, write_json_atomic
from shared.checkpoint import load_checkpoint, save_checkpoint
from shared.metrics import roc_auc
from shared.paths import cache_root

BUDGETS = {"embed": 400, "finetune": 300, "gan": 150, "distill": 600, "autoencoder": 600, "adaptive": 200,
           "advparams": 50}
INDEPENDENT_SEED0 = 2000


def _name(data: str) -> str:
    return Path(data).stem if data.endswith(".npz") else data


def _spec(data: str, channels: int, epochs: int, n_train: int):
    """The zoo's ``mnist_cnn`` recipe for ``epochs`` epochs of ``n_train`` samples with ``channels`` channels."""
    spec = ZOO["mnist_cnn"]
    steps = epochs * math.ceil(n_train / spec.batch_size)
    return replace(spec, dataset=data, config={"in_channels": channels}, train={**spec.train, "max_steps": steps})


def _trained(path: Path, spec, seed: int, train, test) -> torch.nn.Module:
    if path.is_file():
        return load_checkpoint(path)[0].eval()
    model, record = train_zoo_model(spec, seed, train, test, progress=False)
    save_checkpoint(path, model, arch=spec.arch, config=spec.config, extra=record)
    return model.eval()


def _independent_mnist() -> list[Path]:
    """MNIST CNNs trained from scratch without the owner's model: the zoo's seeds 1 and 2, then the backdoored
    models of ``benchmarks.dnnsec_backdoor`` with seeds 1 and 2 (zoo recipe on MNIST with a poisoned tenth; seed 0
    shares the owner's initialisation and batch order, so it is left out)."""
    zoo = [zoo_path("mnist_cnn", s) for s in (1, 2)]
    backdoored = sorted(p for s in (1, 2) for p in (cache_root() / "backdoor" / "mnist").glob(f"*-seed{s}.safetensors"))
    return zoo + backdoored


def build_setting(args: argparse.Namespace, folder: Path) -> tuple[Setting, torch.nn.Module]:
    """The owner's model, the independent ones, the data split and the key images of ``args.data``."""
    train, test = load_dataset(args.data, "train"), load_dataset(args.data, "test")
    channels = int(train.x.shape[1])
    spec = _spec(args.data, channels, args.epochs, len(train))
    ind_spec = replace(spec, train={**spec.train, "max_steps": min(spec.train["max_steps"], args.independent_steps)})
    independent = []
    if args.data == "mnist":
        build_zoo(["mnist_cnn"], [0, 1, 2], progress=False)
        base = load_checkpoint(zoo_path("mnist_cnn", 0))[0].eval()
        independent = [load_checkpoint(p)[0].eval() for p in _independent_mnist()][: args.independent]
    else:
        base = _trained(folder / "owner-seed0.safetensors", spec, 0, train, test)
    ind_steps = ind_spec.train["max_steps"]
    independent += [_trained(folder / f"independent-{ind_steps}steps-seed{INDEPENDENT_SEED0 + j}.safetensors",
                             ind_spec, INDEPENDENT_SEED0 + j, train, test)
                    for j in range(args.independent - len(independent))]
    n = min(len(train), args.train_samples)
    perm = torch.from_numpy(np.random.default_rng(11).permutation(len(train))[:n])
    tx, ty = test.x[: args.test_samples], test.y[: args.test_samples]
    probes = test.x[-args.probes:]
    dom_name = domain_for_data(args.data) if args.data.endswith(".npz") else args.data
    dom = get_domain(dom_name)
    signer = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"dnnsec-eval-owner").digest())
    slot0 = 100 if args.data == "cifar10" else 400  # CIFAR-10's key pool (coloured digits) holds 8,000 images
    kx = [to_model_input(make_key_set(dom, signer, 900 + i, slot0 + i, args.keys).images, dom) for i in range(5)]
    keys = {"own": kx[0], "others": torch.cat(kx[1:4]), "attacker": kx[4],
            "decoys": to_model_input(decoy_bases(dom, 300, 3), dom)}
    mean, std = mean_std(args.data, channels)
    lo = float(((0.0 - torch.tensor(mean)) / torch.tensor(std)).min())
    hi = float(((1.0 - torch.tensor(mean)) / torch.tensor(std)).max())
    steps = {k: max(1, round(v * args.budget)) for k, v in BUDGETS.items()}

    def build(num_classes: int, seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return build_model(spec.arch, {**spec.config, "num_classes": num_classes})

    s = Setting(_name(args.data), train.x[perm], train.y[perm], tx, ty, train.num_classes, (lo, hi), mean, std, build,
                independent, max(3, args.independent // 2), keys, probes, steps)
    return s, base


def _run_key(args: argparse.Namespace) -> str:
    """Folder name of one configuration's cached cells."""
    return (f"cells-b{args.budget:g}-n{args.independent}-i{args.independent_steps}-t{args.train_samples}"
            f"-s{args.test_samples}-p{args.probes}-k{args.keys}-e{args.epochs}")


def _cell_path(folder: Path, protection: str, attack: str) -> Path:
    slug = "".join(ch if ch.isalnum() else "-" for ch in f"{protection}--{attack}").strip("-")
    return folder / f"{slug}.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="mnist", help="mnist, cifar10, or a .npz (train_images, train_labels, "
                                                    "test_images, test_labels)")
    ap.add_argument("--out", type=Path, default=Path("outputs/eval"))
    ap.add_argument("--protections", default=",".join(p.name for p in all_protections()),
                    help="comma-separated names, run in this order")
    ap.add_argument("--attacks", default=",".join(ATTACKS))
    ap.add_argument("--independent", type=int, default=16,
                    help="independent models (half calibrate; MNIST: zoo seeds 1, 2 and cached backdoored models "
                         "of seeds 1, 2 first, then trained here)")
    ap.add_argument("--independent-steps", type=int, default=469, help="training steps of each independent model")
    ap.add_argument("--epochs", type=int, default=2, help="owner's training epochs (CIFAR-10 / .npz)")
    ap.add_argument("--train-samples", type=int, default=20000, help="training samples split owner / attacker")
    ap.add_argument("--test-samples", type=int, default=2000)
    ap.add_argument("--probes", type=int, default=64, help="owner's probe images (intrinsic fingerprint)")
    ap.add_argument("--keys", type=int, default=50, help="key images per user (additional-class fingerprint)")
    ap.add_argument("--budget", type=float, default=1.0, help="scale of every step budget")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--fresh", action="store_true", help="ignore cached cells")
    ap.add_argument("--cached-only", action="store_true",
                    help="write the table from the cached cells alone (missing ones said to be so)")
    args = ap.parse_args()
    if args.independent < 4:
        ap.error("--independent must be at least 4 (3 calibrate the null distribution, the rest measure false claims)")
    torch.set_num_threads(args.threads)
    folder = cache_root() / "eval" / _name(args.data)
    cell_dir = folder / _run_key(args)
    t0 = time.perf_counter()
    s, base = build_setting(args, folder)
    print(f"== evaluation table: {s.name}, {len(s.train_x)} training samples (half owner, half attacker), "
          f"{len(s.test_x)} test, {len(s.independent)} independent models ({s.n_null} calibrate), budget x{args.budget}"
          f" (setting ready in {time.perf_counter() - t0:.0f} s)", flush=True)
    known = {p.name: p for p in all_protections()}
    protections = [known[n] for n in args.protections.split(",") if n in known]  # in the order asked
    attacks = [a for a in args.attacks.split(",") if a in ATTACKS]
    rows, cells = tabulate(s, base, protections, attacks, cell_dir, fresh=args.fresh, cached_only=args.cached_only)
    write_table(args.out / s.name, f"{s.name}: {len(s.independent)} independent models, budget x{args.budget:g}",
                rows, cells, args)
    print(f"({time.perf_counter() - t0:.0f} s)")


def tabulate(s: Setting, base: torch.nn.Module, protections: list, attacks: list[str], cell_dir: Path, *,
             fresh: bool = False, cached_only: bool = False, registry: dict | None = None,
             unavailable: dict[str, str] | None = None) -> tuple[list[Row], list[Cell]]:
    """Every protection of ``protections`` against every attack of ``attacks`` (names of ``registry``, default the
    classifiers' :data:`ATTACKS`; ``unavailable``: attacks with no form for this model, with the reason), each
    finished cell cached as JSON in ``cell_dir`` so that an interrupted run resumes (``fresh`` recomputes;
    ``cached_only`` reads the cache alone, missing cells said to be so)."""
    cell_dir.mkdir(parents=True, exist_ok=True)
    rows, cells = [], []
    for p in protections:
        row_path = _cell_path(cell_dir, p.name, "row")
        paths = {a: _cell_path(cell_dir, p.name, a) for a in attacks}
        if cached_only or (not fresh and row_path.is_file() and all(q.is_file() for q in paths.values())):
            if not row_path.is_file():
                print(f"{p.name}: not measured yet (no cached row)", flush=True)
                continue
            rows.append(Row(**json.loads(row_path.read_text())))
            cells += [Cell(**json.loads(paths[a].read_text())) if paths[a].is_file() else
                      Cell(p.name, a, "not measured yet: the recorded run did not reach it") for a in attacks]
            print(f"{p.name}: cached", flush=True)
            continue
        row, cs = evaluate_protection(p, base, s, attacks, progress=False, registry=registry, unavailable=unavailable,
                                      on_cell=lambda c: (
            write_json_atomic(_cell_path(cell_dir, c.protection, c.attack), c.__dict__),
            print(f"  {c.protection} x {c.attack}: " + (f"n/a ({c.reason})" if c.reason else
                  f"retention {c.retention:.3f} claimed {c.claimed} {s.metric} {c.accuracy:.4f} ({c.seconds:.0f} s)"),
                  flush=True)))
        write_json_atomic(row_path, row.__dict__)
        rows.append(row)
        cells += cs
        if p.name == "intrinsic fingerprint":
            _roc(p, s, cs)
    return rows, cells


def write_table(out: Path, title: str, rows: list[Row], cells: list[Cell], args: argparse.Namespace) -> None:
    """``out/table.md``, ``table.csv``, ``heatmap.png`` and ``table.json`` (with the run's arguments); prints the
    Markdown."""
    rec_rows = [{**r.__dict__, "fidelity_points": r.fidelity_points} for r in rows]
    rec_cells = [c.__dict__ for c in cells]
    md = markdown(title, rec_rows, rec_cells)
    write_bytes_atomic(out / "table.md", md.encode())
    write_csv(out / "table.csv", rec_cells, rec_rows)
    heat_map(out / "heatmap.png", rec_rows, rec_cells, title)
    write_json_atomic(out / "table.json", {"rows": rec_rows, "cells": rec_cells, "args": {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}})
    print(md)
    print(f"wrote {out}/table.md, table.csv, heatmap.png, table.json", flush=True)


def _roc(p, s: Setting, cells: list[Cell]) -> None:
    """ROC-AUC of the intrinsic fingerprint's SSIM and cosine: attacked copies (positives) against every independent
    model (the AUC uses no threshold, so the calibrating ones count too)."""
    held = [p.fingerprint.similarities(m) for m in s.independent]
    pirated = {c.attack: {"ssim": c.retention, **c.extras} for c in cells if c.reason is None}
    for label, chosen in (("all attacks", pirated), ("without distillation",
                                                     {k: v for k, v in pirated.items() if k != "distillation"})):
        truth = np.array([1] * len(chosen) + [0] * len(held))
        for metric in ("ssim", "cosine"):
            pos, neg = [v[metric] for v in chosen.values()], [v[metric] for v in held]
            print(f"intrinsic fingerprint ROC-AUC by {metric} ({label}): {roc_auc(truth, np.array(pos + neg)):.3f} on "
                  f"{len(pos)} pirated and {len(neg)} independent models; independents {min(neg):.3f}..{max(neg):.3f}"
                  f", pirated {min(pos):.3f}..{max(pos):.3f}", flush=True)
    print(f"null SSIM {p.null.mean:.3f} +- {p.null.sd:.3f} over {len(p.null.scores)} calibrating models", flush=True)


if __name__ == "__main__":
    main()
