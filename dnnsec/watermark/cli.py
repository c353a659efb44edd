"""``dnnsec users``, ``dnnsec issue``, ``dnnsec nulls``, ``dnnsec calibrate`` and ``dnnsec verify``: fingerprinted
copies per user.

No command overwrites an existing output unless ``--force`` is given; user names (they become file names) are
plain identifiers of at most 64 characters.

Method: Xue et al., "Protecting the intellectual properties of deep neural networks with an additional class and
steganographic images", arXiv:2104.09203.

The root group (:mod:`dnnsec.cli`) imports this module for ``dnnsec --help``, so torch and the modules that need it
(the watermark service, the owner-key and domain helpers) are imported inside the commands; errors end in the
group's one error path (:mod:`shared.cli`).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

import click

from dnnsec.errors import ModelError
from dnnsec.watermark.config import EmbedConfig
from dnnsec.watermark.registry import Registry, default_registry_path
from shared.cli import CommandGroup
from shared.errors import EXIT_NEGATIVE, EXIT_OK

_registry_option = click.option(
    "--registry", "registry", type=click.Path(path_type=Path), default=None,
    help="Registry database (default: env DNNSEC_REGISTRY, else ~/.cache/amt-dnnsec/watermark/registry.sqlite).")


def _open(registry: Path | None, create: bool = True) -> Registry:
    return Registry(registry or default_registry_path(), create=create)


def _threads() -> None:
    import torch

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@click.group(cls=CommandGroup)
def users() -> None:
    """Registered users of fingerprinted model copies.

    \b
    Examples:
      dnnsec users add alice
      dnnsec users list --registry owner.sqlite
      dnnsec users check --registry owner.sqlite
    """


@users.command("add")
@click.argument("name")
@_registry_option
def users_add(name: str, registry: Path | None) -> None:
    """Register user NAME (their key images are made when a copy is first issued in a domain).

    \b
    Examples:
      dnnsec users add alice
      DNNSEC_REGISTRY=owner.sqlite dnnsec users add bob
    """
    user = _open(registry).add_user(name)
    click.echo(f"added user {user.name!r} (id {user.id}, base-image slot {user.slot})")


@users.command("list")
@_registry_option
def users_list(registry: Path | None) -> None:
    """List users, their key-set fingerprints per domain and the copies issued to them.

    \b
    Examples:
      dnnsec users list
    """
    reg = _open(registry, create=False)
    rows, copies = reg.users(), reg.copies()
    click.echo(f"{'id':>4} {'name':20} {'slot':>4} {'copies':>6}  key-set fingerprints")
    for u in rows:
        fps = [f"{d}:{fp[:16]}" for d in reg.key_set_domains(u.id) if (fp := reg.key_fingerprint(u.id, d))]
        n = sum(c.user == u.name for c in copies)
        click.echo(f"{u.id:>4} {u.name:20} {u.slot:>4} {n:>6}  {' '.join(fps) or '-'}")


@users.command("check")
@click.option("--owner-key", type=click.Path(path_type=Path), default=None,
              help="Owner public key (default: the one pinned in the registry).")
@_registry_option
def users_check(owner_key: Path | None, registry: Path | None) -> None:
    """Check every registered key image: present, hash as registered, fingerprint signed by the owner.

    Exit status 0 when all hold; 2 naming the first bad file otherwise.

    \b
    Examples:
      dnnsec users check
      dnnsec users check --registry owner.sqlite --owner-key owner.pub
    """
    from dnnsec.package.signing import load_public_key
    from dnnsec.watermark.service import audit_registry

    reg = _open(registry, create=False)
    checked = audit_registry(reg, load_public_key(owner_key) if owner_key else None)
    for name, domains in checked.items():
        click.echo(f"{name:20} {', '.join(domains) or '-'}")
    click.echo(f"all key images of {len(checked)} users match the registry and the owner's signature")


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--user", "user", required=True, help="Registered user the copy is issued to.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Copy checkpoint (.safetensors).")
@click.option("--sign-key", required=True, type=click.Path(path_type=Path),
              help="Owner's Ed25519 private key (PEM; password from DNNSEC_SIGN_KEY_PASSWORD).")
@click.option("--domain", default=None, help="Watermark domain: mnist (upside-down digit keys), mnist-photos "
              "(photograph keys), cifar10, texture28, npz-HxWxC (default: the model's data set; for a .npz data "
              "set the domain of its image shape).")
@click.option("--data", default=None, help="Clean fine-tuning data: mnist, cifar10, a .npz image data set "
              "(train_images, train_labels, test_images, test_labels) or a .safetensors file with x, y.")
@click.option("--keys", "n_keys", type=click.IntRange(1, 1000), default=None,
              help="Key images per user; fixed by a domain's first key set (default: that count, else 20).")
@click.option("--force", is_flag=True, help="Overwrite an existing --out.")
@click.option("--samples", default=20000, show_default=True, help="Clean samples used while fine-tuning.")
@click.option("--steps", default=EmbedConfig.steps, show_default=True, help="Fine-tuning steps.")
@click.option("--lr", default=EmbedConfig.lr, show_default=True, help="Fine-tuning peak learning rate (Adam).")
@click.option("--purifier-steps", default=EmbedConfig.purifier_steps, show_default=True,
              help="Training steps of each of the owner's purifier autoencoders (the defence against the query "
                   "modification attack, image models only); 0 turns it off.")
@click.option("--seed", type=int, default=None, help="Fine-tuning seed (default: the user's id); a second copy for "
              "the same user needs another seed.")
@_registry_option
def issue(model: Path, user: str, out: Path, sign_key: Path, domain: str | None, data: str | None,
          n_keys: int | None, force: bool, samples: int, steps: int, lr: float, purifier_steps: int,
          seed: int | None, registry: Path | None) -> None:
    """Issue USER a fingerprinted copy of checkpoint MODEL with an additional (K+1)-th class.

    Every registered user gets a key set for the domain if they lack one; the copy answers K+1 to USER's keys and
    is trained to refuse the other users' keys. The copy's weights hash is recorded in the registry, in the same
    transaction that moves the copy onto --out (never over an existing file without --force). Progress bars on
    stderr: key sets, purifier autoencoders, fine-tuning.

    \b
    Examples:
      dnnsec issue ~/.cache/amt-dnnsec/zoo/mnist_cnn-seed0.safetensors --user alice --out alice.safetensors \\
          --sign-key owner.key
      dnnsec issue model.safetensors --user bob --out bob2.safetensors --sign-key owner.key --seed 7
      dnnsec issue signs.safetensors --data signs.npz --user carol --out carol.safetensors --sign-key owner.key
      dnnsec issue model.safetensors --user bob --out bob2.safetensors --sign-key owner.key --seed 8 --force
    """
    from dnnsec.package.signing import load_private_key
    from dnnsec.watermark.service import issue_copy

    _threads()
    reg = _open(registry)
    signer = load_private_key(sign_key, os.environ.get("DNNSEC_SIGN_KEY_PASSWORD"))
    cfg = EmbedConfig(steps=steps, lr=lr, purifier_steps=purifier_steps,
                      seed=reg.user(user).id if seed is None else seed)
    res = issue_copy(reg, model, user, out, signer, domain=domain, data=data, n_clean=samples, n_keys=n_keys,
                     cfg=cfg, progress=True, force=force)
    click.echo(f"issued copy {res.record.id} to {user!r}: {res.record.path} (sha256 {res.record.model_sha256[:16]}...)"
               f", {res.steps} steps, {res.n_positive} own keys, {res.n_negative} negatives")


def _nulls_folder(reg: Registry, domain: str) -> Path:
    return reg.folder / "nulls" / domain


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--count", "-n", "count", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="Null models to train.")
@click.option("--out-dir", type=click.Path(path_type=Path), default=None,
              help="Folder for null-NNN.safetensors (default: the registry's nulls/<domain> folder, where "
                   "`dnnsec calibrate` looks without arguments).")
@click.option("--domain", default=None, help="Watermark domain (default: as `dnnsec issue` picks it).")
@click.option("--data", default=None, help="Clean fine-tuning data (default: the model's data set).")
@click.option("--keys", "n_keys", type=click.IntRange(1, 1000), default=None,
              help="Key images per null model (default: the domain's count in the registry, else 20).")
@click.option("--samples", default=20000, show_default=True, help="Clean samples used while fine-tuning.")
@click.option("--steps", default=EmbedConfig.steps, show_default=True, help="Fine-tuning steps (as for copies).")
@click.option("--lr", default=EmbedConfig.lr, show_default=True, help="Fine-tuning peak learning rate (Adam).")
@click.option("--purifier-steps", default=EmbedConfig.purifier_steps, show_default=True,
              help="Training steps of each purifier autoencoder (as for copies); 0 turns it off.")
@click.option("--seed", default=1_000_000, show_default=True, help="Seed of the first null model (then +1 each).")
@click.option("--force", is_flag=True, help="Overwrite existing null models.")
@_registry_option
def nulls(model: Path, count: int, out_dir: Path | None, domain: str | None, data: str | None,
          n_keys: int | None, samples: int, steps: int, lr: float, purifier_steps: int, seed: int, force: bool,
          registry: Path | None) -> None:
    """Train COUNT null models from checkpoint MODEL for `dnnsec calibrate`.

    Each is MODEL fine-tuned as `dnnsec issue` fine-tunes a copy (same data, steps and purifiers), with an
    additional class of its own on a key set signed by a throw-away owner key: a K+1-output model that is not
    ours. Use the settings the copies were issued with. Progress bars on stderr.

    \b
    Examples:
      dnnsec nulls ~/.cache/amt-dnnsec/zoo/mnist_cnn-seed1.safetensors --count 5
      dnnsec calibrate                                  # uses the registry's nulls/<domain> folder
      dnnsec nulls model.safetensors -n 3 --out-dir nulls/ --steps 300 --purifier-steps 0
      dnnsec calibrate nulls/
    """
    from dnnsec.watermark.service import make_null_models, model_domain
    from shared.checkpoint import read_sidecar

    _threads()
    dom = model_domain(read_sidecar(model), domain, model, data)
    found = out_dir is None or (registry or default_registry_path()).is_file()
    reg = _open(registry, create=False) if found else None
    n_keys = n_keys or (reg.domain_key_count(dom.name) if reg else None) or 20
    folder = out_dir or _nulls_folder(reg, dom.name)
    made = make_null_models(model, folder, count, domain=dom.name, data=data, n_clean=samples, n_keys=n_keys,
                            cfg=EmbedConfig(steps=steps, lr=lr, purifier_steps=purifier_steps), seed=seed,
                            progress=True, force=force)
    click.echo(f"wrote {len(made)} null models ({dom.name}, {n_keys} keys each) to {folder}; next: "
               f"dnnsec calibrate {folder}")


@click.command()
@click.argument("null_models", metavar="NULLS", nargs=-1, type=click.Path(path_type=Path))
@click.option("--domain", default=None, help="Watermark domain (default: the models' data set).")
@click.option("--alpha", default=0.01, show_default=True, help="Family-wise level over users (Bonferroni).")
@click.option("--owner-key", type=click.Path(path_type=Path), default=None,
              help="Owner public key (default: the one pinned in the registry).")
@_registry_option
def calibrate(null_models: tuple[Path, ...], domain: str | None, alpha: float, owner_key: Path | None,
              registry: Path | None) -> None:
    """Fix the verification threshold on NULLS: K+1-output models that are not copies of ours.

    NULLS are checkpoints or folders of null-*.safetensors; without them, the registry's nulls/<domain> folder
    that `dnnsec nulls` fills (with several domains there, pass --domain). Progress bar on stderr.

    \b
    Examples:
      dnnsec nulls model.safetensors --count 5 && dnnsec calibrate
      dnnsec calibrate null-*.safetensors
      dnnsec calibrate nulls/ --alpha 0.05
    """
    from dnnsec.package.signing import load_public_key
    from dnnsec.watermark.service import calibrate_registry

    _threads()
    reg = _open(registry, create=False)
    paths = list(null_models)
    if not paths:
        root = reg.folder / "nulls"
        found = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        if domain is None and len(found) != 1:
            why = (f"holds null models of {', '.join(found)}; pass --domain" if found else
                   "no null models; make them with `dnnsec nulls MODEL` or pass their files")
            raise ModelError(f"{root}: {why}")
        paths = [_nulls_folder(reg, domain or found[0])]
    key = load_public_key(owner_key) if owner_key else None
    cal = calibrate_registry(reg, paths, domain=domain, alpha=alpha, owner=key, progress=True)
    click.echo(f"threshold: Bonferroni p < {cal.p_threshold:.3g} (alpha {cal.alpha}; smallest p of "
               f"{cal.n_null_models} null model(s): {cal.null_min_p:.3g})")


@click.command()
@click.argument("suspect", type=click.Path(path_type=Path))
@click.option("--domain", default=None, help="Watermark domain (default: the suspect's data set).")
@click.option("--owner-key", type=click.Path(path_type=Path), default=None,
              help="Owner public key (default: the one pinned in the registry).")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@_registry_option
def verify(suspect: Path, domain: str | None, owner_key: Path | None, as_json: bool, registry: Path | None) -> None:
    """Verify SUSPECT: is it our model, which user's copy is it, and on what evidence.

    Exit status 0 when ownership is shown, 1 when not, 2 on errors.

    \b
    Examples:
      dnnsec verify leaked.safetensors
      dnnsec verify leaked.safetensors --json
    """
    from dnnsec.package.signing import load_public_key
    from dnnsec.watermark.service import verify_model

    _threads()
    reg = _open(registry, create=False)
    v = verify_model(reg, suspect, domain=domain, owner=load_public_key(owner_key) if owner_key else None)
    if as_json:
        click.echo(json.dumps({"owned": v.owned, "user": v.user, "significant": v.significant,
                               "exact_copy": asdict(v.exact_copy) if v.exact_copy else None,
                               "outputs": v.outputs, "base_classes": v.base_classes,
                               "calibration": v.calibration.to_dict(),
                               "evidence": [asdict(e) for e in v.evidence]}, indent=2))
    else:
        click.echo(f"suspect {suspect} ({v.domain}, {v.outputs} outputs, sha256 {v.model_sha256[:16]}...)")
        if v.exact_copy is not None:
            click.echo(f"exact weights match: copy {v.exact_copy.id} issued to {v.exact_copy.user!r}")
        if v.outputs <= v.base_classes:
            click.echo(f"the suspect has no output {v.base_classes}: it cannot answer the additional class")
        c = v.calibration
        click.echo(f"test: one-sided exact Mann-Whitney rank test of each user's K+1 margins against the other users' "
                   f"keys (exchangeable under the null), Bonferroni x {len(v.evidence)}; significant below "
                   f"{c.p_threshold:.3g} (calibrated on {c.n_null_models} null models, alpha {c.alpha})")
        click.echo(f"{'user':20} {'answered K+1':>12} {'p x users':>10}  significant")
        for e in v.evidence:
            click.echo(f"{e.user:20} {e.hits:>6} / {e.n_keys:<3} {e.p_bonferroni:>10.2e}  "
                       f"{'YES' if e.significant else 'no'}")
        verdict = ("OWNED: copy of user " + repr(v.user) if v.user else
                   "OWNED, but several users are significant: " + ", ".join(v.significant) if v.owned else
                   "NOT SHOWN to be ours")
        click.echo(f"verdict: {verdict}")
    sys.exit(EXIT_OK if v.owned else EXIT_NEGATIVE)
