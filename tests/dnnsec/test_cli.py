"""The dnnsec command line: keygen, encrypt, inspect, decrypt, and refusals with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

from dnnsec.cli import main
from shared.checkpoint import read_sidecar


@pytest.fixture()
def data_file(tmp_path, blobs_train):
    x, y = blobs_train
    path = tmp_path / "blobs.safetensors"
    save_file({"x": x[:400].contiguous(), "y": y[:400].contiguous()}, str(path))
    return path


@pytest.mark.parametrize("command", [[], ["encrypt"], ["decrypt"], ["inspect"], ["keygen"], ["zoo", "build"]])
def test_every_command_has_help_with_examples(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Examples:" in result.output


def test_help_lists_every_command_without_importing_torch():
    code = ("import sys; from click.testing import CliRunner; from dnnsec.cli import main; "
            "r = CliRunner().invoke(main, ['--help']); print(r.exit_code, 'torch' in sys.modules); print(r.output)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0] == "0 False"
    for command in ("zoo", "keygen", "encrypt", "decrypt", "inspect", "users", "issue", "calibrate", "verify"):
        assert f"  {command} " in out


def test_cli_round_trip_with_keyring(tmp_path, checkpoint, data_file, monkeypatch):
    monkeypatch.setenv("DNNSEC_KEYRING", str(tmp_path / "ring"))
    runner = CliRunner()
    owner = tmp_path / "alice"
    r = runner.invoke(main, ["keygen", "--out", str(owner), "--pin", "alice"])
    assert r.exit_code == 0, r.output
    pkg, key = tmp_path / "m.dnnpkg", tmp_path / "m.key"
    r = runner.invoke(main, ["encrypt", str(checkpoint), "--out", str(pkg), "--key", str(key),
                             "--sign-key", f"{owner}.key", "--data", str(data_file), "--samples", "256"],
                      env={"DNNSEC_KEY_PASSWORD": "s3cret"})
    assert r.exit_code == 0, r.output
    assert "encrypted" in r.output
    r = runner.invoke(main, ["inspect", str(pkg)])  # owner key found in the keyring by the owner name
    assert r.exit_code == 0, r.output
    assert "signature verified" in r.output and "alice" in r.output
    out = tmp_path / "back.safetensors"
    r = runner.invoke(main, ["decrypt", str(pkg), "--key", str(key), "--out", str(out)],
                      env={"DNNSEC_KEY_PASSWORD": "wrong"})
    assert r.exit_code == 2 and "wrong password" in r.output and not out.exists()
    r = runner.invoke(main, ["decrypt", str(pkg), "--key", str(key), "--out", str(out),
                             "--owner-key", f"{owner}.pub"], env={"DNNSEC_KEY_PASSWORD": "s3cret"})
    assert r.exit_code == 0, r.output
    assert read_sidecar(out)["sha256"] == read_sidecar(checkpoint)["sha256"]


def test_unpinned_owner_is_refused(tmp_path, checkpoint, data_file, owner, monkeypatch):
    monkeypatch.setenv("DNNSEC_KEYRING", str(tmp_path / "empty-ring"))
    runner = CliRunner()
    pkg, key = tmp_path / "m.dnnpkg", tmp_path / "m.key"
    r = runner.invoke(main, ["encrypt", str(checkpoint), "--out", str(pkg), "--key", str(key),
                             "--sign-key", str(owner[0]), "--data", str(data_file), "--samples", "128"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["inspect", str(pkg)])
    assert r.exit_code == 2 and "no public key pinned for owner 'alice'" in r.output


def test_encrypt_refuses_a_tampered_checkpoint(tmp_path, checkpoint, data_file, owner):
    from safetensors.torch import load_file

    state = load_file(str(checkpoint))
    first = sorted(state)[0]
    state[first] = state[first] + 1.0 if state[first].is_floating_point() else state[first] + 1
    save_file({k: v.contiguous() for k, v in state.items()}, str(checkpoint))
    r = CliRunner().invoke(main, ["encrypt", str(checkpoint), "--out", str(tmp_path / "p"), "--key",
                                  str(tmp_path / "k"), "--sign-key", str(owner[0]), "--data", str(data_file)])
    assert r.exit_code == 2 and "tampered" in r.output
    assert not (tmp_path / "p").exists() and not (tmp_path / "k").exists()
    assert torch.is_tensor(state[first])


def test_encrypt_shows_progress_and_decrypt_keeps_the_data_set(tmp_path, checkpoint, data_file, owner):
    runner = CliRunner()
    pkg, key, out = tmp_path / "m.dnnpkg", tmp_path / "m.key", tmp_path / "back.safetensors"
    r = runner.invoke(main, ["encrypt", str(checkpoint), "--out", str(pkg), "--key", str(key),
                             "--sign-key", str(owner[0]), "--data", str(data_file), "--samples", "128"])
    assert r.exit_code == 0, r.output
    assert "encrypting" in r.stderr and "param" in r.stderr  # the search's tqdm bar, on stderr
    r = runner.invoke(main, ["inspect", str(pkg), "--owner-key", str(owner[1])])
    assert r.exit_code == 0 and f"restores     sha256 {read_sidecar(checkpoint)['sha256']}" in r.output
    r = runner.invoke(main, ["decrypt", str(pkg), "--key", str(key), "--owner-key", str(owner[1]), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert read_sidecar(out)["extra"]["dataset"] == read_sidecar(checkpoint)["extra"]["dataset"] == "blobs"


def test_keygen_with_a_password_seals_the_signing_key_with_scrypt(tmp_path, checkpoint, data_file):
    runner = CliRunner()
    env = {"DNNSEC_SIGN_KEY_PASSWORD": "sign-pw"}
    r = runner.invoke(main, ["keygen", "--out", str(tmp_path / "bob")], env=env)
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "bob.key").read_text())
    assert doc["format"] == "dnnsec-owner-key" and (doc["kdf"]["n"], doc["kdf"]["r"], doc["kdf"]["p"]) == (2**17, 8, 1)
    assert (tmp_path / "bob.key").stat().st_mode & 0o777 == 0o600
    args = ["encrypt", str(checkpoint), "--out", str(tmp_path / "b.dnnpkg"), "--key", str(tmp_path / "b.key"),
            "--sign-key", str(tmp_path / "bob.key"), "--data", str(data_file), "--samples", "128"]
    r = runner.invoke(main, args)
    assert r.exit_code == 2 and "password-protected" in r.output and not (tmp_path / "b.dnnpkg").exists()
    r = runner.invoke(main, args, env=env)
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["inspect", str(tmp_path / "b.dnnpkg"), "--owner-key", str(tmp_path / "bob.pub")])
    assert r.exit_code == 0 and "owner        bob" in r.output


def test_old_pkcs8_signing_keys_still_load(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from dnnsec.package.signing import fingerprint, load_private_key

    key = Ed25519PrivateKey.generate()
    old = tmp_path / "old.key"
    old.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.BestAvailableEncryption(b"pw")))
    assert fingerprint(load_private_key(old, "pw").public_key()) == fingerprint(key.public_key())
