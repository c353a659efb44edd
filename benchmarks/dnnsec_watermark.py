"""Benchmark of the fingerprint watermark (additional class + steganographic fingerprints) on the zoo models.

Prints one table per target of docs/acceptance.md#fingerprint-watermark: watermark accuracy, fingerprint authentication,
clean-accuracy loss (paired mean over zoo seeds), threshold calibration and the false-claim rate on held-out null models
with its Clopper-Pearson bound, tracing among the issued copies (copies x users matrix), every attack (fine-tuning at
several data fractions and learning rates, pruning, fine-pruning, overwriting, query modification against the logo and
noise baselines, removing the extra output, distillation), and the time to verify a CIFAR-10 suspect. By default MNIST
gets every table and CIFAR-10 (ResNet-8) the issued copies (one per zoo seed) and the query modification attack: its
null models, trained from scratch, would cost about 15 CPU minutes each (``--cifar-nulls``).

Method: Xue et al., arXiv:2104.09203. Run ``python -m benchmarks.dnnsec_watermark --help``.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tqdm.auto import tqdm

import dnnsec.zoo  # noqa: F401  (registers the zoo architectures)
from dnnsec.attacks.extraction import distill, remove_extra_output
from dnnsec.attacks.fineprune import fine_prune
from dnnsec.attacks.finetune import finetune
from dnnsec.attacks.overwrite import overwrite
from dnnsec.attacks.prune import global_magnitude_prune
from dnnsec.attacks.query_modification import QueryModifier
from dnnsec.autoencoder import train_autoencoder
from dnnsec.package.signing import generate_owner_keys, load_private_key
from dnnsec.watermark.adapter import LinearHead, predict
from dnnsec.watermark.baselines import embed_backdoor, trigger_set
from dnnsec.watermark.bases import decoy_bases, get_domain, to_model_input
from dnnsec.watermark.embed import EmbedConfig, embed_fingerprint
from dnnsec.watermark.fingerprint import FingerprintError, read_fingerprint
from dnnsec.watermark.keys import make_key_set
from dnnsec.watermark.registry import Registry
from dnnsec.watermark.service import (
    calibrate_registry,
    ensure_key_set,
    issue_copy,
    load_user_keys,
    owner_key,
    pin_owner,
    verify_model,
)
from dnnsec.watermark.verify import (
    calibrate,
    evidence_matrix,
    false_claim_rate,
    significant,
    tracing_is_diagonal,
)
from dnnsec.zoo.build import ZOO, build_zoo, train_zoo_model, zoo_path
from dnnsec.zoo.data import load_dataset
from shared.architectures import build_model
from shared.checkpoint import load_checkpoint, save_checkpoint

ARCH = {"mnist": "mnist_cnn", "cifar10": "resnet8"}
EXAMPLES = """Examples:
  python -m benchmarks.dnnsec_watermark                 # MNIST (everything), then CIFAR-10 (copies, attack)
  python -m benchmarks.dnnsec_watermark --dataset cifar10 --work /tmp/wm
  python -m benchmarks.dnnsec_watermark --dataset mnist --cal-nulls 8 --held-nulls 8 --no-cifar-timing
"""
NULL_SEED0 = 1000


def _acc(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((predict(model, LinearHead(), x) == y).float().mean())


def _null_model(arch: str, dom, j: int, n_keys: int, train, test, x, y, cfg: EmbedConfig) -> torch.nn.Module:
    """An independent owner's model: trained from scratch by the zoo recipe with its own seed (``NULL_SEED0 + j``,
    never a zoo seed), then watermarked by the same recipe with that owner's own signer, base images (slot
    200 + 4 j) and decoy bank, and three other users of theirs (slots 201 + 4 j ...) as negatives."""
    base, _ = train_zoo_model(ZOO[arch], NULL_SEED0 + j, train, test, progress=False)
    signer = Ed25519PrivateKey.generate()
    sets = [to_model_input(make_key_set(dom, signer, 100000 + 4 * j + i, 200 + 4 * j + i, n_keys).images, dom)
            for i in range(4)]
    decoys = to_model_input(decoy_bases(dom, 300, 1 + j % 5), dom)
    return embed_fingerprint(base.eval(), LinearHead(), x, y, sets[0], torch.cat(sets[1:]),
                             EmbedConfig(**{**cfg.to_dict(), "seed": 1000 + j}), decoys)


def _cached(path: Path, arch: str, make) -> torch.nn.Module:
    """Load the K+1 model at ``path`` if an earlier run saved it, else make and save it."""
    if path.is_file():
        return load_checkpoint(path)[0]
    model = make()
    save_checkpoint(path, model, arch=arch, config={"num_classes": LinearHead().num_outputs(model)})
    return model


def _row(cells: list, widths: list[int]) -> str:
    return " ".join(f"{c:>{w}}" if not isinstance(c, float) else f"{c:>{w}.4f}" for c, w in zip(cells, widths,
                                                                                                  strict=True))


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    dataset, arch = args.dataset, ARCH[args.dataset]
    dom = get_domain(dataset)
    seeds = [0, 1, 2]
    print(f"== fingerprint watermark benchmark: {dataset} ({arch}), {args.users} users x {args.keys} keys, "
          + ("no null models" if args.skip_nulls else f"{args.cal_nulls} + {args.held_nulls} null models")
          + f", {args.steps} fine-tuning steps, {args.threads} thread(s)")
    missing = [str(zoo_path(arch, s)) for s in seeds if not zoo_path(arch, s).is_file()]
    if missing and dataset != "mnist":
        raise SystemExit(f"zoo models missing: {', '.join(missing)}; build them with "
                         f"`dnnsec zoo build --arch {arch} --seeds 0,1,2`")
    build_zoo([arch], seeds, progress=False, echo=print)  # MNIST: trains (about a minute each) what is missing
    train, test = load_dataset(dataset, "train"), load_dataset(dataset, "test")
    tx, ty = test.x[: args.test], test.y[: args.test]
    base = {s: load_checkpoint(zoo_path(arch, s))[0] for s in seeds}
    base_acc = {s: _acc(m, tx, ty) for s, m in base.items()}
    cfg = EmbedConfig(steps=args.steps, clean_batch=args.clean_batch).for_domain(dom)
    work = args.work or Path(tempfile.mkdtemp(prefix="dnnsec-wm-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder (pass --work to reuse its copies and null models): {work}")
    reg = Registry(work / "registry.sqlite")
    if not (work / "owner.key").is_file():  # kept so that a resumed run can issue the copies still missing
        generate_owner_keys(work / "owner.key", work / "owner.pub")
    signer = load_private_key(work / "owner.key")
    names = [f"user{i:02d}" for i in range(args.users)]
    known = {u.name for u in reg.users()}
    for n in names:
        if n not in known:
            reg.add_user(n)
    issued = {c.user: c.path for c in reg.copies()}

    # -- issue one copy per user, from zoo seeds 0, 1, 2 in turn -------------------------------------------------
    copies, copy_seed, t_issue = [], [], []
    for i, name in enumerate(tqdm(names, desc="issue copies")):
        if name not in issued:
            t0 = time.perf_counter()
            res = issue_copy(reg, zoo_path(arch, seeds[i % 3]), name, work / f"{name}.safetensors", signer,
                             n_clean=args.clean, n_keys=args.keys, cfg=EmbedConfig(**{**cfg.to_dict(), "seed": i}))
            t_issue.append(time.perf_counter() - t0)
            issued[name] = res.record.path
        copies.append(load_checkpoint(issued[name])[0])
        copy_seed.append(seeds[i % 3])
    owner = owner_key(reg)
    users = reg.users()
    key_sets = [load_user_keys(reg, u, dom, owner) for u in users]
    key_x = [to_model_input(k.images, dom) for k in key_sets]
    k_classes = 10

    # -- watermark accuracy, fingerprint authentication, clean accuracy ------------------------------------------
    t_mean = f"{np.mean(t_issue):.1f} s" if t_issue else "n/a (reused)"
    print(f"\n[1] issued copies (mean issue time {t_mean} on {args.threads} thread(s))")
    print(_row(["user", "seed", "WM acc", "fp auth", "clean acc", "base acc", "delta pt"], [8, 4, 7, 7, 9, 9, 8]))
    deltas: dict[int, list[float]] = {s: [] for s in seeds}
    wm_all, auth_all = [], []
    for i, (m, s) in enumerate(zip(copies, copy_seed, strict=True)):
        answered = (predict(m, LinearHead(), key_x[i]) == k_classes).numpy()
        ok = 0
        for img in key_sets[i].images[answered]:
            try:
                ok += read_fingerprint(img, owner).user_id == users[i].id
            except FingerprintError:
                pass
        wm, auth = float(answered.mean()), ok / max(int(answered.sum()), 1)
        ca = _acc(m, tx, ty)
        deltas[s].append(100 * (ca - base_acc[s]))
        wm_all.append(wm)
        auth_all.append(auth)
        print(_row([names[i], s, wm, auth, ca, base_acc[s], 100 * (ca - base_acc[s])], [8, 4, 7, 7, 9, 9, 8]))
    per_seed = np.array([np.mean(deltas[s]) for s in seeds])
    print(f"watermark accuracy: mean {np.mean(wm_all):.4f}, min {np.min(wm_all):.4f}; fingerprint authentication of "
          f"answered keys: mean {np.mean(auth_all):.4f}, min {np.min(auth_all):.4f}")
    print(f"clean-accuracy change (points, copy - its zoo base, averaged per seed, then over {len(seeds)} seeds): "
          f"{per_seed.mean():+.3f} +- {per_seed.std(ddof=1):.3f} (sd over seeds; per seed "
          f"{', '.join(f'{d:+.2f}' for d in per_seed)})")

    x_clean, y_clean = train.x[: args.clean], train.y[: args.clean]
    perm = torch.from_numpy(np.random.default_rng(7).permutation(len(train)))
    if args.skip_nulls:
        print("\n(--skip-nulls: no null models, so no calibration, tracing significance or attack table)")
        if args.query_modification:
            _query_modification(args, train, perm, tx, ty, x_clean, y_clean, base, copies, key_x, names, None, [])
        if args.cifar_timing:
            _cifar_timing(args, work, signer, names)
        return

    # -- null models, calibration, false claims ------------------------------------------------------------------
    n_null = args.cal_nulls + args.held_nulls
    nulls = [_cached(work / f"null{j}.safetensors", arch, lambda j=j: _null_model(
        arch, dom, j, args.keys, train, test, x_clean, y_clean, cfg)) for j in tqdm(range(n_null), desc="null models")]
    att_keys = to_model_input(make_key_set(dom, Ed25519PrivateKey.generate(), 999999, 300, args.keys).images, dom)
    att_decoys = to_model_input(decoy_bases(dom, 300, 5), dom)
    over_null = _cached(work / "null-overwritten.safetensors", arch, lambda: overwrite(
        nulls[-1], LinearHead(), x_clean, y_clean, att_keys, att_decoys, cfg))
    h_null, p_null = evidence_matrix([*nulls, over_null], LinearHead(), key_x, k_classes)
    cal = calibrate(p_null[: args.cal_nulls])
    fc = false_claim_rate(p_null[args.cal_nulls:], cal)
    print("\n[2] null models (trained from scratch with their own seeds, K+1 outputs watermarked with other owners' "
          "key sets; held-out adds an overwriting attacker's model)")
    print(f"test per user: one-sided exact Mann-Whitney rank test of the user's K+1 margins against the other "
          f"{args.users - 1} users' keys (exact under exchangeability of pool images among users), Bonferroni x "
          f"{args.users}")
    print(f"calibration nulls: {cal.n_null_models}; smallest Bonferroni p over them and all users "
          f"{cal.null_min_p:.3g} -> significant below {cal.p_threshold:.3g} (alpha {cal.alpha})")
    print(f"keys answered K+1 by the nulls: pooled rate {h_null.sum() / (h_null.size * args.keys):.3f} "
          f"(a null model answers K+1 to OOD images too, so hits alone cannot tell users apart)")
    held_min = ", ".join(f"{v:.3g}" for v in p_null[args.cal_nulls:].min(1))
    print(f"held-out nulls: smallest Bonferroni p per model {held_min}")
    print(f"false-claim rate on held-out nulls: {fc.k}/{fc.n} = {fc.rate:.3f}, one-sided 95 % Clopper-Pearson "
          f"upper bound {fc.upper:.3f}")
    reg.set_calibration(dom.name, cal.to_dict())

    # -- tracing -------------------------------------------------------------------------------------------------
    h_copies, p_copies = evidence_matrix(copies, LinearHead(), key_x, k_classes)
    print(f"\n[3] tracing: copies (rows) x users' keys (columns): keys answered K+1 of {args.keys}; * = significant")
    sig = significant(p_copies, cal)
    for i, row in enumerate(h_copies):
        print(f"{names[i]:8} " + " ".join(f"{h:>3}{'*' if s_ else ' '}" for h, s_ in zip(row, sig[i], strict=True)))
    off = ~np.eye(len(names), dtype=bool)
    print(f"diagonal only: {tracing_is_diagonal(p_copies, cal)}; largest diagonal Bonferroni p "
          f"{np.diag(p_copies).max():.3g}, smallest off-diagonal p {p_copies[off].min():.3g}")

    # -- attacks on user 0's copy --------------------------------------------------------------------------------
    victim = copies[0]
    print(f"\n[4] attacks on {names[0]}'s copy (zoo seed {copy_seed[0]}); attacker data from the training split")
    print(_row(["attack", "clean acc", "hits", "p user0", "owned", "traced to"], [34, 9, 5, 8, 6, 12]))

    def report(label: str, model: torch.nn.Module) -> None:
        hits, p = evidence_matrix([model], LinearHead(), key_x, k_classes)
        sig = significant(p[0], cal)
        traced = ",".join(names[j] for j in np.flatnonzero(sig)) or "-"
        print(_row([label, _acc(model, tx, ty), int(hits[0, 0]), f"{p[0, 0]:.2g}", str(bool(sig.any())), traced],
                   [34, 9, 5, 8, 6, 12]))

    report("none", victim)
    n_train = len(train)
    for frac in args.fractions:
        idx = perm[: int(frac * n_train)]
        for lr in args.lrs:
            report(f"fine-tune {frac:g} data, lr {lr:g}",
                   finetune(copy.deepcopy(victim), train.x[idx], train.y[idx], lr=lr, steps=args.attack_steps))
    for frac in (0.1, 0.3, 0.5, 0.7):
        pruned = copy.deepcopy(victim)
        global_magnitude_prune(pruned, frac)
        report(f"prune {frac:.0%} (global magnitude)", pruned.eval())
    idx = perm[: int(0.05 * n_train)]
    report("fine-prune 50 % fc inputs, 0.05 data",
           fine_prune(victim, "fc", train.x[idx], train.y[idx], fraction=0.5, lr=1e-3, steps=args.attack_steps))
    idx = perm[: int(0.1 * n_train)]
    report("overwrite (attacker keys as K)", overwrite(victim, LinearHead(), train.x[idx], train.y[idx], att_keys,
                                                        att_decoys, cfg))
    report("remove extra output (K outputs)", remove_extra_output(victim, LinearHead()))
    student = build_model(arch, {"num_classes": k_classes + 1})
    report("distill into fresh model, 0.1 data",
           distill(victim, student, train.x[idx], steps=args.distill_steps))

    if args.query_modification:
        _query_modification(args, train, perm, tx, ty, x_clean, y_clean, base, copies, key_x, names, cal,
                            nulls[args.cal_nulls:])

    # -- verification time of a CIFAR-10 suspect ------------------------------------------------------------------
    if args.cifar_timing:
        _cifar_timing(args, work, signer, names)


def _k1_rate(models: list[torch.nn.Module], keys: torch.Tensor, k_classes: int) -> float:
    """Mean over ``models`` of the fraction of ``keys`` answered with the extra class (nan without models)."""
    if not models:
        return float("nan")
    return float(np.mean([(predict(m, LinearHead(), keys) == k_classes).float().mean().item() for m in models]))


def _query_modification(args, train, perm, tx, ty, x_clean, y_clean, base, copies, key_x, names, cal,
                        nulls) -> None:
    """Section [5]: the query modification attack on user 0's copy and on the logo and noise baselines; what the
    answers to modified keys still tell (other users' copies, held-out null models)."""
    k_classes, vkeys, n_train, victim = 10, key_x[0], len(train), copies[0]
    idx = perm[: int(0.1 * n_train)]
    # the baselines as in the seed: backdoor-style, without the purifier augmentation of ours
    cfg = EmbedConfig(steps=args.steps, clean_batch=args.clean_batch, recon_batch=0)
    print(f"\n[5] query modification (undercomplete autoencoder, {args.ae_steps} steps on 0.1 of the training data; "
          "flagged = error above the clean 99th percentile; flagged queries replaced by their reconstruction)")
    victims = {"ours": (victim, vkeys, k_classes)}
    for kind in ("logo", "noise"):
        trig = trigger_set(kind, x_clean, y_clean, 0, args.triggers)
        victims[kind] = (embed_backdoor(base[0], LinearHead(), x_clean, y_clean, trig, 0, cfg), trig, 0)
    val = perm[int(0.1 * n_train): int(0.1 * n_train) + 2000]
    widths = [6, 10, 7, 7, 10, 9, 9]
    print(_row(["code", "watermark", "WM acc", "flagged", "WM acc mod", "clean acc", "clean mod"], widths))
    for latent in args.ae_latent:
        t0 = time.process_time()
        qm = QueryModifier.fit(train_autoencoder(train.x[idx], steps=args.ae_steps, latent=latent), train.x[val])
        t_ae = time.process_time() - t0
        x_test_mod, flagged_clean = qm(tx)
        for kind, (m, keys, target) in victims.items():
            before = float((predict(m, LinearHead(), keys) == target).float().mean())
            mod, flagged = qm(keys)
            after = float((predict(m, LinearHead(), mod) == target).float().mean())
            print(_row([latent, kind, before, float(flagged.float().mean()), after, _acc(m, tx, ty),
                        _acc(m, x_test_mod, ty)], widths))
        mod_keys = [qm(k)[0] for k in key_x]
        own = np.array([(predict(m, LinearHead(), mk) == k_classes).double().mean().item()
                        for m, mk in zip(copies, mod_keys, strict=True)])
        print(f"{'':6} code {latent}: every copy on its own user's modified keys: WM acc mod mean {own.mean():.3f}, "
              f"min {own.min():.3f}, max {own.max():.3f}; {int((own >= 0.9).sum())} of {len(own)} copies keep >= 0.90")
        print(f"{'':6} code {latent}: {names[0]}'s modified keys answered K+1 by the other users' copies: "
              f"{_k1_rate(copies[1:], mod_keys[0], k_classes):.3f} (mean over {len(copies) - 1}), by the held-out "
              f"null models: {_k1_rate(nulls, mod_keys[0], k_classes):.3f} (mean over {len(nulls)})")
        line = (f"{'':6} code {latent}: clean test queries flagged {flagged_clean.float().mean():.4f} (threshold "
                f"{qm.threshold:.3f}, standardised units squared; autoencoder {t_ae:.0f} s CPU)")
        if cal is not None:
            _, p_mod = evidence_matrix([victim], LinearHead(), mod_keys, k_classes)
            sig = significant(p_mod[0], cal)
            line += (f"; ours on every user's modified keys: Bonferroni p of {names[0]} {p_mod[0, 0]:.3g}, "
                     f"significant: {','.join(names[j] for j in np.flatnonzero(sig)) or '-'}")
        print(line)


def _cifar_timing(args: argparse.Namespace, work: Path, signer: Ed25519PrivateKey, names: list[str]) -> None:
    """Time :func:`verify_model` on a CIFAR-10 ResNet-8 with 11 outputs (verification cost does not depend on what
    the weights learnt: the zoo model widened if it is cached, else a random initialisation)."""
    print(f"\n[6] verifying a CIFAR-10 suspect: {len(names)} users x {args.keys} keys")
    work = Path(tempfile.mkdtemp(prefix="cifar-timing-", dir=work))
    reg = Registry(work / "registry.sqlite")
    pin_owner(reg, signer)
    dom = get_domain("cifar10")
    t0 = time.perf_counter()
    for n in names:
        ensure_key_set(reg, reg.add_user(n), dom, signer, args.keys)
    t_keys = time.perf_counter() - t0
    path = zoo_path("resnet8", 0)
    if path.is_file():
        model, source = LinearHead().widen(load_checkpoint(path)[0]), "zoo ResNet-8 seed 0 widened to 11 outputs"
    else:
        torch.manual_seed(0)
        model, source = build_model("resnet8", {"num_classes": 11}), "random ResNet-8 (zoo resnet8 not built)"
    suspect = save_checkpoint(work / "cifar-suspect.safetensors", model.eval(), arch="resnet8",
                              config={"num_classes": 11}, extra={"dataset": "cifar10"})
    calibrate_registry(reg, [suspect])  # a threshold so verify can run; this figure is timing only
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        verify_model(reg, suspect)
        times.append(time.perf_counter() - t0)
    print(f"suspect: {source}; key sets made in {t_keys:.1f} s (once per user and domain)")
    print(f"verify (load + hash check, {len(names) * args.keys} key-file hash and signature checks, "
          f"{len(names) * args.keys} queries, statistics): median {np.median(times):.2f} s, max {max(times):.2f} s "
          f"over 3 runs on {args.threads} thread(s)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.dnnsec_watermark", description=__doc__.split("\n\n")[0],
                                epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=sorted(ARCH), nargs="+", default=["mnist", "cifar10"],
                   help="data sets, benchmarked in turn")
    p.add_argument("--users", type=int, default=10, help="registered users, one issued copy each")
    p.add_argument("--cifar-users", type=int, default=3,
                   help="users (copies) on CIFAR-10: one per zoo seed by default, each copy about 6 CPU minutes")
    p.add_argument("--cifar-clean", type=int, default=50000,
                   help="clean training samples used while embedding on CIFAR-10 (all of them by default: the "
                        "copies are fine-tuned without augmentation and overfit a subset)")
    p.add_argument("--cifar-nulls", action="store_true",
                   help="also train CIFAR-10 null models from scratch (about 15 CPU minutes each); without it the "
                        "CIFAR-10 run issues copies and runs the query modification attack only")
    p.add_argument("--keys", type=int, default=20, help="key images per user")
    p.add_argument("--steps", type=int, default=EmbedConfig.steps, help="embedding fine-tuning steps")
    p.add_argument("--clean-batch", type=int, default=80, help="clean samples per embedding batch")
    p.add_argument("--clean", type=int, default=20000, help="clean training samples used while embedding")
    p.add_argument("--cal-nulls", type=int, default=4, help="calibration null models")
    p.add_argument("--held-nulls", type=int, default=4, help="held-out null models (plus one overwriting attacker's)")
    p.add_argument("--test", type=int, default=10000, help="test samples for clean accuracy")
    p.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.05, 0.1], help="fine-tuning data fractions")
    p.add_argument("--lrs", type=float, nargs="+", default=[3e-4, 3e-3], help="fine-tuning learning rates (Adam)")
    p.add_argument("--attack-steps", type=int, default=200, help="steps of every fine-tuning attack")
    p.add_argument("--distill-steps", type=int, default=400, help="distillation steps")
    p.add_argument("--ae-steps", type=int, default=1500, help="autoencoder training steps")
    p.add_argument("--ae-latent", type=int, nargs="+", default=[32, 128],
                   help="numbers in the autoencoder's code (bottleneck), one attack per value")
    p.add_argument("--no-query-modification", dest="query_modification", action="store_false",
                   help="skip the query modification attack (its baselines cost two more embeddings)")
    p.add_argument("--triggers", type=int, default=100, help="trigger images of each baseline watermark")
    p.add_argument("--no-cifar-timing", dest="cifar_timing", action="store_false",
                   help="skip timing the verification of a CIFAR-10 ResNet-8 suspect")
    p.add_argument("--skip-nulls", action="store_true",
                   help="issue the copies and run the query modification attack only (no null models: CIFAR-10 "
                        "nulls trained from scratch cost about 15 CPU minutes each)")
    p.add_argument("--work", type=Path, default=None,
                   help="work folder to keep (and reuse) copies and nulls (one sub-folder per data set)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--cifar-timing-only", action="store_true", help="only time the CIFAR-10 verification")
    args = p.parse_args(argv)
    if args.cifar_timing_only:
        torch.set_num_threads(args.threads)
        work = Path(tempfile.mkdtemp(prefix="dnnsec-wm-bench-"))
        _cifar_timing(args, work, Ed25519PrivateKey.generate(), [f"user{i:02d}" for i in range(args.users)])
        return 0
    for dataset in args.dataset:
        cifar = dataset == "cifar10"
        run(argparse.Namespace(**{
            **vars(args), "dataset": dataset,
            "users": args.cifar_users if cifar else args.users,
            "clean": args.cifar_clean if cifar else args.clean,
            "skip_nulls": args.skip_nulls or (cifar and not args.cifar_nulls),
            "cifar_timing": args.cifar_timing and dataset == args.dataset[-1],
            "work": args.work / dataset if args.work else None}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
