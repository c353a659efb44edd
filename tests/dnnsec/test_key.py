"""The AdvParams key: exact restoration from bit patterns, and the (optionally sealed) key file."""

from __future__ import annotations

import json
import struct

import pytest
import torch

from dnnsec.protect.key import (
    KeyEntry,
    KeyFileError,
    ProtectionKey,
    float_bits,
    key_from_bytes,
    key_to_bytes,
    read_key,
    restore_state,
    write_key,
)
from shared.checkpoint import state_sha256


def test_float_bits_match_struct_packing():
    for value in (0.0, -0.0, 1.0, -2.5, 1e-45, 3.4028234663852886e38, 0.1):
        expected = struct.unpack("<I", struct.pack("<f", value))[0]
        assert float_bits(torch.tensor(value, dtype=torch.float32)) == expected


def test_subtracting_the_perturbation_is_not_exact_but_bits_are():
    w = torch.tensor([0.1, 1e-8, 3.0], dtype=torch.float32)
    d = torch.tensor([0.7, 0.5, 1e-7], dtype=torch.float32)
    assert not torch.equal((w + d) - d, w)  # why the key stores bit patterns
    state = {"w": w + d, "b": torch.zeros(2)}
    key = ProtectionKey("pkg", state_sha256(state), state_sha256({"w": w, "b": torch.zeros(2)}),
                        tuple(KeyEntry("w", i, float_bits(w[i])) for i in range(3)))
    restored = restore_state(state, key)
    assert torch.equal(restored["w"], w)
    assert torch.equal(state["w"], w + d)  # the input is not modified


def _key() -> tuple[dict, ProtectionKey]:
    plain = {"a": torch.linspace(-1, 1, 7), "bn.running_var": torch.ones(3)}
    enc = {k: v.clone() for k, v in plain.items()}
    enc["a"][2] = 0.9
    key = ProtectionKey("0123abcd", state_sha256(enc), state_sha256(plain),
                        (KeyEntry("a", 2, float_bits(plain["a"][2])),))
    return enc, key


def test_wrong_positions_are_refused_by_the_hash():
    enc, key = _key()
    bad = ProtectionKey(key.package_id, key.encrypted_sha256, key.protected_sha256,
                        (KeyEntry("a", 3, key.entries[0].bits),))
    with pytest.raises(KeyFileError, match="differs from the protected model"):
        restore_state(enc, bad)
    with pytest.raises(KeyFileError, match="names no float32 tensor"):
        restore_state(enc, ProtectionKey("p", "e", "h", (KeyEntry("nope", 0, 0),)))
    with pytest.raises(KeyFileError, match="outside the tensor"):
        restore_state(enc, ProtectionKey("p", "e", "h", (KeyEntry("a", 7, 0),)))


@pytest.mark.parametrize("password", [None, "correct horse"])
def test_key_file_round_trip(tmp_path, password):
    enc, key = _key()
    path = write_key(tmp_path / "k.json", key, password)
    assert path.stat().st_mode & 0o777 == 0o600
    again = read_key(path, password)
    assert again == key
    assert state_sha256(restore_state(enc, again)) == key.protected_sha256


def test_sealed_key_hides_the_positions(tmp_path):
    _, key = _key()
    raw = key_to_bytes(key, "pw")
    doc = json.loads(raw)
    assert "secret" not in doc and "positions" not in raw.decode()
    assert doc["kdf"]["n"] >= 2**15


def test_wrong_password_is_refused():
    _, key = _key()
    with pytest.raises(KeyFileError, match="wrong password"):
        key_from_bytes(key_to_bytes(key, "right"), "wrong")
    with pytest.raises(KeyFileError, match="password-protected"):
        key_from_bytes(key_to_bytes(key, "right"), None)


def test_sealed_key_moved_to_another_package_is_refused():
    _, key = _key()
    doc = json.loads(key_to_bytes(key, "pw"))
    doc["package_id"] = "someotherpackage"  # associated data no longer matches
    with pytest.raises(KeyFileError, match="altered"):
        key_from_bytes(json.dumps(doc).encode(), "pw")


def test_weak_scrypt_cost_is_refused():
    _, key = _key()
    doc = json.loads(key_to_bytes(key, "pw"))
    doc["kdf"]["n"] = 2**10
    with pytest.raises(KeyFileError, match="below the minimum"):
        key_from_bytes(json.dumps(doc).encode(), "pw")


@pytest.mark.parametrize("raw, message", [
    (b"\x00\x01garbage", "not a JSON key file"),
    (b'{"format": "other"}', "not a dnnsec key file"),
    (b'{"format": "dnnsec-advparams-key", "version": 99}', "version 99"),
    (b'{"format": "dnnsec-advparams-key", "version": 1}', "lacks the field"),
])
def test_malformed_key_files_are_refused(raw, message):
    with pytest.raises(KeyFileError, match=message):
        key_from_bytes(raw)


def test_check_opens_names_the_mismatch():
    _, key = _key()
    key.check_opens(key.package_id, key.encrypted_sha256)
    with pytest.raises(KeyFileError, match="not package"):
        key.check_opens("elsewhere", key.encrypted_sha256)
    with pytest.raises(KeyFileError, match="encrypted tensors"):
        key.check_opens(key.package_id, "0" * 64)
