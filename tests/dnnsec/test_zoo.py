"""The model zoo: architectures of known size, the real-data loaders, augmentation, cached training."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from dnnsec.zoo import build as zoo_build
from dnnsec.zoo.augment import random_crop_flip
from dnnsec.zoo.data import NPZ_MEAN, NPZ_STD, DataError, load_cifar10, load_mnist, load_npz, load_samples, npz_shape
from dnnsec.zoo.models import CifarResNet
from shared.architectures import build_model


def _conv(c_in, c_out, k=3):
    return c_in * c_out * k * k


def _bn(c):
    return 2 * c


def _resnet_params(n: int, w: int = 16, classes: int = 10) -> int:
    """Count of a CIFAR ResNet-(6n+2) by hand: stem, 3 stages of n blocks, 1x1 shortcuts, classifier."""
    total = _conv(3, w) + _bn(w)
    c_in = w
    for stage in range(3):
        c = w * 2**stage
        for _ in range(n):
            total += _conv(c_in, c) + _bn(c) + _conv(c, c) + _bn(c)
            if c_in != c:
                total += _conv(c_in, c, 1) + _bn(c)
            c_in = c
    return total + c_in * classes + classes


@pytest.mark.parametrize("arch, n", [("resnet8", 1), ("resnet20", 3)])
def test_resnet_parameter_count_matches_hand_count(arch, n):
    model = build_model(arch, {})
    assert sum(p.numel() for p in model.parameters()) == _resnet_params(n)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_mnist_cnn_parameter_count_matches_hand_count():
    model = build_model("mnist_cnn", {})
    expected = _conv(1, 16) + _bn(16) + _conv(16, 32) + _bn(32) + _conv(32, 64) + _bn(64) + 64 * 10 + 10
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_resnet_depth_must_be_6n_plus_2():
    with pytest.raises(ValueError, match="6n \\+ 2"):
        CifarResNet(depth=10)


def test_mnist_test_split_has_the_published_class_counts(shared_data):
    data = load_mnist("test", root=shared_data)
    assert tuple(data.x.shape) == (10000, 1, 28, 28)
    counts = np.bincount(data.y.numpy(), minlength=10).tolist()
    assert counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]  # LeCun et al. MNIST page
    assert abs(float(data.x.mean())) < 0.1  # standardised with the training-set mean and std


def test_cifar10_test_split_is_balanced_and_cached(shared_data, tmp_path):
    data = load_cifar10("test", root=shared_data, cache=tmp_path)
    assert tuple(data.x.shape) == (10000, 3, 32, 32)
    assert np.bincount(data.y.numpy(), minlength=10).tolist() == [1000] * 10
    assert (tmp_path / "data" / "cifar10-test.npz").is_file()
    again = load_cifar10("test", root=shared_data, cache=tmp_path)
    assert torch.equal(again.x, data.x) and torch.equal(again.y, data.y)


def test_corrupt_idx_files_are_refused(tmp_path):
    folder = tmp_path / "images" / "mnist"
    folder.mkdir(parents=True)
    images, labels = folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz"
    images.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + (2).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
                                     + b"\x00" * (2 * 28 * 28 - 1)))
    labels.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + (2).to_bytes(4, "big") + b"\x01\x02"))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz: header says"):
        load_mnist("test", root=tmp_path)
    images.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + (2).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
                                     + b"\x00" * (2 * 28 * 28)))
    assert load_mnist("test", root=tmp_path).y.tolist() == [1, 2]
    labels.write_bytes(b"not gzip")
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz: not a readable gzip"):
        load_mnist("test", root=tmp_path)
    labels.write_bytes(gzip.compress(b"\x00\x00\x09\x01" + (2).to_bytes(4, "big") + b"\x01\x02"))
    with pytest.raises(DataError, match="bad IDX magic"):
        load_mnist("test", root=tmp_path)


def test_crop_flip_without_padding_only_flips():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    out = random_crop_flip(x, np.random.default_rng(0), pad=0)
    for i in range(2):
        assert torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(-1))


def test_crop_flip_keeps_a_shifted_window():
    x = torch.randn(8, 1, 6, 6)
    out = random_crop_flip(x, np.random.default_rng(3), pad=2)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(8):
        windows = [padded[i, :, dy:dy + 6, dx:dx + 6] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(-1)) for w in windows)


def test_load_samples_from_a_file(tmp_path):
    from safetensors.torch import save_file

    save_file({"x": torch.randn(30, 1, 64), "y": torch.arange(30) % 2}, str(tmp_path / "d.safetensors"))
    x, y = load_samples(str(tmp_path / "d.safetensors"), 10, seed=1)
    assert x.shape == (10, 1, 64) and y.dtype == torch.int64
    with pytest.raises(DataError, match="no such data file"):
        load_samples(str(tmp_path / "nope.safetensors"), 10)


def test_npz_data_set_round_trips_its_pixels_and_labels(tmp_path):
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (50, 30, 40, 3), dtype=np.uint8)
    labels = np.arange(50) % 43
    np.savez(tmp_path / "d.npz", train_images=images, train_labels=labels, test_images=images[:7],
             test_labels=labels[:7].astype(np.uint8))
    assert npz_shape(tmp_path / "d.npz") == (30, 40, 3)
    train = load_npz(tmp_path / "d.npz")
    assert train.x.shape == (50, 3, 30, 40) and train.num_classes == 43 and train.name == "d.npz/train"
    back = torch.round((train.x * NPZ_STD + NPZ_MEAN) * 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(back, images) and np.array_equal(train.y.numpy(), labels)
    test = load_npz(tmp_path / "d.npz", "test")
    assert len(test) == 7 and test.num_classes == 43
    x, y = load_samples(str(tmp_path / "d.npz"), 20, seed=2)
    assert x.shape == (20, 3, 30, 40) and set(y.tolist()) <= set(labels.tolist())
    np.savez(tmp_path / "bad.npz", train_images=images, train_labels=labels[:49], test_images=images[:7],
             test_labels=labels[:7])
    with pytest.raises(DataError, match=r"bad\.npz: field 'train_labels'"):
        load_npz(tmp_path / "bad.npz")


def test_zoo_build_trains_caches_and_reloads(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("AMT_DNNSEC_CACHE", str(tmp_path))
    monkeypatch.setitem(zoo_build.ZOO, "tiny", zoo_build.ZooSpec(
        "mnist_cnn", "mnist", {"optimizer": "adam", "lr": 3e-3, "max_steps": 60}, config={"width": 8},
        batch_size=64))
    records = zoo_build.build_zoo(["tiny"], [0], progress=False, echo=lambda s: None)
    assert records[0]["cached"] is False and records[0]["test_accuracy"] > 0.3  # chance is 0.1
    again = zoo_build.build_zoo(["tiny"], [0], progress=False, echo=lambda s: None)
    assert again[0]["cached"] is True and again[0]["test_accuracy"] == records[0]["test_accuracy"]
    model, meta = zoo_build.load_zoo_model("tiny", 0)
    assert isinstance(model, torch.nn.Module)
    assert meta["extra"]["dataset"] == "mnist"
