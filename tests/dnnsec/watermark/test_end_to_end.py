"""End to end on a small MNIST subset through the CLI: users, issue, calibrate on a null model, verify, trace.

A small MLP stands in for the zoo CNN (same output layer name ``fc``); key images come from the synthetic
``texture28`` pool so the test needs no CIFAR-10 decoding and no zoo cache.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image
from safetensors.torch import save_file
from torch import nn
from torch.nn import functional as F

from dnnsec.cli import main
from dnnsec.package.signing import generate_owner_keys
from dnnsec.watermark.adapter import LinearHead
from dnnsec.watermark.bases import decoy_bases, get_domain, to_model_input
from dnnsec.watermark.embed import EmbedConfig, embed_fingerprint
from dnnsec.watermark.keys import make_key_set
from dnnsec.watermark.stego import read_png, write_png
from dnnsec.zoo.data import load_mnist
from shared.architectures import register_model
from shared.checkpoint import load_checkpoint, save_checkpoint
from shared.data import TensorBatches
from shared.trainer import Trainer

N_TRAIN, N_KEYS, STEPS = 4000, 10, 200
PURIFIER_STEPS = 40  # the purifier defence runs, briefly (1000 steps by default)


class WmTestMLP(nn.Module):
    """784-64-K MLP whose class scores come from ``fc``."""

    def __init__(self, num_classes: int = 10, hidden: int = 64) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, hidden), nn.ReLU())
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x))


@register_model("wm_test_mlp")
def build_wm_test_mlp(num_classes: int = 10, hidden: int = 64) -> nn.Module:
    return WmTestMLP(num_classes, hidden)


@pytest.fixture(scope="module")
def world(tmp_path_factory, shared_data) -> dict:
    tmp = tmp_path_factory.mktemp("wm")
    train, test = load_mnist("train"), load_mnist("test")
    x, y = train.x[:N_TRAIN].clone(), train.y[:N_TRAIN].clone()
    data = tmp / "mnist-subset.safetensors"
    save_file({"x": x, "y": y}, str(data))
    torch.manual_seed(0)
    base = WmTestMLP()
    Trainer(base, F.cross_entropy, {"lr": 3e-3, "max_steps": 200, "converge_tol": 0.0}, TensorBatches(x, y, 64),
            progress=False).fit()
    base_path = save_checkpoint(tmp / "base.safetensors", base.eval(), arch="wm_test_mlp", config={},
                                extra={"dataset": str(data), "watermark_domain": "texture28"})
    generate_owner_keys(tmp / "owner.key", tmp / "owner.pub")
    return {"tmp": tmp, "data": data, "base": base_path, "test": test, "x": x, "y": y,
            "reg": str(tmp / "registry.sqlite")}


def _cli(world: dict, *args: str):
    return CliRunner().invoke(main, [*args, "--registry", world["reg"]], catch_exceptions=False)


def _issue(world: dict, user: str) -> Path:
    out = world["tmp"] / f"{user}.safetensors"
    res = _cli(world, "issue", str(world["base"]), "--user", user, "--out", str(out), "--sign-key",
               str(world["tmp"] / "owner.key"), "--data", str(world["data"]), "--keys", str(N_KEYS),
               "--samples", str(N_TRAIN), "--steps", str(STEPS),
               "--purifier-steps", str(PURIFIER_STEPS))
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def issued(world) -> dict:
    for name in ("alice", "bob", "carol"):
        assert _cli(world, "users", "add", name).exit_code == 0
    copies = {name: _issue(world, name) for name in ("alice", "bob")}
    # A null model: another owner's copy (their signer, base images and decoys), same recipe, K + 1 outputs.
    dom = get_domain("texture28")
    keys = to_model_input(make_key_set(dom, Ed25519PrivateKey.generate(), 77, 50, N_KEYS).images, dom)
    decoys = to_model_input(decoy_bases(dom, 100, 1), dom)
    base = load_checkpoint(world["base"])[0]
    null = embed_fingerprint(base, LinearHead(), world["x"], world["y"], keys, None,
                             EmbedConfig(steps=STEPS, clean_batch=64, seed=9, purifier_steps=PURIFIER_STEPS), decoys)
    null_path = save_checkpoint(world["tmp"] / "null.safetensors", null, arch="wm_test_mlp",
                                config={"num_classes": 11}, extra={"watermark_domain": "texture28"})
    res = _cli(world, "calibrate", str(null_path))
    assert res.exit_code == 0, res.output
    return {**copies, "null": null_path}


def _verify(world: dict, path: Path) -> tuple[int, dict]:
    res = _cli(world, "verify", str(path), "--json")
    return res.exit_code, json.loads(res.output)


def test_issued_copy_is_owned_and_traced_to_its_user(world, issued) -> None:
    code, v = _verify(world, issued["alice"])
    assert code == 0 and v["owned"] and v["user"] == "alice" and v["significant"] == ["alice"]
    assert v["exact_copy"]["user"] == "alice"
    ev = {e["user"]: e for e in v["evidence"]}
    assert ev["alice"]["hits"] == N_KEYS
    threshold = v["calibration"]["p_threshold"]
    assert ev["alice"]["p_bonferroni"] < threshold <= min(ev["bob"]["p_bonferroni"], ev["carol"]["p_bonferroni"])


def test_modified_copy_is_traced_by_its_keys_alone(world, issued) -> None:
    model, meta = load_checkpoint(issued["bob"])
    with torch.no_grad():
        model.fc.bias[:10] += 1e-3  # new weights: no exact hash match, only black-box evidence
    suspect = save_checkpoint(world["tmp"] / "bob-modified.safetensors", model, arch=meta["arch"],
                              config=meta["config"], extra=meta["extra"])
    code, v = _verify(world, suspect)
    assert code == 0 and v["exact_copy"] is None and v["user"] == "bob"
    text = _cli(world, "verify", str(suspect)).output
    assert "verdict: OWNED: copy of user 'bob'" in text and "exact weights match" not in text


def test_copy_keeps_clean_accuracy(world, issued) -> None:
    test = world["test"]
    base = test.accuracy(load_checkpoint(world["base"])[0])
    for name in ("alice", "bob"):
        model = load_checkpoint(issued[name])[0]
        pred = model(test.x).argmax(1)
        assert float((pred == test.y).float().mean()) >= base - 0.02


def test_null_model_is_not_claimed(world, issued) -> None:
    code, v = _verify(world, issued["null"])
    assert code == 1 and not v["owned"] and v["significant"] == []


def test_users_list_shows_fingerprints_and_copies(world, issued) -> None:
    res = _cli(world, "users", "list")
    assert res.exit_code == 0
    alice = next(line for line in res.output.splitlines() if " alice " in line)
    assert " 1  texture28:" in alice


def test_unknown_user_is_refused(world, issued) -> None:
    res = _cli(world, "issue", str(world["base"]), "--user", "mallory", "--out", str(world["tmp"] / "m.safetensors"),
               "--sign-key", str(world["tmp"] / "owner.key"))
    assert res.exit_code == 2 and "no user named 'mallory'" in res.output
    assert not (world["tmp"] / "m.safetensors").exists()


def test_reencoded_key_image_stops_verification_with_its_name(world, issued) -> None:
    folder = next((world["tmp"] / "registry" / "keys").glob("user*-texture28-*"))
    victim = folder / "key_0003.png"
    original = victim.read_bytes()
    buf = io.BytesIO()
    Image.fromarray(read_png(victim)[:, :, 0]).save(buf, format="JPEG", quality=95)
    write_png(victim, np.asarray(Image.open(io.BytesIO(buf.getvalue())))[:, :, None])
    try:
        res = _cli(world, "verify", str(issued["alice"]))
        assert res.exit_code == 2 and "key_0003.png" in res.output and "changed since registration" in res.output
    finally:
        victim.write_bytes(original)
