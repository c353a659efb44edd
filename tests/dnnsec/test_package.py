"""The protected-model package: exact round trip, and every refusal with nothing half-written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dnnsec.package.container import MAGIC, MAGIC_V1, PackageError, package_bytes, read_package
from dnnsec.package.outputs import OutputError
from dnnsec.package.protected import decrypt_package, describe, encrypt_checkpoint, load_protected
from dnnsec.package.signing import OwnerKeyError, generate_owner_keys, load_private_key, load_public_key
from dnnsec.protect.key import KeyEntry, KeyFileError, ProtectionKey, key_from_bytes
from shared.architectures import build_model
from shared.checkpoint import load_checkpoint, read_sidecar, state_sha256
from tests.dnnsec.conftest import accuracy


@pytest.fixture()
def encrypted(tmp_path, checkpoint, owner, blobs_train):
    x, y = blobs_train
    report = encrypt_checkpoint(checkpoint, package_out=tmp_path / "m.dnnpkg", key_out=tmp_path / "m.key",
                                signer=load_private_key(owner[0]), owner="alice", x=x[:512], y=y[:512],
                                progress=False)
    return report


def test_round_trip_restores_the_hash_exactly(tmp_path, checkpoint, owner, encrypted, blobs_test):
    package = read_package(encrypted.package, load_public_key(owner[1]))
    plain_sha = read_sidecar(checkpoint)["sha256"]
    assert package.encrypted_sha256 != plain_sha
    assert 1 <= encrypted.n_encrypted <= 50
    out = decrypt_package(encrypted.package, key_path=encrypted.key, out=tmp_path / "back.safetensors",
                          owner_key=load_public_key(owner[1]))
    restored, _ = load_checkpoint(out)
    assert state_sha256(restored.state_dict()) == plain_sha
    plain, _ = load_checkpoint(checkpoint)
    assert accuracy(restored, *blobs_test) == accuracy(plain, *blobs_test)


def test_encrypted_package_model_is_near_chance(owner, encrypted, blobs_test):

    package = read_package(encrypted.package, load_public_key(owner[1]))
    model = build_model(package.header["arch"], package.header["config"])
    model.load_state_dict(package.state)
    assert accuracy(model, *blobs_test) <= 0.15
    info = describe(package)
    assert info["meta"]["owner"] == "alice" and info["meta"]["method"]["n_encrypted"] == encrypted.n_encrypted


def test_sealed_key_round_trip(tmp_path, checkpoint, owner, blobs_train):
    x, y = blobs_train
    rep = encrypt_checkpoint(checkpoint, package_out=tmp_path / "s.dnnpkg", key_out=tmp_path / "s.key",
                             signer=load_private_key(owner[0]), owner="alice", x=x[:256], y=y[:256],
                             password="pw", progress=False)
    pub = load_public_key(owner[1])
    with pytest.raises(KeyFileError, match="wrong password"):
        decrypt_package(rep.package, key_path=rep.key, out=tmp_path / "o.safetensors", owner_key=pub, password="no")
    assert not (tmp_path / "o.safetensors").exists()
    out = decrypt_package(rep.package, key_path=rep.key, out=tmp_path / "o.safetensors", owner_key=pub,
                          password="pw")
    assert read_sidecar(out)["sha256"] == read_sidecar(checkpoint)["sha256"]


def _refused(tmp_path, package, key, pub, error, match, password=None):
    out = tmp_path / "refused.safetensors"
    with pytest.raises(error, match=match):
        decrypt_package(package, key_path=key, out=out, owner_key=pub, password=password)
    assert not out.exists() and not out.with_suffix(".json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_key_for_another_package_is_refused(tmp_path, checkpoint, owner, encrypted, blobs_train):
    x, y = blobs_train
    other = encrypt_checkpoint(checkpoint, package_out=tmp_path / "o.dnnpkg", key_out=tmp_path / "o.key",
                               signer=load_private_key(owner[0]), owner="alice", x=x[512:768], y=y[512:768],
                               progress=False)
    _refused(tmp_path, encrypted.package, other.key, load_public_key(owner[1]), KeyFileError, "is for package")


def test_wrong_key_is_refused(tmp_path, owner, encrypted):
    doc = json.loads(encrypted.key.read_bytes())
    doc["secret"]["positions"][0][2] = f"{(int(doc['secret']['positions'][0][2], 16) ^ 1):08x}"  # one bit off
    bad = tmp_path / "bad.key"
    bad.write_text(json.dumps(doc))
    _refused(tmp_path, encrypted.package, bad, load_public_key(owner[1]), KeyFileError, "does not belong")


def test_key_with_extra_positions_and_a_matching_hash_is_refused(tmp_path, owner, encrypted):
    """docs/acceptance.md#signed-packages: ten bias entries and a matching hash added to a plain key file."""
    doc = json.loads(encrypted.key.read_bytes())
    package = read_package(encrypted.package, load_public_key(owner[1]))
    key = key_from_bytes(encrypted.key.read_bytes())
    forged = ProtectionKey(key.package_id, key.encrypted_sha256, key.protected_sha256,
                           (*key.entries, *(KeyEntry("3.bias", i, 0) for i in range(10))))
    restored = {k: v.clone() for k, v in package.state.items()}
    for e in forged.entries:
        restored[e.name].view(-1).view(torch.int32)[e.index] = e.bits - (1 << 32) if e.bits >= 1 << 31 else e.bits
    doc["secret"]["positions"] += [["3.bias", i, "00000000"] for i in range(10)]
    doc["secret"]["protected_sha256"] = state_sha256(restored)  # a hash that matches the forged restore
    bad = tmp_path / "forged.key"
    bad.write_text(json.dumps(doc))
    _refused(tmp_path, encrypted.package, bad, load_public_key(owner[1]), KeyFileError,
             "does not belong to package")


def test_a_package_whose_signed_hash_the_key_does_not_reproduce_is_refused(tmp_path, owner, encrypted):
    """Even with the right key, restoring must reproduce the hash the owner signed (not one the key supplies)."""
    package = read_package(encrypted.package, load_public_key(owner[1]))
    header = {k: v for k, v in package.header.items() if k not in ("format", "encrypted_sha256",
                                                                      "signer_fingerprint")}
    header["plain_sha256"] = "0" * 64
    odd = tmp_path / "odd.dnnpkg"
    odd.write_bytes(package_bytes(header, package.state, load_private_key(owner[0])))
    _refused(tmp_path, odd, encrypted.key, load_public_key(owner[1]), KeyFileError,
             "differs from the original model's")


def test_in_memory_loader_restores_the_signed_model(checkpoint, owner, encrypted, blobs_test):
    model, header = load_protected(encrypted.package, key_path=encrypted.key, owner_key=load_public_key(owner[1]))
    plain_sha = read_sidecar(checkpoint)["sha256"]
    assert header["plain_sha256"] == plain_sha == state_sha256(model.state_dict())
    assert header["key_id"] == key_from_bytes(encrypted.key.read_bytes()).key_id
    plain, _ = load_checkpoint(checkpoint)
    assert accuracy(model, *blobs_test) == accuracy(plain, *blobs_test)


def test_decrypted_checkpoint_keeps_the_source_metadata(tmp_path, checkpoint, owner, encrypted):
    out = decrypt_package(encrypted.package, key_path=encrypted.key, out=tmp_path / "back.safetensors",
                          owner_key=load_public_key(owner[1]))
    extra = read_sidecar(out)["extra"]
    assert extra["dataset"] == read_sidecar(checkpoint)["extra"]["dataset"] == "blobs"
    assert extra["decrypted_from"] == encrypted.package_id and extra["owner"] == "alice"


def test_format_1_package_is_refused_with_a_request_to_reissue(tmp_path, owner, encrypted):
    old = tmp_path / "old.dnnpkg"
    old.write_bytes(MAGIC_V1 + encrypted.package.read_bytes()[len(MAGIC):])
    _refused(tmp_path, old, encrypted.key, load_public_key(owner[1]), PackageError,
             "format version 1 .* re-issue")


def test_outputs_are_never_silently_replaced(tmp_path, checkpoint, owner, encrypted, blobs_train):
    x, y = blobs_train
    before = encrypted.key.read_bytes()
    common = dict(signer=load_private_key(owner[0]), owner="alice", x=x[:128], y=y[:128], progress=False)
    with pytest.raises(OutputError, match="exists; refusing to overwrite"):
        encrypt_checkpoint(checkpoint, package_out=tmp_path / "new.dnnpkg", key_out=encrypted.key, **common)
    with pytest.raises(OutputError, match="input file"):
        encrypt_checkpoint(checkpoint, package_out=checkpoint, key_out=tmp_path / "n.key", force=True, **common)
    with pytest.raises(OutputError, match="two outputs"):
        encrypt_checkpoint(checkpoint, package_out=tmp_path / "same", key_out=tmp_path / "." / "same", **common)
    assert encrypted.key.read_bytes() == before and not (tmp_path / "new.dnnpkg").exists()
    rep = encrypt_checkpoint(checkpoint, package_out=encrypted.package, key_out=encrypted.key, force=True, **common)
    assert rep.package_id != encrypted.package_id and encrypted.key.read_bytes() != before


def test_missing_key_file_is_refused(tmp_path, owner, encrypted):
    _refused(tmp_path, encrypted.package, tmp_path / "absent.key", load_public_key(owner[1]), KeyFileError,
             "cannot read key file")


@pytest.mark.parametrize("where", ["header", "weights", "signature"])
def test_tampered_package_is_refused(tmp_path, owner, encrypted, where):
    raw = bytearray(encrypted.package.read_bytes())
    head_len = int.from_bytes(raw[len(MAGIC):len(MAGIC) + 8], "little")
    offset = {"header": len(MAGIC) + 8 + head_len // 2, "weights": len(raw) - 64 - 5, "signature": len(raw) - 3}
    raw[offset[where]] ^= 0x01
    tampered = tmp_path / "t.dnnpkg"
    tampered.write_bytes(bytes(raw))
    _refused(tmp_path, tampered, encrypted.key, load_public_key(owner[1]), PackageError, "tampered")


def test_package_signed_by_someone_else_is_refused(tmp_path, checkpoint, owner, blobs_train):
    generate_owner_keys(tmp_path / "mallory.key", tmp_path / "mallory.pub")
    x, y = blobs_train
    forged = encrypt_checkpoint(checkpoint, package_out=tmp_path / "f.dnnpkg", key_out=tmp_path / "f.key",
                                signer=load_private_key(tmp_path / "mallory.key"), owner="alice",
                                x=x[:256], y=y[:256], progress=False)
    _refused(tmp_path, forged.package, forged.key, load_public_key(owner[1]), PackageError, "signed by someone else")


@pytest.mark.parametrize("keep", [5, len(MAGIC) + 4, 200, -1])
def test_truncated_package_is_refused(tmp_path, owner, encrypted, keep):
    raw = encrypted.package.read_bytes()
    cut = tmp_path / "cut.dnnpkg"
    cut.write_bytes(raw[:keep])
    match = "bad magic" if 0 <= keep < len(MAGIC) else "truncated"
    _refused(tmp_path, cut, encrypted.key, load_public_key(owner[1]), PackageError, match)


def test_trailing_bytes_are_refused(tmp_path, owner, encrypted):
    longer = tmp_path / "long.dnnpkg"
    longer.write_bytes(encrypted.package.read_bytes() + b"x")
    _refused(tmp_path, longer, encrypted.key, load_public_key(owner[1]), PackageError, "unexpected bytes")


def test_bad_owner_key_file_is_refused(tmp_path):
    bad = tmp_path / "bad.pub"
    bad.write_text("not a key")
    with pytest.raises(OwnerKeyError, match="not a PEM public key"):
        load_public_key(bad)


def test_package_survives_a_trip_through_another_process(tmp_path, checkpoint, owner, encrypted):
    out = tmp_path / "elsewhere.safetensors"
    code = (
        "import sys, tests.dnnsec.conftest;"
        "from pathlib import Path;"
        "from dnnsec.package.protected import decrypt_package;"
        "from dnnsec.package.signing import load_public_key;"
        "decrypt_package(Path(sys.argv[1]), key_path=Path(sys.argv[2]), out=Path(sys.argv[3]),"
        " owner_key=load_public_key(Path(sys.argv[4])))"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code, str(encrypted.package), str(encrypted.key), str(out), str(owner[1])],
                   check=True, cwd=root, capture_output=True, timeout=120)
    assert read_sidecar(out)["sha256"] == read_sidecar(checkpoint)["sha256"]
    restored, _ = load_checkpoint(out)
    assert state_sha256(restored.state_dict()) == read_sidecar(checkpoint)["sha256"]
