"""The ``dnnsec`` command line: the model zoo and AdvParams protected-model packages.

Method: Xue et al., "AdvParams: An Active DNN Intellectual Property Protection Technique via Adversarial
Perturbation Based Parameter Encryption", IEEE TETC. The protection is measured empirically, not
cryptographically: it stops people without a key; leaks by key holders are the fingerprints' job.

The root group is a :class:`shared.cli.CommandGroup`: the fingerprint watermark commands (:mod:`dnnsec.watermark.cli`)
are imported only when used, and any :class:`~dnnsec.errors.DnnsecError` (or other domain error, or ``OSError``)
ends in one ``error: <message>`` line and exit status 2. ``dnnsec --help`` lists every command, so this module and
the watermark one import torch and the modules that need it (zoo, package, protection) inside the commands.
"""

from __future__ import annotations

import functools
import json
import math
import os
from pathlib import Path

import click

from dnnsec.errors import ModelError
from shared.atomic import write_bytes_atomic
from shared.cli import CommandGroup

#: Subcommand name -> "module:click command" of the fingerprint watermark commands (imported only when used).
WATERMARK_COMMANDS: dict[str, str] = {
    "users": "dnnsec.watermark.cli:users",
    "issue": "dnnsec.watermark.cli:issue",
    "calibrate": "dnnsec.watermark.cli:calibrate",
    "nulls": "dnnsec.watermark.cli:nulls",
    "verify": "dnnsec.watermark.cli:verify",
    "attack": "dnnsec.backdoor.cli:attack",
    "defend": "dnnsec.defence.cli:defend",
}


@click.group(cls=CommandGroup, lazy=WATERMARK_COMMANDS)
def main() -> None:
    """DNN IP protection and security tools (model zoo, AdvParams encryption).

    \b
    Examples:
      dnnsec zoo build --arch mnist_cnn --seeds 0,1,2
      dnnsec keygen --out alice
      dnnsec encrypt model.safetensors --out model.dnnpkg --key model.key --sign-key alice.key --owner alice
      dnnsec inspect model.dnnpkg --owner-key alice.pub
      dnnsec decrypt model.dnnpkg --key model.key --owner-key alice.pub --out restored.safetensors
    """
    import dnnsec.zoo.models  # noqa: F401  (registers the zoo architectures; here, not on top: keeps torch out of --help)


@main.group(cls=CommandGroup, epilog="Examples:\n\n  dnnsec zoo build --arch mnist_cnn --seeds 0,1,2\n\n"
            "  dnnsec zoo build --arch resnet8 --seeds 0 --force")
def zoo() -> None:
    """The seeded set of trained models cached under the AMT_DNNSEC_CACHE folder."""


@zoo.command("build")
@click.option("--arch", "archs", default="mnist_cnn,resnet8,resnet20", show_default=True,
              help="Comma-separated zoo architectures (mnist_cnn, resnet8, resnet20).")
@click.option("--seeds", default="0,1,2", show_default=True, help="Comma-separated training seeds.")
@click.option("--force", is_flag=True, help="Retrain even if cached.")
@click.option("--threads", default=1, show_default=True, help="torch CPU threads.")
def zoo_build(archs: str, seeds: str, force: bool, threads: int) -> None:
    """Train (or find cached) zoo models and print their test accuracy and CPU time.

    \b
    Examples:
      dnnsec zoo build                       # MNIST CNN, ResNet-8 and ResNet-20, seeds 0,1,2
      dnnsec zoo build --arch resnet20 --seeds 0
    CPU time per seed on one thread (measured while other jobs shared the 2 cores): MNIST CNN (2 epochs) ~1.5 min,
    ResNet-8 (10 epochs) ~16 min, ResNet-20 (5 epochs) ~20 min. Each sidecar records its model's CPU time.
    """
    import torch

    from dnnsec.zoo.build import build_zoo

    torch.set_num_threads(threads)
    records = build_zoo([a.strip() for a in archs.split(",") if a.strip()],
                        [int(s) for s in seeds.split(",") if s.strip()], force=force, echo=click.echo)
    click.echo(f"{'arch':10} {'seed':>4} {'test acc':>8} {'CPU min':>8}  cached")
    for r in records:
        click.echo(f"{r['arch']:10} {r['seed']:>4} {r['test_accuracy']:>8.4f} {r['cpu_seconds'] / 60:>8.1f}  "
                   f"{r['cached']}")
    total = sum(r["cpu_seconds"] for r in records)
    click.echo(f"total training CPU time of these models: {total / 60:.1f} min")


def _password(value: str | None, ask: bool, confirm: bool) -> str | None:
    if ask:
        return click.prompt("key-file password", hide_input=True, confirmation_prompt=confirm)
    return value


def _owner_key(package: Path, owner_key: Path | None):
    """The owner public key: the file given, else the keyring entry of the owner the package names (unverified)."""
    from dnnsec.package.protected import package_owner_key

    return package_owner_key(package, owner_key)


@main.command()
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="Prefix: writes PREFIX.key and PREFIX.pub.")
@click.option("--pin", "pin", default=None, help="Also pin the public key in the keyring under this owner name "
              "(a plain name: letters, digits, '_', '.', '-').")
@click.option("--force", is_flag=True, help="Replace existing key files (and an existing pin): the old private key "
              "is lost.")
def keygen(out: Path, pin: str | None, force: bool) -> None:
    """Create an owner's Ed25519 signing key pair (private key mode 0600).

    With DNNSEC_SIGN_KEY_PASSWORD set, the private key is sealed with that password (scrypt n=2^17, r=8, p=1 and
    AES-256-GCM; about 0.5 s to open). Existing key files and pins are never replaced without --force.

    \b
    Examples:
      dnnsec keygen --out alice
      dnnsec keygen --out alice --pin alice     # also copy alice.pub to the keyring as alice.pub
    """
    from dnnsec.package.outputs import check_outputs, check_plain_name
    from dnnsec.package.signing import generate_owner_keys, keyring_entry

    private, public = out.with_name(out.name + ".key"), out.with_name(out.name + ".pub")
    pinned = keyring_entry(check_plain_name(pin, "--pin")) if pin is not None else None
    check_outputs([private, public, *([pinned] if pinned else [])], force=force)
    fp = generate_owner_keys(private, public, os.environ.get("DNNSEC_SIGN_KEY_PASSWORD"), force=force)
    click.echo(f"wrote {private} (private) and {public} (public), fingerprint {fp}")
    if pinned is not None:
        write_bytes_atomic(pinned, public.read_bytes())
        click.echo(f"pinned as owner {pin!r}: {pinned}")


@main.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Package file to write.")
@click.option("--key", "key", required=True, type=click.Path(path_type=Path), help="Key file to write.")
@click.option("--sign-key", required=True, type=click.Path(path_type=Path), help="Owner's Ed25519 private key (PEM).")
@click.option("--owner", default=None, help="Owner name in the package (default: the sign-key file's stem).")
@click.option("--data", default=None, help="mnist, cifar10 or a .safetensors file with x, y "
              "(default: the checkpoint's training data set).")
@click.option("--samples", default=512, show_default=True, help="Training samples that guide the search.")
@click.option("--n-params", default=50, show_default=True, help="Most parameters to perturb.")
@click.option("--seed", default=0, show_default=True, help="Seed of the sample subset.")
@click.option("--segmenter", is_flag=True, help="MODEL is a binary per-sample segmenter (output (N, 1, T) logits, "
              "--data labels (N, T) in {0, 1}), not a classifier.")
@click.option("--threshold", default=0.5, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="With --segmenter: the probability at which the model decides 'positive'.")
@click.option("--password", envvar="DNNSEC_KEY_PASSWORD", default=None, help="Seal the key file with this password "
              "(or env DNNSEC_KEY_PASSWORD).")
@click.option("--ask-password", is_flag=True, help="Prompt for the key-file password.")
@click.option("--force", is_flag=True, help="Replace an existing package or key file (never the model itself).")
def encrypt(model: Path, out: Path, key: Path, sign_key: Path, owner: str | None, data: str | None, samples: int,
            n_params: int, seed: int, segmenter: bool, threshold: float, password: str | None,
            ask_password: bool, force: bool) -> None:
    """Encrypt checkpoint MODEL (AdvParams) into a signed package and a separate key file.

    The search shows a progress bar on stderr. A sealed key file uses scrypt n=2^17, r=8, p=1 (about 0.5 s).
    Existing outputs are replaced only with --force; an output that is an input is always refused.

    \b
    Examples:
      dnnsec encrypt ~/.cache/amt-dnnsec/zoo/mnist_cnn-seed0.safetensors --out cnn.dnnpkg --key cnn.key \\
          --sign-key alice.key --owner alice
      dnnsec encrypt sferic.safetensors --data windows.safetensors --segmenter --threshold 0.3 \\
          --out s.dnnpkg --key s.key --sign-key alice.key --ask-password
    """
    import torch

    from dnnsec.package.outputs import PLAIN_NAME, check_outputs, check_plain_name
    from dnnsec.package.protected import encrypt_checkpoint
    from dnnsec.package.signing import load_private_key
    from dnnsec.protect.advparams import binary_segmenter_decisions, classifier_decisions
    from dnnsec.zoo.data import load_samples
    from shared.checkpoint import read_sidecar, sidecar_path

    owner = check_plain_name(owner or sign_key.stem, "owner name (--owner, or the sign-key file's stem)")
    data_file = Path(data) if data and Path(data).exists() else None
    check_outputs([out, key], [model, sidecar_path(model), sign_key, data_file], force=force)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    source = data
    if not source:
        source = (read_sidecar(model).get("extra") or {}).get("dataset")
        if not source:
            raise ModelError(f"{model}: checkpoint names no training data set; pass --data")
        if not PLAIN_NAME.fullmatch(source) or ".." in source:
            raise ModelError(f"{sidecar_path(model)}: sidecar field 'extra.dataset' names the file {source!r:.80}; "
                             "a checkpoint does not choose files to read: pass --data explicitly")
    x, y = load_samples(source, samples, seed, label_ndim=2 if segmenter else 1)
    decisions = classifier_decisions
    if segmenter:
        logit = math.log(threshold / (1 - threshold))
        decisions = functools.partial(binary_segmenter_decisions, threshold_logit=logit)
    signer = load_private_key(sign_key, os.environ.get("DNNSEC_SIGN_KEY_PASSWORD"))
    report = encrypt_checkpoint(model, package_out=out, key_out=key, signer=signer,
                                owner=owner, x=x, y=y, n_params=n_params,
                                password=_password(password, ask_password, True), decisions=decisions,
                                force=force)
    click.echo(f"package {report.package} (id {report.package_id}), key {report.key}")
    click.echo(f"encrypted {report.n_encrypted} of {report.n_parameters} parameters "
               f"({100 * report.fraction_encrypted:.5f} %); search-batch accuracy "
               f"{100 * report.accuracy_before:.1f} % -> {100 * report.accuracy_after:.1f} % in {report.seconds:.1f} s")


@main.command()
@click.argument("package", type=click.Path(path_type=Path))
@click.option("--key", "key", required=True, type=click.Path(path_type=Path), help="The package's key file.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="Checkpoint to write (.safetensors).")
@click.option("--owner-key", type=click.Path(path_type=Path), default=None,
              help="Pinned owner public key (PEM); default: the keyring entry of the package's owner.")
@click.option("--password", envvar="DNNSEC_KEY_PASSWORD", default=None, help="Key-file password "
              "(or env DNNSEC_KEY_PASSWORD).")
@click.option("--ask-password", is_flag=True, help="Prompt for the key-file password.")
@click.option("--force", is_flag=True, help="Replace an existing checkpoint at --out (never an input).")
def decrypt(package: Path, key: Path, out: Path, owner_key: Path | None, password: str | None,
            ask_password: bool, force: bool) -> None:
    """Verify PACKAGE against the pinned owner key and restore the exact model with its key file.

    The key file must be the one the owner signed into PACKAGE, and the restored weights must hash to the original
    model's hash in PACKAGE's signed header; otherwise nothing is written. The checkpoint keeps the original's
    metadata (its data set, ...). An existing --out is replaced only with --force.

    \b
    Examples:
      dnnsec decrypt cnn.dnnpkg --key cnn.key --owner-key alice.pub --out cnn.safetensors
      DNNSEC_KEYRING=~/owners dnnsec decrypt cnn.dnnpkg --key cnn.key --out cnn.safetensors --ask-password
    """
    from dnnsec.package.protected import decrypt_package

    path = decrypt_package(package, key_path=key, out=out, owner_key=_owner_key(package, owner_key),
                           password=_password(password, ask_password, False), force=force, inputs=(owner_key,))
    click.echo(f"restored model written to {path} (hash verified against the owner's signed hash)")


@main.command()
@click.argument("package", type=click.Path(path_type=Path))
@click.option("--owner-key", type=click.Path(path_type=Path), default=None,
              help="Pinned owner public key (PEM); default: the keyring entry of the package's owner.")
@click.option("--json", "as_json", is_flag=True, help="Print the verified header as JSON.")
def inspect(package: Path, owner_key: Path | None, as_json: bool) -> None:
    """Verify PACKAGE's signature against the pinned owner key and describe it.

    \b
    Examples:
      dnnsec inspect cnn.dnnpkg --owner-key alice.pub
      dnnsec inspect cnn.dnnpkg --json
    """
    from dnnsec.package.container import read_package
    from dnnsec.package.protected import describe

    info = describe(read_package(package, _owner_key(package, owner_key)))
    if as_json:
        click.echo(json.dumps(info, indent=2, sort_keys=True))
        return
    meta = info["meta"]
    click.echo(f"package      {package}  (signature verified against the pinned owner key)")
    click.echo(f"id           {info['package_id']}")
    click.echo(f"owner        {meta.get('owner')}   created {meta.get('created')}")
    click.echo(f"architecture {info['arch']} {json.dumps(info['config'])}")
    click.echo(f"method       {meta['method']['name']}: {meta['method']['n_encrypted']} encrypted parameters "
               f"of {info['tensor_values']} tensor values")
    click.echo(f"tensors      {info['tensors']}, sha256 {info['encrypted_sha256']}")
    click.echo(f"restores     sha256 {info['plain_sha256']} (signed), with key id {info['key_id']}")
    click.echo(f"versions     {json.dumps(meta.get('versions', {}))}")
