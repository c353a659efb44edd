"""``dnnsec defend``: metrics JSON from a tiny backdoored checkpoint; clear errors for models and data that do not
fit (exit status 2, the file named)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from dnnsec.cli import main
from dnnsec.defence.classifier import DefenceError, PixelClassifier
from dnnsec.zoo.data import NPZ_MEAN, NPZ_STD
from shared.checkpoint import save_checkpoint

from .conftest import grey_blobs


def _write_npz(path, train, test, **override) -> None:
    fields = {"train_images": train.images.permute(0, 2, 3, 1).numpy(), "train_labels": train.labels.numpy(),
              "test_images": test.images.permute(0, 2, 3, 1).numpy(), "test_labels": test.labels.numpy()}
    fields.update(override)
    np.savez(path, **fields)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, backdoored):
    clf, _, train, test = backdoored
    folder = tmp_path_factory.mktemp("defend")
    path = folder / "model.safetensors"
    save_checkpoint(path, clf.model, arch="mnist_cnn", config={"num_classes": 6, "in_channels": 1},
                    extra={"backdoor": {"attack": "badnets", "poison_rate": 0.2, "seed": 0}})
    _write_npz(folder / "blobs.npz", train, test)
    return path, folder / "blobs.npz"


def test_defend_strip_writes_metrics_of_the_recorded_attack(tmp_path, checkpoint, backdoored):
    model, data = checkpoint
    _, rest = backdoored[3].split(300, 0)                  # the CLI's evaluation half (seed 0)
    out = tmp_path / "strip"
    args = ["defend", "strip", "--model", str(model), "--data", str(data), "--out", str(out), "--strip-n", "8",
            "--fpr", "0.05"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["attack"] == "badnets" and m["n"] == 8 and m["held_out"] == 300
    assert m["n_triggered"] == int((rest.labels != 0).sum())
    assert 0.0 <= m["frr"] <= 1.0 and 0.0 <= m["detection"] <= 1.0 and m["ms_per_input"] > 0
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 2 and "exists; pass --force" in again.output


def test_wrong_class_count_names_the_checkpoint(tmp_path, checkpoint):
    model, _ = checkpoint
    test = grey_blobs(300, 5, classes=4)
    _write_npz(tmp_path / "four.npz", test, test)
    r = CliRunner().invoke(main, ["defend", "perturbation", "--model", str(model), "--data",
                                  str(tmp_path / "four.npz"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and str(model) in r.output and "6 logits" in r.output and "4 classes" in r.output


def test_images_of_another_shape_are_refused(tmp_path, checkpoint):
    model, _ = checkpoint
    test = grey_blobs(300, 5)
    colour = np.repeat(test.images.permute(0, 2, 3, 1).numpy(), 3, axis=3)
    _write_npz(tmp_path / "rgb.npz", test, test, train_images=colour, test_images=colour)
    r = CliRunner().invoke(main, ["defend", "strip", "--model", str(model), "--data", str(tmp_path / "rgb.npz"),
                                  "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "does not take" in r.output and "3x28x28" in r.output


def test_unknown_data_layout_is_refused(tmp_path, checkpoint):
    model, _ = checkpoint
    np.savez(tmp_path / "bad.npz", images=np.zeros((4, 28, 28, 1), np.uint8))
    r = CliRunner().invoke(main, ["defend", "strip", "--model", str(model), "--data", str(tmp_path / "bad.npz"),
                                  "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "bad.npz" in r.output


def test_a_model_that_answers_probabilities_is_refused(backdoored):
    _, _, _, test = backdoored
    softmax = nn.Sequential(nn.Flatten(), nn.Linear(784, 6), nn.Softmax(dim=1))
    with pytest.raises(DefenceError, match="probabilities"):
        PixelClassifier.checked(softmax, test, "soft.safetensors")
    scalar = nn.Sequential(nn.Flatten(), nn.Linear(784, 1), nn.Flatten(0))
    with pytest.raises(DefenceError, match="must answer logits"):
        PixelClassifier.checked(scalar, test, "scalar.safetensors")


def test_npz_standardisation_is_what_the_classifier_uses(checkpoint):
    model, data = checkpoint
    from dnnsec.backdoor.data import load_pixels

    clf = PixelClassifier.from_checkpoint(model, load_pixels(str(data), "test"))
    assert torch.allclose(clf.mean.flatten(), torch.tensor([NPZ_MEAN])) and \
        torch.allclose(clf.std.flatten(), torch.tensor([NPZ_STD]))


def test_the_model_read_is_never_the_model_written_even_with_force(checkpoint):
    model, data = checkpoint
    before = model.read_bytes()
    r = CliRunner().invoke(main, ["defend", "neural-cleanse", "--model", str(model), "--data", str(data),
                                  "--out", str(model.parent), "--force"])
    assert r.exit_code == 2 and "refusing to overwrite an input" in r.output and str(model) in r.output
    assert model.read_bytes() == before


@pytest.mark.slow
def test_defend_sanitise_writes_per_round_metrics_and_the_retrained_model(tmp_path, checkpoint):
    model, data = checkpoint
    out = tmp_path / "san"
    r = CliRunner().invoke(main, ["defend", "sanitise", "--model", str(model), "--data", str(data), "--out",
                                  str(out), "--rounds", "1", "--fpr", "0.05", "--epochs", "15"])
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    assert len(m["rounds"]) == 1 and m["asr_after"] == m["rounds"][-1]["asr_after"]
    assert m["poisoned_removed"] > 0.9 and m["asr_after"] < 0.3 and m["clean_accuracy_after"] > 0.9
    assert (out / "model.safetensors").is_file()
