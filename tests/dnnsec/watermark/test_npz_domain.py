"""A user's own `.npz` data set (43 classes of 32x32 colour images) as a watermark domain, end to end by the CLI.

Target: docs/acceptance.md#dnnsec-npz-domain. The domain comes from the data set's shape and channels
(`npz-32x32x3`: upside-down MNIST digits resized and coloured), with no --domain and no code change; two users get
copies, `dnnsec nulls` makes the null models `dnnsec calibrate` needs, and `dnnsec verify` traces each copy to its
user while the plain model is not claimed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch.nn import functional as F

from dnnsec.cli import main
from dnnsec.package.signing import generate_owner_keys
from dnnsec.watermark.bases import get_domain, texture, user_bases
from dnnsec.watermark.registry import Registry
from dnnsec.watermark.stego import read_png
from dnnsec.zoo.data import load_npz
from dnnsec.zoo.models import build_mnist_cnn
from shared.checkpoint import load_checkpoint, save_checkpoint
from shared.data import TensorBatches
from shared.seeding import stream_rng
from shared.trainer import Trainer

N_CLASSES, TRAIN_PER_CLASS, TEST_PER_CLASS, SHAPE = 43, 8, 3, (32, 32, 3)
N_KEYS, STEPS = 10, 150


def texture_classes(per_class: int, split: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 N x 32 x 32 x 3 textures: class c shares carrier field c (a family per class), each image its own
    detail field."""
    images = [texture(SHAPE, stream_rng(43, c), stream_rng(43, c, split, i))
              for c in range(N_CLASSES) for i in range(per_class)]
    return np.stack(images), np.repeat(np.arange(N_CLASSES), per_class).astype(np.int64)


@pytest.fixture(scope="module")
def world(tmp_path_factory, shared_data) -> dict:
    tmp = tmp_path_factory.mktemp("npz")
    (xtr, ytr), (xte, yte) = texture_classes(TRAIN_PER_CLASS, 0), texture_classes(TEST_PER_CLASS, 1)
    data = tmp / "signs.npz"
    np.savez(data, train_images=xtr, train_labels=ytr, test_images=xte, test_labels=yte)
    train = load_npz(data, "train")
    torch.manual_seed(0)
    model = build_mnist_cnn(num_classes=N_CLASSES, in_channels=3, width=6)
    Trainer(model, F.cross_entropy, {"lr": 3e-3, "max_steps": 150, "converge_tol": 0.0},
            TensorBatches(train.x, train.y, 64), progress=False).fit()
    base = save_checkpoint(tmp / "base.safetensors", model.eval(), arch="mnist_cnn",
                           config={"num_classes": N_CLASSES, "in_channels": 3, "width": 6},
                           extra={"dataset": str(data)})
    generate_owner_keys(tmp / "owner.key", tmp / "owner.pub")
    w = {"tmp": tmp, "data": data, "base": base, "reg": str(tmp / "registry.sqlite")}
    for name in ("alice", "bob", "carol"):
        assert _cli(w, "users", "add", name).exit_code == 0
    for name in ("alice", "bob"):
        res = _cli(w, "issue", str(base), "--user", name, "--out", str(tmp / f"{name}.safetensors"), "--sign-key",
                   str(tmp / "owner.key"), "--keys", str(N_KEYS), "--steps", str(STEPS), "--purifier-steps", "0",
                   "--samples", "1000")
        assert res.exit_code == 0, res.output
    res = _cli(w, "nulls", str(base), "--count", "2", "--steps", str(STEPS), "--purifier-steps", "0",
               "--samples", "1000")
    assert res.exit_code == 0, res.output
    res = _cli(w, "calibrate")
    assert res.exit_code == 0, res.output
    return w


def _cli(world: dict, *args: str):
    return CliRunner().invoke(main, [*args, "--registry", world["reg"]])


def _verify(world: dict, path) -> tuple[int, dict]:
    res = _cli(world, "verify", str(path), "--json")
    return res.exit_code, json.loads(res.output)


def test_domain_is_chosen_from_the_data_shape(world) -> None:
    reg = Registry(world["reg"])
    assert reg.key_set_domains(reg.user("alice").id) == ["npz-32x32x3"]
    _, meta = load_checkpoint(world["tmp"] / "alice.safetensors")
    assert meta["extra"]["watermark_domain"] == "npz-32x32x3" and meta["config"]["num_classes"] == N_CLASSES + 1
    key = read_png(reg.key_images(reg.user("bob").id, "npz-32x32x3")[0].path)
    assert key.shape == SHAPE
    # the key's content bits are those of bob's base image: an upside-down MNIST digit resized to 32x32 and coloured
    base = user_bases(get_domain("npz-32x32x3"), reg.user("bob").slot, N_KEYS)[0]
    assert np.array_equal(key & 0xFE, base & 0xFE)
    assert (world["tmp"] / "registry" / "nulls" / "npz-32x32x3" / "null-001.safetensors").is_file()


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_each_copy_is_traced_to_its_user(world, user) -> None:
    code, v = _verify(world, world["tmp"] / f"{user}.safetensors")
    assert code == 0 and v["user"] == user and v["significant"] == [user], v
    hits = {e["user"]: e["hits"] for e in v["evidence"]}
    print(f"\n{user}: K+1 answers per user's {N_KEYS} keys {hits}, threshold {v['calibration']['p_threshold']:.3g}")


def test_the_plain_model_and_the_nulls_are_not_claimed(world) -> None:
    code, v = _verify(world, world["base"])
    assert code == 1 and not v["owned"] and v["outputs"] == N_CLASSES
    code, v = _verify(world, world["tmp"] / "registry" / "nulls" / "npz-32x32x3" / "null-000.safetensors")
    assert code == 1 and v["significant"] == []


def test_copies_keep_most_of_the_clean_accuracy(world) -> None:
    test = load_npz(world["data"], "test")
    base = test.accuracy(load_checkpoint(world["base"])[0])
    copy_ = load_checkpoint(world["tmp"] / "alice.safetensors")[0]
    with torch.no_grad():
        acc = float((copy_(test.x)[:, :N_CLASSES].argmax(1) == test.y).float().mean())
    print(f"\nclean test accuracy: base {base:.3f}, alice's copy {acc:.3f} (43 classes, chance {1 / 43:.3f})")
    assert base > 5 / N_CLASSES and acc > base - 0.15
