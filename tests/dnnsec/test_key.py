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
from dnnsec.protect.sealing import SCRYPT_N, SCRYPT_P, SCRYPT_R
from shared.checkpoint import state_sha256

PKG = "0123abcd" * 4
FAST_N = 2**14  # the cheapest scrypt cost that still opens; new files use SCRYPT_N


def test_float_bits_match_struct_packing():
    for value in (0.0, -0.0, 1.0, -2.5, 1e-45, 3.4028234663852886e38, 0.1):
        expected = struct.unpack("<I", struct.pack("<f", value))[0]
        assert float_bits(torch.tensor(value, dtype=torch.float32)) == expected


def test_subtracting_the_perturbation_is_not_exact_but_bits_are():
    w = torch.tensor([0.1, 1e-8, 3.0], dtype=torch.float32)
    d = torch.tensor([0.7, 0.5, 1e-7], dtype=torch.float32)
    assert not torch.equal((w + d) - d, w)  # why the key stores bit patterns
    state = {"w": w + d, "b": torch.zeros(2)}
    plain_sha = state_sha256({"w": w, "b": torch.zeros(2)})
    key = ProtectionKey(PKG, state_sha256(state), plain_sha,
                        tuple(KeyEntry("w", i, float_bits(w[i])) for i in range(3)))
    restored = restore_state(state, key, plain_sha)
    assert torch.equal(restored["w"], w)
    assert torch.equal(state["w"], w + d)  # the input is not modified


def _key() -> tuple[dict, ProtectionKey]:
    plain = {"a": torch.linspace(-1, 1, 7), "bn.running_var": torch.ones(3)}
    enc = {k: v.clone() for k, v in plain.items()}
    enc["a"][2] = 0.9
    key = ProtectionKey(PKG, state_sha256(enc), state_sha256(plain),
                        (KeyEntry("a", 2, float_bits(plain["a"][2])),))
    return enc, key


def test_wrong_positions_are_refused_by_the_hash():
    enc, key = _key()
    bad = ProtectionKey(key.package_id, key.encrypted_sha256, key.protected_sha256,
                        (KeyEntry("a", 3, key.entries[0].bits),))
    with pytest.raises(KeyFileError, match="differs from the original model"):
        restore_state(enc, bad, key.protected_sha256)
    with pytest.raises(KeyFileError, match="names no float32 tensor"):
        restore_state(enc, ProtectionKey(PKG, "e", "h", (KeyEntry("nope", 0, 0),)), key.protected_sha256)
    with pytest.raises(KeyFileError, match="outside the tensor"):
        restore_state(enc, ProtectionKey(PKG, "e", "h", (KeyEntry("a", 7, 0),)), key.protected_sha256)


def test_restore_checks_the_given_hash_not_the_keys_own():
    enc, key = _key()
    forged_plain = {k: v.clone() for k, v in enc.items()}
    forged_plain["a"][2] = 0.0
    forged = ProtectionKey(PKG, key.encrypted_sha256, state_sha256(forged_plain), (KeyEntry("a", 2, 0),))
    assert state_sha256(restore_state(enc, forged, forged.protected_sha256)) == forged.protected_sha256
    with pytest.raises(KeyFileError, match="differs from the original model's"):
        restore_state(enc, forged, key.protected_sha256)


@pytest.mark.parametrize("password", [None, "correct horse"])
def test_key_file_round_trip(tmp_path, password):
    enc, key = _key()
    path = write_key(tmp_path / "k.json", key, password)
    assert path.stat().st_mode & 0o777 == 0o600
    again = read_key(path, password)
    assert again == key and again.key_id == key.key_id
    assert state_sha256(restore_state(enc, again, key.protected_sha256)) == key.protected_sha256


def test_sealed_key_hides_the_positions(tmp_path):
    _, key = _key()
    raw = key_to_bytes(key, "pw")
    doc = json.loads(raw)
    assert "secret" not in doc and "positions" not in raw.decode()
    assert (doc["kdf"]["n"], doc["kdf"]["r"], doc["kdf"]["p"]) == (SCRYPT_N, SCRYPT_R, SCRYPT_P) == (2**17, 8, 1)


def test_old_key_files_with_n_2_15_still_open():
    _, key = _key()
    raw = key_to_bytes(key, "pw", scrypt_n=2**15)
    assert json.loads(raw)["kdf"]["n"] == 2**15
    assert key_from_bytes(raw, "pw") == key


def test_wrong_password_is_refused():
    _, key = _key()
    with pytest.raises(KeyFileError, match="wrong password"):
        key_from_bytes(key_to_bytes(key, "right", scrypt_n=FAST_N), "wrong")
    with pytest.raises(KeyFileError, match="password-protected"):
        key_from_bytes(key_to_bytes(key, "right", scrypt_n=FAST_N), None)


def test_sealed_key_moved_to_another_package_is_refused():
    _, key = _key()
    doc = json.loads(key_to_bytes(key, "pw", scrypt_n=FAST_N))
    doc["package_id"] = "f" * 32  # associated data no longer matches
    with pytest.raises(KeyFileError, match="altered"):
        key_from_bytes(json.dumps(doc).encode(), "pw")


def test_weak_scrypt_cost_is_refused():
    _, key = _key()
    doc = json.loads(key_to_bytes(key, "pw", scrypt_n=FAST_N))
    doc["kdf"]["n"] = 2**10
    with pytest.raises(KeyFileError, match=r"'kdf.n' = 1024 is outside \[16384, 1048576\]"):
        key_from_bytes(json.dumps(doc).encode(), "pw")


@pytest.mark.parametrize("raw, message", [
    (b"\x00\x01garbage", "not a JSON key file"),
    (b'{"format": "other"}', "not a dnnsec key file"),
    (b'{"format": "dnnsec-advparams-key", "version": 99}', "version 99"),
    (b'{"format": "dnnsec-advparams-key", "version": 1}', "lacks the field 'package_id'"),
    (b'{"format": "dnnsec-advparams-key", "version": true}', "version True"),
])
def test_malformed_key_files_are_refused(raw, message):
    with pytest.raises(KeyFileError, match=message):
        key_from_bytes(raw)


def test_check_opens_names_the_mismatch():
    _, key = _key()
    key.check_opens(key.package_id, key.encrypted_sha256, key.key_id)
    with pytest.raises(KeyFileError, match="not package"):
        key.check_opens("elsewhere", key.encrypted_sha256)
    with pytest.raises(KeyFileError, match="encrypted tensors"):
        key.check_opens(key.package_id, "0" * 64)
    with pytest.raises(KeyFileError, match="does not belong"):
        key.check_opens(key.package_id, key.encrypted_sha256, "0" * 64)


def test_key_id_changes_with_any_position():
    _, key = _key()
    moved = ProtectionKey(key.package_id, key.encrypted_sha256, key.protected_sha256,
                          (KeyEntry("a", 2, key.entries[0].bits ^ 1),))
    longer = ProtectionKey(key.package_id, key.encrypted_sha256, key.protected_sha256,
                           (*key.entries, KeyEntry("a", 3, 0)))
    assert len({key.key_id, moved.key_id, longer.key_id}) == 3
