"""The owner's side of distributing the sferic CNN protected: fingerprint a copy per user, encrypt it, issue it.

1. The owner's Ed25519 key pair (made once, kept in OUT/owner/); its public key is also written to
   OUT/keyring/<owner>.pub, the file each user pins out of band (``DNNSEC_KEYRING``).
2. The users are registered in the owner's registry (OUT/owner/registry.sqlite).
3. Clean windows from the public generator (the checkpoint's own sampler settings, a seed no training or
   held-out set uses) are written to OUT/owner/windows.safetensors.
4. Each user's copy is fingerprinted for that user (:func:`dnnsec.watermark.segmenter.issue_segmenter_copy`; the
   owner keeps it in OUT/owner/copies/<user>.safetensors, and the registry records its hash) and then encrypted
   by AdvParams into a package signed by the owner plus that user's key file (OUT/issued/<user>/sferic.dnnpkg and
   <user>.key), searched at the detector's own decision threshold.
5. With ``--null-model`` checkpoints (sferic models trained independently of the owner's), each is fingerprinted
   by a throw-away owner and the tracing threshold is calibrated on them, so that ``dnnsec verify SUSPECT
   --registry OUT/owner/registry.sqlite`` can name the user of a leaked copy later.

The model users cannot rebuild is the owner's (``--model``; the shipped open weights by default, which anyone can
already use: a real owner issues a model trained with private settings or data).

Run ``python -m field_examples.sferic_owner --out outputs/sferic-owner --users ann,bob`` (``--help``).
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import click
import numpy as np
import torch
from safetensors.torch import save_file

from amt.sferic.inference import DEFAULT_WEIGHTS
from amt.sferic.sampler import SamplerConfig, SfericSource
from dnnsec.package.protected import encrypt_checkpoint
from dnnsec.package.signing import generate_owner_keys, load_private_key
from dnnsec.protect.advparams import binary_segmenter_decisions
from dnnsec.watermark.registry import Registry
from dnnsec.watermark.segmenter import SegmenterEmbedConfig, issue_segmenter_copy, make_segmenter_null
from dnnsec.watermark.service import calibrate_registry
from dnnsec.zoo.data import load_samples
from shared.checkpoint import read_sidecar
from shared.cli import fail
from shared.errors import DomainError
from shared.seeding import stream_rng

#: Root seed of the owner's clean windows (neither a training, validation nor held-out root).
WINDOW_SEED = 61_021


def clean_windows(model: Path, n: int, out: Path) -> Path:
    """``n`` windows of the public generator with the checkpoint's sampler settings, as ``x``, ``y`` safetensors."""
    config = ((read_sidecar(model).get("extra") or {}).get("run_config") or {}).get("sampler", {})
    source = SfericSource(SamplerConfig.from_dict(config))
    xs, ys = zip(*(source(stream_rng(WINDOW_SEED, k)) for k in range(n)), strict=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({"x": torch.from_numpy(np.stack(xs)), "y": torch.from_numpy(np.stack(ys)).long()}, str(out))
    return out


@click.command(epilog="Example:\n\n  python -m field_examples.sferic_owner --out outputs/sferic-owner --users ann,bob")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output folder.")
@click.option("--model", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=DEFAULT_WEIGHTS,
              show_default=True, help="The owner's sferic checkpoint.")
@click.option("--users", default="ann,bob", show_default=True, help="Comma-separated user names.")
@click.option("--owner", default="sferic-owner", show_default=True, help="Owner name (the pinned key's name).")
@click.option("--windows", default=64, show_default=True, help="Clean windows for fingerprinting and encryption.")
@click.option("--keys", default=20, show_default=True, help="Key windows per user.")
@click.option("--steps", default=SegmenterEmbedConfig.steps, show_default=True, help="Fingerprint fine-tuning steps.")
@click.option("--lr", default=SegmenterEmbedConfig.lr, show_default=True, help="Fingerprint peak learning rate.")
@click.option("--issue-p", default=SegmenterEmbedConfig.issue_p, show_default=True,
              type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="A copy is issued only when its own keys outrank the other users' at this rank-test p-value "
                   "(fine-tuning runs further rounds until they do; few keys need a larger bar).")
@click.option("--n-params", default=30, show_default=True, help="Most parameters AdvParams encrypts.")
@click.option("--null-model", "null_models", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="An independently trained sferic checkpoint for calibration (repeat; two or more advised).")
def main(out: Path, model: Path, users: str, owner: str, windows: int, keys: int, steps: int, lr: float,
         issue_p: float, n_params: int, null_models: tuple[Path, ...]) -> None:
    """Issue every user of USERS a fingerprinted, encrypted copy of MODEL: a signed package and a key file."""
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    names = [u.strip() for u in users.split(",") if u.strip()]
    home = out / "owner"
    home.mkdir(parents=True, exist_ok=True)
    if not (home / f"{owner}.key").is_file():
        (out / "keyring").mkdir(parents=True, exist_ok=True)
        generate_owner_keys(home / f"{owner}.key", out / "keyring" / f"{owner}.pub")
    signer = load_private_key(home / f"{owner}.key")
    reg = Registry(home / "registry.sqlite")
    known = {u.name for u in reg.users()}
    for name in names:
        if name not in known:
            reg.add_user(name)
    data = clean_windows(model, windows, home / "windows.safetensors")
    x, y = load_samples(str(data), windows, seed=0, label_ndim=2)
    p = float((read_sidecar(model).get("extra") or {}).get("threshold", 0.5))
    decisions = partial(binary_segmenter_decisions, threshold_logit=math.log(p / (1 - p)))
    cfg = SegmenterEmbedConfig(steps=steps, lr=lr, issue_p=issue_p)
    for name in names:
        copy_path = home / "copies" / f"{name}.safetensors"
        try:
            issue_segmenter_copy(reg, model, name, copy_path, signer, data, n_keys=keys, n_clean=windows,
                                 cfg=SegmenterEmbedConfig(**{**cfg.to_dict(), "seed": reg.user(name).id}),
                                 progress=True, force=True)
        except DomainError as exc:
            fail(exc)
        report = encrypt_checkpoint(copy_path, package_out=out / "issued" / name / "sferic.dnnpkg",
                                    key_out=out / "issued" / name / f"{name}.key", signer=signer, owner=owner,
                                    x=x, y=y, n_params=n_params, decisions=decisions, force=True)
        click.echo(f"{name}: copy {copy_path}; package {report.package} + key {report.key} ({report.n_encrypted} "
                   f"parameters encrypted, search-batch accuracy {100 * report.accuracy_before:.1f} % -> "
                   f"{100 * report.accuracy_after:.1f} %)")
    if null_models:
        paths = [make_segmenter_null(m, home / "nulls" / f"null-{i:03d}.safetensors", data, i, n_keys=keys,
                                     n_clean=windows, cfg=cfg, force=True) for i, m in enumerate(null_models)]
        cal = calibrate_registry(reg, paths)
        click.echo(f"calibrated on {cal.n_null_models} null models: a user is named below p = {cal.p_threshold:.3g}")
    click.echo(f"users pin {out / 'keyring' / (owner + '.pub')}; owner files in {home}")


if __name__ == "__main__":
    main()
