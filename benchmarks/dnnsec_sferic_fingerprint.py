"""The sferic CNN distributed protected: fingerprint tracing, its F1 cost and robustness, encryption, attackers.

Run: ``.venv/bin/python -m benchmarks.dnnsec_sferic_fingerprint [--work DIR] [--base CHECKPOINT] [--base-steps 0]
[--users 5] [--nulls 5] [--calib-nulls 2] [--null-steps 600] [--fp-steps 400] [--attack-steps 100] [--records 2]``;
``--score CHECKPOINT ...`` only prints the held-out F1 (below) of checkpoints, such as the shipped model and the
copies of it that ``field_examples/sferic_owner.py`` issues; ``--attack-copy REGISTRY USER`` only runs the attacks
of step 4 on the copy issued to USER in REGISTRY (rank-test p-values without null models); ``--adaptive PACKAGE
OWNER_PUB`` only runs step 5 on a package.

The owner's model is the shipped sferic CNN (``--base``, 156 k parameters), optionally fine-tuned ``--base-steps``
more steps under a private seed; null models share its architecture and are trained from scratch on the public
generator (:class:`amt.sferic.sampler.SfericSource`, default settings, windows of 2048 samples) by ``amt train``'s
loss, sampler and trainer (:func:`amt.sferic.train.train`):

1. Users ``u0..`` get copies of the owner's model fingerprinted for them
   (:func:`dnnsec.watermark.segmenter.issue_segmenter_copy`: ``--fp-steps`` steps a round, 20 key windows per
   user, further rounds until the copy's own keys outrank the others' at the issuing bar).
2. Null models: ``--calib-nulls + --nulls`` sferic models trained independently (other seeds, ``--null-steps``
   steps from scratch), each fingerprinted by a throw-away owner; the first ``--calib-nulls`` fix the threshold,
   the other ``--nulls`` are held out and count false claims.
3. F1: pooled sample-level F1 on the held-out grid (:func:`amt.sferic.evaluation.heldout.grid`, 6 SNRs x day/night
   x ``--records`` records of 2 s, ``HELDOUT_SEED``; don't-care samples excluded) of the owner's model, every copy,
   STA/LTA (tuned on the validation sets) and the encrypted copy without its key.
4. Attacks on the traced copy with the smallest p-value (a key holder who leaks it): fine-tuning on the public
   generator at two learning rates, global magnitude pruning 10-50 %, distillation of its decisions into a fresh
   model (same architecture), collusion (weights of 2 and 3 users' copies averaged; diffing: the element-wise
   median of 3 copies, which keeps what they share and outvotes where one differs), and the fingerprint channel cut
   off the head. Each result is verified against the registry (:func:`dnnsec.watermark.service.verify_model`):
   which users are named, and the copy's user's p-value.
5. The adaptive attacker without a key: ``--attack-steps`` steps of ``amt train``'s loop from the encrypted
   package's weights against the same steps from scratch.

Method: Xue et al., arXiv:2104.09203 (fingerprint) and IEEE TETC 2023 (AdvParams). Results: docs/results.md,
"Sferic model distributed protected".
"""

from __future__ import annotations

import argparse
import json
import math
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch.nn import functional as F

from amt.sferic.evaluation.heldout import HELDOUT_SEED, grid, records
from amt.sferic.evaluation.scoring import Scorer
from amt.sferic.inference import DEFAULT_WEIGHTS, SfericDetector
from amt.sferic.sampler import SamplerConfig, SfericSource
from amt.sferic.train import ARCH, RunConfig, train
from benchmarks.amt_sferic_results import tune_stalta
from dnnsec.attacks.prune import global_magnitude_prune
from dnnsec.package.container import read_package
from dnnsec.package.protected import encrypt_checkpoint
from dnnsec.package.signing import generate_owner_keys, load_private_key, load_public_key
from dnnsec.protect.advparams import binary_segmenter_decisions
from dnnsec.watermark.adapter import SegmenterHead
from dnnsec.watermark.bases import get_domain
from dnnsec.watermark.registry import Registry
from dnnsec.watermark.segmenter import (
    CHANNELS_KEY,
    SegmenterEmbedConfig,
    issue_segmenter_copy,
    make_segmenter_null,
)
from dnnsec.watermark.service import calibrate_registry, owner_key, registry_evidence, verify_model
from shared.architectures import build_model
from shared.checkpoint import load_checkpoint, save_checkpoint
from shared.data import RandomBatches
from shared.losses import WeightedBCELoss
from shared.metrics import binary_scores
from shared.seeding import seed_everything, stream_rng
from shared.trainer import Trainer

#: Seeds: the owner's private training run, null models, the public windows (none is a reserved seed).
OWNER_SEED, NULL_SEED, WINDOW_SEED = 424_242, 515_000, 61_021
POS_WEIGHT = 10.0


def run_config(seed: int, widths: list[int], steps: int, lr: float = 3e-3) -> RunConfig:
    return RunConfig.from_dict({
        "seed": seed, "batch_size": 8, "pilot_batches": 2, "pos_weight": POS_WEIGHT, "calibrate": False,
        "model": {"in_channels": 2, "widths": widths, "kernel_size": 7, "compress": 4.0},
        "sampler": {"window": 2048, "channels": ["hx", "hy"]},
        "train": {"lr": lr, "max_steps": steps, "converge_tol": 0.0, "log_every": 50, "warmup_steps": 10,
                  "schedule": "cosine", "grad_clip": 1.0}})


def continue_training(model: torch.nn.Module, cfg: RunConfig, seed: int) -> torch.nn.Module:
    """``amt train``'s loop (weighted BCE, fresh generator windows, the shared trainer) from ``model``'s weights."""
    seed_everything(seed)
    source = SfericSource(cfg.sampler)
    Trainer(model, WeightedBCELoss(POS_WEIGHT), cfg.train, RandomBatches(source, cfg.batch_size, seed=seed),
            progress=False).fit()
    return model.eval()


def distill(teacher: torch.nn.Module, arch_config: dict, steps: int, seed: int, lr: float = 3e-3
            ) -> torch.nn.Module:
    """A fresh model trained to reproduce ``teacher``'s decision logits (clipped to +-10) on generator windows."""
    seed_everything(seed)
    student = build_model(ARCH, arch_config)
    source = SfericSource(SamplerConfig())
    opt = torch.optim.Adam(student.parameters(), lr=lr)
    teacher.eval()
    for step in range(steps):
        x = torch.from_numpy(np.stack([source(stream_rng(seed, step, i))[0] for i in range(8)]))
        with torch.no_grad():
            target = teacher(x).clamp(-10, 10)
        loss = F.mse_loss(student(x).clamp(-10, 10), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return student.eval()


def attack_models(copies: dict[str, Path], target: str, steps: int) -> dict[str, torch.nn.Module]:
    """The leaked copy ``target`` fine-tuned (two learning rates), pruned, distilled, averaged with and diffed
    against others' copies (colluders), and cut down to the detector (fingerprint channel removed)."""
    copy_cfg = load_checkpoint(copies[target])[1]["config"]
    attacks: dict[str, torch.nn.Module] = {}
    for lr in (1e-3, 1e-4):
        attacks[f"fine-tune lr {lr:g}"] = continue_training(load_checkpoint(copies[target])[0],
                                                            run_config(7, [8, 16], steps, lr), 7)
    for frac in (0.1, 0.3, 0.5):
        m = load_checkpoint(copies[target])[0]
        global_magnitude_prune(m, frac)
        attacks[f"prune {int(frac * 100)} %"] = m
    attacks["distillation"] = distill(load_checkpoint(copies[target])[0], copy_cfg, 2 * steps, 8)
    others = [u for u in copies if u != target]
    for k in range(2, min(3, len(copies)) + 1):
        group = [target, *others[:k - 1]]
        states = [load_checkpoint(copies[u])[0].state_dict() for u in group]
        m = load_checkpoint(copies[target])[0]
        m.load_state_dict({n: sum(s[n] for s in states) / k for n in states[0]})
        attacks[f"average {'+'.join(group)}"] = m
    if len(copies) >= 3:  # diffing: where the three copies differ, the median of the three values
        group = [target, *others[:2]]
        states = [load_checkpoint(copies[u])[0].state_dict() for u in group]
        m = load_checkpoint(copies[target])[0]
        m.load_state_dict({n: torch.stack([s[n] for s in states]).median(dim=0).values for n in states[0]})
        attacks[f"median {'+'.join(group)}"] = m
    attacks["fingerprint channel cut"] = cut_fingerprint_channels(load_checkpoint(copies[target])[0], copy_cfg)
    return attacks


def cut_fingerprint_channels(model: torch.nn.Module, config: dict) -> torch.nn.Module:
    """The detector alone: ``model`` rebuilt without the head's fingerprint channels (visible in its config)."""
    plain = build_model(ARCH, {**config, CHANNELS_KEY: 0})
    state = model.state_dict()
    state["head.weight"], state["head.bias"] = state["head.weight"][:1], state["head.bias"][:1]
    plain.load_state_dict(state)
    return plain.eval()


def attack_registry_copy(registry: Path, target: str, steps: int, n_records: int) -> None:
    """Attack the copy of ``target`` recorded in ``registry`` (e.g. the shipped model's, issued by
    ``field_examples/sferic_owner.py``) and print each result's held-out F1 and rank-test p-values per user
    (Bonferroni, no null-model calibration: a user is named at alpha 0.01)."""
    reg = Registry(registry, create=False)
    copies = {c.user: Path(c.path) for c in reg.copies()}  # the last copy issued to each user
    dom = get_domain("sferic")
    extra = load_checkpoint(copies[target])[1]["extra"]
    print(f"{'attack on ' + target:28} {'F1':>6} {'named':>12} {'p(' + target + ') x users':>16}", flush=True)
    models = {"none": load_checkpoint(copies[target])[0], **attack_models(copies, target, steps)}
    for name, m in models.items():
        names, ev, _ = registry_evidence(reg, m, dom, 1, owner_key(reg), SegmenterHead())
        p = dict(zip(names, [1.0] * len(names) if ev is None else ev.p_bonferroni.tolist(), strict=True))
        named = ",".join(u for u, v in p.items() if v < 0.01) or "-"
        print(f"{name:28} {heldout_f1(detector_of(m, extra), n_records):6.3f} {named:>12} {p[target]:16.2e}",
              flush=True)


def adaptive_attack(package: Path, owner_pub: Path, steps: int, n_records: int) -> None:
    """``amt train``'s loop for ``steps`` steps from a package's encrypted weights (no key) and from scratch (the
    same architecture), and the held-out F1 of both and of the encrypted weights as they are."""
    pkg = read_package(package, load_public_key(owner_pub))
    extra = pkg.header["meta"].get("source_extra") or {}
    encrypted = build_model(pkg.header["arch"], pkg.header["config"])
    encrypted.load_state_dict(pkg.state)
    print(f"{'adaptive attacker (' + str(steps) + ' steps)':40} {'F1':>6}", flush=True)
    print(f"{'encrypted weights, no training':40} {heldout_f1(detector_of(encrypted.eval(), extra), n_records):6.3f}",
          flush=True)
    for name, m in (("from the encrypted weights", encrypted),
                    ("from scratch", build_model(pkg.header["arch"], pkg.header["config"]))):
        trained = continue_training(m, run_config(9, [8, 16], steps), 9)
        print(f"{name:40} {heldout_f1(detector_of(trained, extra), n_records):6.3f}", flush=True)


def heldout_f1(detector: SfericDetector, n_records: int, stalta=None) -> float:
    """Pooled sample-level F1 over the held-out grid (``stalta``: of that STA/LTA instead of the CNN)."""
    scorer = Scorer(detector, stalta=stalta, methods=("stalta",) if stalta else ("cnn",))
    truth, pred = [], []
    for cell in grid(n_records=n_records):
        for rec in records(cell, HELDOUT_SEED):
            care = rec.care_mask()
            ranges, p = scorer.ranges(rec)["stalta" if stalta else "cnn"]
            mask = np.zeros(len(care), dtype=bool)
            if stalta:
                for a, b in ranges:
                    mask[a:b] = True
            else:
                mask = p >= detector.threshold
            truth.append(rec.mask()[care])
            pred.append(mask[care])
    return float(binary_scores(np.concatenate(truth), np.concatenate(pred))["f1"])


def detector_of(model: torch.nn.Module, extra: dict) -> SfericDetector:
    return SfericDetector.from_model(model, extra)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("outputs/bench-sferic-fingerprint"))
    ap.add_argument("--users", type=int, default=5)
    ap.add_argument("--nulls", type=int, default=5)
    ap.add_argument("--calib-nulls", type=int, default=2)
    ap.add_argument("--base", type=Path, default=DEFAULT_WEIGHTS, help="the owner's model before private fine-tuning")
    ap.add_argument("--base-steps", type=int, default=0, help="private fine-tuning steps of --base (lr 3e-4)")
    ap.add_argument("--null-steps", type=int, default=600)
    ap.add_argument("--fp-steps", type=int, default=SegmenterEmbedConfig.steps)
    ap.add_argument("--fp-lr", type=float, default=SegmenterEmbedConfig.lr)
    ap.add_argument("--attack-steps", type=int, default=100)
    ap.add_argument("--records", type=int, default=2)
    ap.add_argument("--attack-copy", nargs=2, default=None, metavar=("REGISTRY", "USER"),
                    help="only attack the copy issued to USER in REGISTRY (e.g. the shipped model's)")
    ap.add_argument("--adaptive", nargs=2, type=Path, default=None, metavar=("PACKAGE", "OWNER_PUB"),
                    help="only run the adaptive attacker of step 5 on this package (e.g. the shipped model's)")
    ap.add_argument("--reuse", action="store_true", help="keep the registry, copies and null models in --work")
    ap.add_argument("--score", type=Path, nargs="+", default=None, metavar="CHECKPOINT",
                    help="only print the held-out F1 of these checkpoints (e.g. the shipped model and copies of it "
                         "issued by field_examples/sferic_owner.py)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.adaptive:
        adaptive_attack(args.adaptive[0], args.adaptive[1], args.attack_steps, args.records)
        return
    if args.attack_copy:
        attack_registry_copy(args.attack_copy[0], args.attack_copy[1], args.attack_steps, args.records)
        return
    if args.score:
        print(f"{'checkpoint':60} {'F1':>6}")
        for path in args.score:
            print(f"{path!s:60} {heldout_f1(SfericDetector.from_checkpoint(path), args.records):6.4f}", flush=True)
        return
    w = args.work
    w.mkdir(parents=True, exist_ok=True)
    out: dict = {"args": {k: str(v) for k, v in vars(args).items()}}
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:7.0f} s] {msg}", flush=True)
        (w / "results.json").write_text(json.dumps(out, indent=1))

    base = args.base if not args.base_steps else w / f"base-{args.base_steps}" / "model.safetensors"
    if not base.is_file():  # the private fine-tune, cached by its step count
        model, meta = load_checkpoint(args.base)
        continue_training(model, run_config(OWNER_SEED, meta["config"]["widths"], args.base_steps, 3e-4), OWNER_SEED)
        save_checkpoint(base, model, arch=meta["arch"], config=meta["config"], extra=meta["extra"])
    base_model, base_meta = load_checkpoint(base)
    extra, widths = base_meta["extra"], base_meta["config"]["widths"]
    out["parameters"] = sum(p.numel() for p in base_model.parameters())
    log(f"owner's model: {out['parameters']} parameters")
    source = SfericSource(SamplerConfig())
    xs, ys = zip(*(source(stream_rng(WINDOW_SEED, k)) for k in range(64)), strict=True)
    save_file({"x": torch.from_numpy(np.stack(xs)), "y": torch.from_numpy(np.stack(ys)).long()},
              str(w / "windows.safetensors"))
    reuse = args.reuse and (w / "registry.sqlite").is_file()
    if not reuse:
        generate_owner_keys(w / "owner.key", w / "owner.pub", force=True)
        (w / "registry.sqlite").unlink(missing_ok=True)
    signer = load_private_key(w / "owner.key")
    reg = Registry(w / "registry.sqlite")
    users = [f"u{i}" for i in range(args.users)]
    known = {u.name for u in reg.users()}
    for u in users:
        if u not in known:
            reg.add_user(u)
    copies = {}
    for u in users:
        copies[u] = w / "copies" / f"{u}.safetensors"
        if reuse and copies[u].is_file():
            continue
        issue_segmenter_copy(reg, base, u, copies[u], signer, w / "windows.safetensors", n_clean=64,
                             cfg=SegmenterEmbedConfig(steps=args.fp_steps, lr=args.fp_lr, seed=reg.user(u).id),
                             force=True)
        log(f"issued {u}")
    out["rounds"] = {c.user: c.params.get("rounds", 1) for c in reg.copies()}  # the last copy of each user
    nulls = []
    for i in range(args.calib_nulls + args.nulls):
        nb = w / "null-bases" / f"n{i}-{args.null_steps}-{'-'.join(map(str, widths))}" / "model.safetensors"
        if not nb.is_file():
            train(run_config(NULL_SEED + i, widths, args.null_steps), nb.parent, progress=False)
        null = w / "nulls" / f"null-{i:03d}.safetensors"
        if not (reuse and null.is_file()):
            make_segmenter_null(nb, null, w / "windows.safetensors", i, n_clean=64,
                                cfg=SegmenterEmbedConfig(steps=args.fp_steps, lr=args.fp_lr), force=True)
        nulls.append(null)
        log(f"null model {i}")
    cal = calibrate_registry(reg, nulls[:args.calib_nulls])
    out["calibration"] = cal.to_dict()

    def evidence(path: Path) -> dict:
        v = verify_model(reg, path, domain="sferic")
        p = {e.user: e.p_bonferroni for e in v.evidence}
        return {"named": v.significant, "p": p, "p_min": min(p.values(), default=1.0)}

    out["copies"] = {u: evidence(copies[u]) for u in users}
    traced = sorted((out["copies"][u]["p"].get(u, 1.0), u) for u in users if out["copies"][u]["named"] == [u])
    target = out["target"] = traced[0][1] if traced else users[0]  # the attacks start from a traced copy
    out["traced"] = sum(out["copies"][u]["named"] == [u] for u in users)
    out["held_out_nulls"] = [evidence(n) for n in nulls[args.calib_nulls:]]
    out["false_claims"] = sum(bool(e["named"]) for e in out["held_out_nulls"])
    log(f"traced {out['traced']}/{len(users)}, false claims {out['false_claims']}/{args.nulls}")

    f1 = {"owner": heldout_f1(detector_of(base_model, extra), args.records)}
    for u in users:
        f1[u] = heldout_f1(detector_of(load_checkpoint(copies[u])[0], extra), args.records)
    stalta, _ = tune_stalta(("hx", "hy"))
    f1["stalta"] = heldout_f1(detector_of(base_model, extra), args.records, stalta)
    p = float(extra["threshold"])
    x, y = torch.from_numpy(np.stack(xs[:32])), torch.from_numpy(np.stack(ys[:32]))
    rep = encrypt_checkpoint(copies[target], package_out=w / "t.dnnpkg", key_out=w / "t.key", signer=signer,
                             owner="bench", x=x, y=y, n_params=30, progress=False, force=True,
                             decisions=partial(binary_segmenter_decisions, threshold_logit=math.log(p / (1 - p))))
    encrypted, _ = load_checkpoint(copies[target])
    encrypted.load_state_dict(read_package(w / "t.dnnpkg", signer.public_key()).state)
    f1["encrypted"] = heldout_f1(detector_of(encrypted, extra), args.records)
    out["f1"], out["n_encrypted"] = f1, rep.n_encrypted
    out["f1_cost_max"] = max(f1["owner"] - f1[u] for u in users)
    log(f"F1 {f1}")

    copy_cfg = load_checkpoint(copies[target])[1]["config"]
    attacks = attack_models(copies, target, args.attack_steps)
    out["attacks"] = {}
    for name, m in attacks.items():
        path = save_checkpoint(w / "attacks" / f"{name.replace(' ', '_')}.safetensors", m, arch=ARCH,
                               config={**copy_cfg, CHANNELS_KEY: m.head.out_channels - 1},
                               extra={**extra, "watermark_domain": "sferic"})
        out["attacks"][name] = {**evidence(path), "f1": heldout_f1(detector_of(m, extra), args.records)}
        log(f"{name}: {out['attacks'][name]}")

    adaptive = {}
    for name, m in (("from encrypted copy", encrypted), ("from scratch", build_model(ARCH, copy_cfg))):
        trained = continue_training(m, run_config(9, widths, args.attack_steps), 9)
        adaptive[name] = heldout_f1(detector_of(trained, extra), args.records)
    out["adaptive"] = adaptive
    log(f"adaptive {adaptive}")

    print(f"\nsferic CNN {widths}: {out['parameters']} parameters; owner's model {args.base} + {args.base_steps} "
          f"private steps, nulls {args.null_steps} steps from scratch, fingerprint rounds of {args.fp_steps} steps, "
          f"attacks {args.attack_steps} steps")
    print(f"attacks start from copy {target}")
    print(f"{'model':28} {'F1':>6} {'named':>12} {'p(own) x users':>14} {'rounds':>6}")
    for u in users:
        print(f"{'copy ' + u:28} {f1[u]:6.3f} {','.join(out['copies'][u]['named']) or '-':>12} "
              f"{out['copies'][u]['p'].get(u, 1.0):14.2e} {out['rounds'][u]:6}")
    print(f"{'owner (no fingerprint)':28} {f1['owner']:6.3f}")
    print(f"{'STA/LTA':28} {f1['stalta']:6.3f}")
    print(f"{target + ' encrypted, no key':28} {f1['encrypted']:6.3f}   ({rep.n_encrypted} parameters encrypted)")
    for i, e in enumerate(out["held_out_nulls"]):
        print(f"{'held-out null ' + str(i):28} {'':6} {','.join(e['named']) or '-':>12} {e['p_min']:14.2e} (min)")
    for name, r in out["attacks"].items():
        print(f"{name:28} {r['f1']:6.3f} {','.join(r['named']) or '-':>12} {r['p'].get(target, 1.0):14.2e}")
    for name, v in adaptive.items():
        print(f"{'adaptive ' + name:28} {v:6.3f}")
    print(f"traced {out['traced']}/{len(users)}; false claims {out['false_claims']}/{args.nulls}; threshold "
          f"{cal.p_threshold:.3g}; largest F1 cost {out['f1_cost_max']:.4f}; {time.perf_counter() - t0:.0f} s")
    log("done")


if __name__ == "__main__":
    main()
