"""``dnnsec attack``: a tiny model on a small user ``.npz`` writes a checkpoint and metrics; bad data exits 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from dnnsec.cli import main
from shared.checkpoint import load_checkpoint


def _write_npz(path, side: int = 28, channels: int = 1, classes: int = 3, n: int = 240, **override) -> None:
    rng = np.random.default_rng(side + channels)
    fields = {}
    for split, count in (("train", n), ("test", n // 4)):
        labels = np.arange(count) % classes
        base = (40 + 60 * labels).reshape(-1, 1, 1, 1)
        fields[f"{split}_images"] = np.clip(base + rng.integers(0, 40, (count, side, side, channels)), 0,
                                            255).astype(np.uint8)
        fields[f"{split}_labels"] = labels.astype(np.int64)
    fields.update(override)
    np.savez(path, **fields)


@pytest.mark.parametrize("name, side, channels, arch, extra", [
    ("badnets", 28, 1, "mnist_cnn", []),
    ("dct-n2n", 64, 3, "mnist_cnn", ["--n-triggers", "3"]),
    ("compression", 32, 3, "resnet8", ["--codecs", "jpeg,webp"]),
    ("ptb", 40, 3, "mnist_cnn", ["--poison-rate", "0.05", "--shape", "glasses"]),
])
def test_attack_trains_a_tiny_model_and_writes_checkpoint_and_metrics(tmp_path, name, side, channels, arch, extra):
    data = tmp_path / "mine.npz"
    _write_npz(data, side, channels)
    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["attack", name, "--data", str(data), "--arch", arch, "--out", str(out),
                                  "--epochs", "1", "--seed", "3", *extra])
    assert r.exit_code == 0, r.output
    metrics = json.loads((out / "metrics.json").read_text())
    _model, meta = load_checkpoint(out / "model.safetensors", expected_arch=arch)
    assert meta["config"] == {"num_classes": 3, "in_channels": channels}
    assert meta["extra"]["dataset"] == str(data)
    n_triggers = 3 if name == "dct-n2n" else 1
    assert len(metrics["triggers"]) == n_triggers and metrics["seed"] == 3
    assert metrics["n_poisoned"] == round(metrics["poison_rate"] * 240)
    for t in metrics["triggers"]:
        assert 0 <= t["asr"] <= 1 and t["psnr_db"] > 0 and t["ssim"] <= 1
    assert 0 <= metrics["clean_accuracy"] <= 1 and metrics["total_seconds"] > 0
    if name == "compression":
        assert metrics["train_codecs"] == ["jpeg", "webp"]
        assert set(metrics["compression"]) == {"jpeg", "jpeg2000", "webp"}
    if name == "ptb":
        assert 0 <= metrics["physical"]["asr_held"] <= 1
    if name == "dct-n2n":
        assert min(t["psnr_db"] for t in metrics["triggers"]) > 35
    again = CliRunner().invoke(main, ["attack", name, "--data", str(data), "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.output


@pytest.mark.parametrize("override, field", [
    ({"train_images": np.zeros((10, 28, 28), np.uint8)}, "train_images"),
    ({"test_images": np.zeros((60, 20, 20, 1), np.uint8)}, "test_images"),
    ({"train_labels": np.full(240, -1)}, "train_labels"),
    ({"test_labels": np.full(60, 7)}, "test_labels"),
    ({"train_images": np.zeros((240, 28, 28, 1), np.float32)}, "train_images"),
])
def test_bad_npz_exits_2_naming_file_and_field(tmp_path, override, field):
    data = tmp_path / "bad.npz"
    _write_npz(data, **override)
    r = CliRunner().invoke(main, ["attack", "badnets", "--data", str(data), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2, r.output
    assert r.output.startswith("error: ") and str(data) in r.output and field in r.output
    assert not (tmp_path / "o").exists()


def test_missing_fields_and_bad_settings_exit_2(tmp_path):
    data = tmp_path / "few.npz"
    np.savez(data, train_images=np.zeros((4, 28, 28, 1), np.uint8))
    r = CliRunner().invoke(main, ["attack", "dct", "--data", str(data), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "train_labels" in r.output and str(data) in r.output
    good = tmp_path / "good.npz"
    _write_npz(good)
    r = CliRunner().invoke(main, ["attack", "dct-n2n", "--data", str(good), "--out", str(tmp_path / "o"),
                                  "--n-triggers", "5"])
    assert r.exit_code == 2 and r.output.startswith("error: ") and "target classes" in r.output
