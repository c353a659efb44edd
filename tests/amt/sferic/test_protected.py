"""`amt detect` / `amt process` with a protected sferic model: same detections as the plain model, clear refusals.

A tiny sferic CNN is trained (30 steps), encrypted twice into signed packages (two users' copies, each with its own
key file) by ``dnnsec``'s package path, and read by ``amt`` through :mod:`amt.sferic.protected`
(``docs/acceptance.md#protected-sferic-distribution``).
"""

from __future__ import annotations

import json
import math
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import amt.io
from amt.cli import main
from amt.record import Station
from amt.sferic.protected import ProtectedModelError, is_package, load_detector
from amt.sferic.sampler import SamplerConfig, SfericSource
from amt.sferic.train import RunConfig, train
from amt.synth.records import FieldConfig, synthesize, to_run
from dnnsec.package.protected import encrypt_checkpoint
from dnnsec.package.signing import generate_owner_keys, load_private_key
from dnnsec.protect.advparams import binary_segmenter_decisions
from shared.checkpoint import read_sidecar
from shared.errors import EXIT_ERROR
from shared.seeding import stream_rng
from tests.amt.sferic.conftest import TINY


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict[str, Path]:
    """A tiny trained model, the owner's pinned key, two users' packages and keys, and a short record."""
    d = tmp_path_factory.mktemp("protected")
    model, _ = train(RunConfig.from_dict({**TINY, "train": {**TINY["train"], "max_steps": 40}}), d / "run", False)
    keyring = d / "owners"
    keyring.mkdir()
    generate_owner_keys(d / "acme.key", keyring / "acme.pub")
    signer = load_private_key(d / "acme.key")
    source = SfericSource(SamplerConfig.from_dict(TINY["sampler"]))
    xs, ys = zip(*(source(stream_rng(7_070, k)) for k in range(16)), strict=True)
    x, y = torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))
    p = float(read_sidecar(model)["extra"]["threshold"])
    decisions = partial(binary_segmenter_decisions, threshold_logit=math.log(p / (1 - p)))
    for user in ("ann", "bob"):
        encrypt_checkpoint(model, package_out=d / f"{user}.dnnpkg", key_out=d / f"{user}.key", signer=signer,
                           owner="acme", x=x, y=y, n_params=20, progress=False, decisions=decisions)
    rec = synthesize(24_000, FieldConfig(sferic_rate_hz=6.0, snr_db=15.0), stream_rng(9_003, 0))
    record = amt.io.write(Station("SYN", [to_run(rec, start="2026-03-01T12:00:00")]), d / "rec.npz")
    return {"dir": d, "model": model, "keyring": keyring, "record": record}


@pytest.fixture
def pinned(dist, monkeypatch) -> dict[str, Path]:
    monkeypatch.setenv("DNNSEC_KEYRING", str(dist["keyring"]))
    monkeypatch.delenv("DNNSEC_KEY_PASSWORD", raising=False)
    return dist


def _detect(d: dict[str, Path], out: Path, *extra: str):
    return CliRunner().invoke(main, ["detect", str(d["record"]), "--out", str(out), *extra])


def test_package_detects_exactly_as_the_plain_model_and_writes_no_weights(pinned, tmp_path):
    d = pinned
    before = sorted(p.name for p in d["dir"].rglob("*"))
    plain = _detect(d, tmp_path / "plain.csv", "--model", str(d["model"]))
    protected = _detect(d, tmp_path / "protected.csv", "--model", str(d["dir"] / "ann.dnnpkg"),
                        "--key", str(d["dir"] / "ann.key"))
    assert plain.exit_code == 0 and protected.exit_code == 0, protected.output
    assert len((tmp_path / "plain.csv").read_text().splitlines()) > 1, "the tiny model detects nothing"
    assert (tmp_path / "plain.csv").read_bytes() == (tmp_path / "protected.csv").read_bytes()
    assert sorted(p.name for p in d["dir"].rglob("*")) == before  # nothing decrypted onto disk
    assert list(tmp_path.iterdir()) and not list(tmp_path.glob("*.safetensors"))
    model = load_detector(d["model"]).model
    opened = load_detector(d["dir"] / "bob.dnnpkg", d["dir"] / "bob.key").model
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), opened.state_dict().values(),
                                                  strict=True))


def test_encrypted_weights_detect_otherwise(pinned):
    """The package's tensors as they are (no key) are not the model: the probability trace differs."""
    from dnnsec.package.container import read_package
    from dnnsec.package.signing import load_public_key

    d = pinned
    package = read_package(d["dir"] / "ann.dnnpkg", load_public_key(d["keyring"] / "acme.pub"))
    plain = load_detector(d["model"])
    x = torch.from_numpy(np.stack([SfericSource(SamplerConfig.from_dict(TINY["sampler"]))(stream_rng(7_071, 0))[0]]))
    encrypted = load_detector(d["model"]).model
    encrypted.load_state_dict(package.state)
    with torch.no_grad():
        assert not torch.equal(plain.model(x), encrypted(x))


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no key", "is a protected (encrypted) sferic model; give the key file"),
        ("another user's key", "does not open this package (a key issued for another copy"),
        ("tampered package", "the package was tampered with"),
        ("key without package", "given without --model"),
        ("altered key", "does not open this package"),
    ],
)
def test_refusals_name_the_problem(pinned, tmp_path, case, message):
    d = pinned
    package, key = d["dir"] / "ann.dnnpkg", d["dir"] / "ann.key"
    if case == "another user's key":
        key = d["dir"] / "bob.key"
    if case == "tampered package":
        raw = bytearray(package.read_bytes())
        raw[len(raw) // 2] ^= 0x01
        package = tmp_path / "tampered.dnnpkg"
        package.write_bytes(bytes(raw))
    if case == "altered key":
        doc = json.loads(key.read_text())
        doc["secret"]["positions"][0][1] += 1  # another position than the owner signed
        key = tmp_path / "altered.key"
        key.write_text(json.dumps(doc))
    args = {"no key": ["--model", str(package)], "key without package": ["--key", str(key)]}.get(
        case, ["--model", str(package), "--key", str(key)])
    res = _detect(d, tmp_path / "e.csv", *args)
    assert res.exit_code == EXIT_ERROR, res.output
    assert message in res.output and "error:" in res.output
    assert not (tmp_path / "e.csv").exists()


def test_owner_key_must_be_pinned(dist, tmp_path, monkeypatch):
    monkeypatch.setenv("DNNSEC_KEYRING", str(tmp_path / "empty"))
    with pytest.raises(Exception, match="no public key pinned for owner 'acme'"):
        load_detector(dist["dir"] / "ann.dnnpkg", dist["dir"] / "ann.key")
    with pytest.raises(ProtectedModelError, match="not a protected model package"):
        load_detector(dist["model"], dist["dir"] / "ann.key")
    assert is_package(dist["dir"] / "ann.dnnpkg") and not is_package(dist["model"])


def test_amt_process_refuses_a_package_without_its_key(pinned, tmp_path):
    d = pinned
    res = CliRunner().invoke(main, ["process", str(d["record"]), "--out", str(tmp_path / "r"), "--model",
                                    str(d["dir"] / "ann.dnnpkg")])
    assert res.exit_code == EXIT_ERROR and "give the key file issued to you with --key" in res.output
    res = CliRunner().invoke(main, ["process", str(d["record"]), "--out", str(tmp_path / "r"), "--mode",
                                    "conventional", "--model", str(d["dir"] / "ann.dnnpkg"), "--key",
                                    str(d["dir"] / "ann.key")])
    assert res.exit_code == EXIT_ERROR and "not with --mode conventional" in res.output
    assert not (tmp_path / "r").exists()
