"""AdvParams on a per-sample binary segmenter (1-D convolutions, one logit per time sample).

A tiny 1-D segmenter (Conv1d and ConvTranspose1d, 201 parameters) learns to mark the samples where ``|x|``
exceeds a threshold; encrypting <= 50 of its parameters through the package path must collapse its per-sample
F1 (scored by ``shared.metrics.binary_scores``), and the key must restore the checkpoint hash exactly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file
from torch import nn

from dnnsec.cli import main
from dnnsec.errors import ModelError
from dnnsec.package.container import read_package
from dnnsec.package.protected import decrypt_package, encrypt_checkpoint
from dnnsec.package.signing import load_private_key, load_public_key
from dnnsec.protect.advparams import binary_segmenter_decisions, percentile_bounds, search_perturbations
from shared.architectures import build_model, register_model
from shared.checkpoint import read_sidecar, save_checkpoint, state_sha256
from shared.metrics import binary_scores

THRESHOLD = 1.5  # |x| above this marks a positive sample


@register_model("dnnsec_test_segmenter")
def build_test_segmenter() -> nn.Module:
    """Input (N, 1, T), output one logit per sample (N, 1, T); T even."""
    return nn.Sequential(nn.Conv1d(1, 4, 5, padding=2), nn.ReLU(),
                         nn.Conv1d(4, 8, 3, stride=2, padding=1), nn.ReLU(),
                         nn.ConvTranspose1d(8, 4, 2, stride=2), nn.ReLU(),
                         nn.Conv1d(4, 1, 1))


def make_windows(n: int, seed: int, t: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian windows (N, 1, T) and their labels (N, T): 1 where |x| > THRESHOLD (about 13 % of samples)."""
    x = torch.randn(n, 1, t, generator=torch.Generator().manual_seed(seed))
    return x, (x[:, 0].abs() > THRESHOLD).float()


def sample_f1(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Per-sample F1 of ``logit > 0`` against the labels."""
    model.eval()
    with torch.no_grad():
        pred = model(x)[:, 0] > 0
    return binary_scores(y.bool().numpy().ravel(), pred.numpy().ravel())["f1"]


@pytest.fixture(scope="module")
def trained_segmenter() -> nn.Module:
    torch.manual_seed(0)
    model = build_test_segmenter()
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    x, y = make_windows(512, seed=1)
    pos_weight = (1 - y.mean()) / y.mean()
    for step in range(300):
        idx = torch.arange(step * 64, step * 64 + 64) % len(y)
        opt.zero_grad()
        nn.functional.binary_cross_entropy_with_logits(model(x[idx])[:, 0], y[idx], pos_weight=pos_weight).backward()
        opt.step()
    return model.eval()


def test_binary_segmenter_decisions_are_two_class_logits():
    z = torch.tensor([[[1.5, -2.0, 0.0]]])
    logits, target = binary_segmenter_decisions(z, torch.tensor([[1.0, 0.0, 1.0]]))
    assert torch.equal(logits, torch.tensor([[0.0, 1.5], [0.0, -2.0], [0.0, 0.0]]))
    assert torch.equal(target, torch.tensor([1, 0, 1]))
    same, _ = binary_segmenter_decisions(z[:, 0], torch.tensor([[1, 0, 1]]))  # (N, T) output too
    assert torch.equal(same, logits)
    shifted, _ = binary_segmenter_decisions(z, torch.tensor([[1.0, 0.0, 1.0]]), threshold_logit=2.0)
    assert torch.equal(shifted, torch.tensor([[2.0, 1.5], [2.0, -2.0], [2.0, 0.0]]))  # z > 2 is positive
    with pytest.raises(ModelError, match="does not match labels"):
        binary_segmenter_decisions(z, torch.zeros(1, 4))


def test_search_respects_conv_layer_percentiles(trained_segmenter):
    model = build_test_segmenter()
    model.load_state_dict(trained_segmenter.state_dict())
    bounds = percentile_bounds(model)
    x, y = make_windows(64, seed=3)
    result = search_perturbations(model, x, y, n_params=10, progress=False, decisions=binary_segmenter_decisions)
    assert result.perturbations
    assert result.objective == sorted(result.objective)
    params = dict(model.named_parameters())
    for p in result.perturbations:
        lo, hi = bounds[p.name]
        assert lo - 1e-6 <= p.perturbed <= hi + 1e-6
        assert float(params[p.name].detach().view(-1)[p.index]) == p.perturbed


def test_encrypted_segmenter_f1_collapses_and_key_restores_hash(tmp_path: Path, trained_segmenter,
                                                                 owner: tuple[Path, Path]):
    x_test, y_test = make_windows(256, seed=2)
    plain_f1 = sample_f1(trained_segmenter, x_test, y_test)
    assert plain_f1 > 0.8, f"the segmenter did not learn the task (F1 {plain_f1})"
    ckpt = save_checkpoint(tmp_path / "seg.safetensors", trained_segmenter, arch="dnnsec_test_segmenter", config={})
    x, y = make_windows(64, seed=3)
    report = encrypt_checkpoint(ckpt, package_out=tmp_path / "seg.dnnpkg", key_out=tmp_path / "seg.key",
                                signer=load_private_key(owner[0]), owner="alice", x=x, y=y, n_params=50,
                                progress=False, decisions=binary_segmenter_decisions)
    assert 1 <= report.n_encrypted <= 50
    assert report.n_parameters == sum(p.numel() for p in trained_segmenter.parameters())

    package = read_package(report.package, load_public_key(owner[1]))
    encrypted = build_model("dnnsec_test_segmenter")
    encrypted.load_state_dict(package.state)
    encrypted_f1 = sample_f1(encrypted, x_test, y_test)
    assert encrypted_f1 <= 0.5 * plain_f1, f"encrypted F1 {encrypted_f1} vs plain {plain_f1}"

    restored = decrypt_package(report.package, key_path=report.key, out=tmp_path / "back.safetensors",
                               owner_key=load_public_key(owner[1]))
    assert read_sidecar(restored)["sha256"] == read_sidecar(ckpt)["sha256"]
    assert read_sidecar(ckpt)["sha256"] == state_sha256(trained_segmenter.state_dict())


def test_cli_encrypts_a_segmenter_and_refuses_its_labels_as_a_classifier(tmp_path: Path, trained_segmenter,
                                                                           owner: tuple[Path, Path]):
    ckpt = save_checkpoint(tmp_path / "seg.safetensors", trained_segmenter, arch="dnnsec_test_segmenter", config={})
    x, y = make_windows(64, seed=3)
    data = tmp_path / "windows.safetensors"
    save_file({"x": x.contiguous(), "y": y.long().contiguous()}, str(data))
    pkg, key = tmp_path / "seg.dnnpkg", tmp_path / "seg.key"
    common = ["encrypt", str(ckpt), "--out", str(pkg), "--key", str(key), "--sign-key", str(owner[0]),
              "--data", str(data)]
    r = CliRunner().invoke(main, common)  # (N, T) labels are not class labels
    assert r.exit_code == 2 and "need 1-D labels" in r.output and not pkg.exists()
    r = CliRunner().invoke(main, [*common, "--segmenter", "--threshold", "0.5"])
    assert r.exit_code == 0, r.output
    x_test, y_test = make_windows(256, seed=2)
    encrypted = build_model("dnnsec_test_segmenter")
    encrypted.load_state_dict(read_package(pkg, load_public_key(owner[1])).state)
    assert sample_f1(encrypted, x_test, y_test) <= 0.5 * sample_f1(trained_segmenter, x_test, y_test)
    out = tmp_path / "back.safetensors"
    r = CliRunner().invoke(main, ["decrypt", str(pkg), "--key", str(key), "--out", str(out), "--owner-key",
                                  str(owner[1])])
    assert r.exit_code == 0, r.output
    assert read_sidecar(out)["sha256"] == read_sidecar(ckpt)["sha256"]
