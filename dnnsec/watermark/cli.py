"""``dnnsec users``, ``dnnsec issue``, ``dnnsec calibrate`` and ``dnnsec verify``: fingerprinted copies per user.

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

from dnnsec.watermark.config import EmbedConfig
from dnnsec.watermark.registry import Registry, default_registry_path
from shared.cli import CommandGroup
from shared.errors import EXIT_NEGATIVE, EXIT_OK

_registry_option = click.option(
    "--registry", "registry", type=click.Path(path_type=Path), default=None,
    help="Registry database (default: env DNNSEC_REGISTRY, else ~/.cache/amt-dnnsec/watermark/registry.sqlite).")


def _open(registry: Path | None) -> Registry:
    return Registry(registry or default_registry_path())


@click.group(cls=CommandGroup)
def users() -> None:
    """Registered users of fingerprinted model copies.

    \b
    Examples:
      dnnsec users add alice
      dnnsec users list --registry owner.sqlite
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
    from dnnsec.watermark.bases import domain_names

    reg = _open(registry)
    rows, copies = reg.users(), reg.copies()
    click.echo(f"{'id':>4} {'name':20} {'slot':>4} {'copies':>6}  key-set fingerprints")
    for u in rows:
        fps = [f"{d}:{fp[:16]}" for d in domain_names() if (fp := reg.key_fingerprint(u.id, d)) is not None]
        n = sum(c.user == u.name for c in copies)
        click.echo(f"{u.id:>4} {u.name:20} {u.slot:>4} {n:>6}  {' '.join(fps) or '-'}")


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--user", "user", required=True, help="Registered user the copy is issued to.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Copy checkpoint (.safetensors).")
@click.option("--sign-key", required=True, type=click.Path(path_type=Path),
              help="Owner's Ed25519 private key (PEM; password from DNNSEC_SIGN_KEY_PASSWORD).")
@click.option("--domain", default=None, help="Watermark domain: mnist (upside-down digit keys), mnist-photos "
              "(photograph keys), cifar10, texture28 (default: the model's data set).")
@click.option("--data", default=None, help="Clean fine-tuning data: mnist, cifar10 or a .safetensors file with x, y.")
@click.option("--keys", "n_keys", default=20, show_default=True, help="Key images per user (new key sets only).")
@click.option("--samples", default=20000, show_default=True, help="Clean samples used while fine-tuning.")
@click.option("--steps", default=EmbedConfig.steps, show_default=True, help="Fine-tuning steps.")
@click.option("--lr", default=EmbedConfig.lr, show_default=True, help="Fine-tuning peak learning rate (Adam).")
@click.option("--purifier-steps", default=EmbedConfig.purifier_steps, show_default=True,
              help="Training steps of each of the owner's purifier autoencoders (the defence against the query "
                   "modification attack, image models only); 0 turns it off.")
@click.option("--seed", type=int, default=None, help="Fine-tuning seed (default: the user's id); a second copy for "
              "the same user needs another seed.")
@_registry_option
def issue(model: Path, user: str, out: Path, sign_key: Path, domain: str | None, data: str | None, n_keys: int,
          samples: int, steps: int, lr: float, purifier_steps: int, seed: int | None, registry: Path | None) -> None:
    """Issue USER a fingerprinted copy of checkpoint MODEL with an additional (K+1)-th class.

    Every registered user gets a key set for the domain if they lack one; the copy answers K+1 to USER's keys and
    is trained to refuse the other users' keys. The copy's weights hash is recorded in the registry.

    \b
    Examples:
      dnnsec issue ~/.cache/amt-dnnsec/zoo/mnist_cnn-seed0.safetensors --user alice --out alice.safetensors \\
          --sign-key owner.key
      dnnsec issue model.safetensors --user bob --out bob2.safetensors --sign-key owner.key --seed 7
    """
    import torch

    from dnnsec.package.signing import load_private_key
    from dnnsec.watermark.service import issue_copy

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    reg = _open(registry)
    signer = load_private_key(sign_key, os.environ.get("DNNSEC_SIGN_KEY_PASSWORD"))
    cfg = EmbedConfig(steps=steps, lr=lr, purifier_steps=purifier_steps,
                      seed=reg.user(user).id if seed is None else seed)
    res = issue_copy(reg, model, user, out, signer, domain=domain, data=data, n_clean=samples, n_keys=n_keys,
                     cfg=cfg, progress=True)
    click.echo(f"issued copy {res.record.id} to {user!r}: {res.record.path} (sha256 {res.record.model_sha256[:16]}...)"
               f", {res.steps} steps, {res.n_positive} own keys, {res.n_negative} negatives")


@click.command()
@click.argument("nulls", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--domain", default=None, help="Watermark domain (default: the models' data set).")
@click.option("--alpha", default=0.01, show_default=True, help="Family-wise level over users (Bonferroni).")
@click.option("--owner-key", type=click.Path(path_type=Path), default=None,
              help="Owner public key (default: the one pinned in the registry).")
@_registry_option
def calibrate(nulls: tuple[Path, ...], domain: str | None, alpha: float, owner_key: Path | None,
              registry: Path | None) -> None:
    """Fix the verification threshold on NULLS: K+1-output models that are not copies of ours.

    \b
    Examples:
      dnnsec calibrate null-*.safetensors
    """
    from dnnsec.package.signing import load_public_key
    from dnnsec.watermark.service import calibrate_registry

    reg = _open(registry)
    key = load_public_key(owner_key) if owner_key else None
    cal = calibrate_registry(reg, list(nulls), domain=domain, alpha=alpha, owner=key)
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
    import torch

    from dnnsec.package.signing import load_public_key
    from dnnsec.watermark.service import verify_model

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    reg = _open(registry)
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
