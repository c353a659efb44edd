import json

import pytest
import torch

from shared.architectures import build_model, register_model
from shared.checkpoint import load_checkpoint, save_checkpoint, state_sha256
from shared.errors import CheckpointError, ConfigError


@register_model("test_bn_cnn")
def bn_cnn(width: int = 4) -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv1d(2, width, 5, padding=2),
        torch.nn.BatchNorm1d(width),
        torch.nn.ReLU(),
        torch.nn.Conv1d(width, 1, 1),
    )


@register_model("test_linear")
def linear(n: int = 3) -> torch.nn.Module:
    return torch.nn.Linear(n, 1)


def _trained_model():
    torch.manual_seed(0)
    m = bn_cnn(width=6)
    m.train()
    m(torch.randn(8, 2, 50))  # moves BatchNorm running statistics away from their defaults
    return m


def test_round_trip_is_bit_exact(tmp_path):
    m = _trained_model()
    path = save_checkpoint(
        tmp_path / "m.safetensors", m, arch="test_bn_cnn", config={"width": 6}, extra={"note": "unit test"}
    )
    loaded, meta = load_checkpoint(path, expected_arch="test_bn_cnn")
    a, b = m.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k
    assert meta["sha256"] == state_sha256(a) == state_sha256(b)
    assert meta["extra"] == {"note": "unit test"}
    assert "num_batches_tracked" in " ".join(a)  # buffers are part of the checkpoint
    x = torch.randn(2, 2, 30)
    m.eval()
    assert torch.equal(m(x), loaded(x))


def test_hash_changes_with_a_single_bit():
    m = _trained_model()
    s = {k: v.clone() for k, v in m.state_dict().items()}
    h0 = state_sha256(s)
    w = s["0.weight"].view(-1)
    w.view(torch.int32)[0] ^= 1  # flip the lowest mantissa bit
    assert state_sha256(s) != h0


def test_tampered_weights_are_refused(tmp_path):
    path = save_checkpoint(tmp_path / "m.safetensors", _trained_model(), arch="test_bn_cnn", config={"width": 6})
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0xFF  # a byte inside the last tensor's data
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match=r"sha256.*tampered"):
        load_checkpoint(path)


def test_truncated_file_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "m.safetensors", _trained_model(), arch="test_bn_cnn", config={"width": 6})
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(path)


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "m.safetensors", linear(3), arch="test_linear", config={"n": 3})
    with pytest.raises(CheckpointError, match="'test_linear', expected 'test_bn_cnn'"):
        load_checkpoint(path, expected_arch="test_bn_cnn")


def test_sidecar_claiming_another_architecture_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "m.safetensors", linear(3), arch="test_linear", config={"n": 3})
    side = path.with_suffix(".json")
    meta = json.loads(side.read_text())
    meta["arch"], meta["config"] = "test_bn_cnn", {"width": 4}
    side.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(path)


def test_unknown_architecture_and_config_keys_are_named():
    with pytest.raises(ConfigError, match="unknown architecture 'nope'"):
        build_model("nope", {})
    with pytest.raises(ConfigError, match=r"no parameter\(s\) \['depth'\]"):
        build_model("test_linear", {"depth": 3})


def test_failed_save_leaves_no_file(tmp_path):
    with pytest.raises(CheckpointError, match="JSON"):
        save_checkpoint(tmp_path / "m.safetensors", linear(3), arch="test_linear", config={"n": object()})
    assert list(tmp_path.iterdir()) == []


def test_atomic_writes_get_the_ordinary_file_mode(tmp_path):
    import os

    from shared.atomic import write_bytes_atomic

    mask = os.umask(0o022)
    os.umask(mask)
    p = write_bytes_atomic(tmp_path / "x.bin", b"abc")
    assert p.read_bytes() == b"abc"
    assert (p.stat().st_mode & 0o777) == (0o666 & ~mask)
