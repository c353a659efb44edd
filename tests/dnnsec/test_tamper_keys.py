"""Tamper and misuse of key files (plain and sealed) and owner keys: each refused, KDF bombs before any derivation.

docs/acceptance.md#signed-packages. Cases run through ``dnnsec decrypt`` / ``dnnsec encrypt`` with the helpers of
``test_tamper_packages.py`` (exit 2, ``error:`` naming the file, no traceback, bounded time, no file changed).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnnsec.package.container import PackageError, check_header, read_package
from dnnsec.package.signing import load_public_key
from dnnsec.protect import sealing
from dnnsec.protect.key import KeyFileError, key_from_bytes
from shared.architectures import model_shapes
from shared.checkpoint import check_sidecar
from shared.errors import CheckpointError, ConfigError
from tests.dnnsec import test_tamper_packages as shared_world
from tests.dnnsec.test_tamper_packages import PASSWORD, decrypt_args, refused

ROOT = Path(__file__).resolve().parents[2]
tamper_world, world = shared_world.tamper_world, shared_world.world  # the fixtures


def _forged_bias_key(w: Path) -> dict:
    """The attack: ten ``3.bias`` positions added to the plain key, with the hash of the model they restore."""
    from shared.checkpoint import state_sha256

    doc = json.loads((w / "m.key").read_bytes())
    package = read_package(w / "m.dnnpkg", load_public_key(w / "alice.pub"))
    state = {k: v.clone() for k, v in package.state.items()}
    key = key_from_bytes((w / "m.key").read_bytes())
    for e in key.entries:
        state[e.name].view(-1).view(torch.int32)[e.index] = e.bits - (1 << 32) if e.bits >= 1 << 31 else e.bits
    state["3.bias"][:] = 0.0
    doc["secret"]["positions"] += [["3.bias", i, "00000000"] for i in range(10)]
    doc["secret"]["protected_sha256"] = state_sha256(state)
    return doc


def _pos(edit: Callable[[list], object]) -> Callable[[dict], dict]:
    """An edit of the first position [name, index, bits]."""
    def apply(doc: dict) -> dict:
        doc["secret"]["positions"][0] = edit(list(doc["secret"]["positions"][0]))
        return doc
    return apply


def _set(path: str, value) -> Callable[[dict], dict]:
    def apply(doc: dict) -> dict:
        *parents, last = path.split(".")
        node = doc
        for p in parents:
            node = node[p]
        node[last] = value
        return doc
    return apply


def _drop(path: str) -> Callable[[dict], dict]:
    def apply(doc: dict) -> dict:
        *parents, last = path.split(".")
        node = doc
        for p in parents:
            node = node[p]
        del node[last]
        return doc
    return apply


PLAIN_EDITS: dict[str, Callable[[dict], object]] = {
    "one bit off": _pos(lambda e: [e[0], e[1], f"{int(e[2], 16) ^ 1:08x}"]),
    "position moved": _pos(lambda e: [e[0], e[1] + 1, e[2]]),
    "position dropped": lambda d: _set("secret.positions", d["secret"]["positions"][1:])(d),
    "position twice": lambda d: _set("secret.positions", d["secret"]["positions"] * 2)(d),
    "positions string": _set("secret.positions", "all"),
    "positions empty": _set("secret.positions", []),
    "positions huge count": _set("secret.positions", [["3.bias", 0, "00000000"]] * (2**16 + 1)),
    "entry arity": _pos(lambda e: e[:2]),
    "entry object": _pos(lambda e: {"name": e[0]}),
    "name int": _pos(lambda e: [5, e[1], e[2]]),
    "name path": _pos(lambda e: ["../../etc/passwd", e[1], e[2]]),
    "name long": _pos(lambda e: ["a" * 300, e[1], e[2]]),
    "name unknown tensor": _pos(lambda e: ["nope.weight", e[1], e[2]]),
    "index negative": _pos(lambda e: [e[0], -1, e[2]]),
    "index huge": _pos(lambda e: [e[0], 2**70, e[2]]),
    "index float": _pos(lambda e: [e[0], 1.5, e[2]]),
    "index string": _pos(lambda e: [e[0], "3", e[2]]),
    "index bool": _pos(lambda e: [e[0], True, e[2]]),
    "bits not hex": _pos(lambda e: [e[0], e[1], "xyzxyzxy"]),
    "bits too long": _pos(lambda e: [e[0], e[1], "123456789"]),
    "bits int": _pos(lambda e: [e[0], e[1], 5]),
    "protected hash other": _set("secret.protected_sha256", "ab" * 32),
    "protected hash int": _set("secret.protected_sha256", 5),
    "secret extra field": _set("secret.note", "hi"),
    "secret missing": _drop("secret"),
    "secret list": _set("secret", []),
    "package id other": _set("package_id", "f" * 32),
    "package id path": _set("package_id", "../../x"),
    "package id int": _set("package_id", 7),
    "encrypted hash other": _set("encrypted_sha256", "0" * 64),
    "version 2": _set("version", 2),
    "version string": _set("version", "1"),
    "format other": _set("format", "something"),
    "sealed string": _set("sealed", "no"),
    "sealed missing": _drop("sealed"),
    "extra field": _set("surprise", 1),
    "document list": lambda d: [d],
    "document string": lambda d: "key",
    "ten bias entries with a matching hash": None,  # filled in by the test (needs the package)
}


@pytest.mark.parametrize("case", sorted(PLAIN_EDITS))
def test_plain_key_file_edit_is_refused(world, case):
    key = world / "m.key"
    doc = _forged_bias_key(world) if PLAIN_EDITS[case] is None else PLAIN_EDITS[case](json.loads(key.read_bytes()))
    key.write_text(json.dumps(doc))
    refused(world, decrypt_args(world, world / "m.dnnpkg", key), [key])


def test_the_attack_of_ten_bias_entries_names_the_key(world):
    key = world / "m.key"
    key.write_text(json.dumps(_forged_bias_key(world)))
    refused(world, decrypt_args(world, world / "m.dnnpkg", key), [key], match="does not belong to package")


@pytest.mark.parametrize("fraction", [0.0, 0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95])
def test_plain_key_file_byte_flip_is_refused(world, fraction):
    key = world / "m.key"
    raw = bytearray(key.read_bytes())
    at = min(int(fraction * len(raw)), len(raw) - 2)
    while chr(raw[at]) in " \n":  # a flip in whitespace would change nothing
        at += 1
    raw[at] ^= 0x01
    key.write_bytes(bytes(raw))
    refused(world, decrypt_args(world, world / "m.dnnpkg", key), [key])


@pytest.mark.parametrize("keep", [0, 1, 40, "half", -3])
def test_truncated_key_file_is_refused(world, keep):
    key = world / "m.key"
    raw = key.read_bytes()
    key.write_bytes(raw[:len(raw) // 2] if keep == "half" else raw[:keep])
    refused(world, decrypt_args(world, world / "m.dnnpkg", key), [key])


@pytest.mark.parametrize("content", [b"\xff\xfe\x00", b"[" * 100_000, b" " * (32 * 2**20 + 1)])
def test_unreadable_or_huge_key_file_is_refused(world, content):
    key = world / "m.key"
    key.write_bytes(content)
    refused(world, decrypt_args(world, world / "m.dnnpkg", key), [key])


def test_key_file_that_is_a_folder_is_refused(world):
    refused(world, decrypt_args(world, world / "m.dnnpkg", world / "ring"), [world / "ring"])


# ---------------------------------------------------------------------------------------------------------------
# Sealed key files: bounded KDF parameters, checked before any derivation
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture()
def no_kdf(monkeypatch):
    """Fail the test if scrypt is ever run."""
    def forbidden(*args, **kwargs):
        raise AssertionError("the KDF ran on out-of-range parameters")

    monkeypatch.setattr(sealing, "derive", forbidden)


KDF_BOMBS: dict[str, Callable[[dict], object]] = {
    "n 2^40": _set("kdf.n", 2**40),
    "r 2^20": _set("kdf.r", 2**20),
    "p 10^6": _set("kdf.p", 10**6),
    "n 2^21": _set("kdf.n", 2**21),
    "n 2^10": _set("kdf.n", 2**10),
    "n not a power of two": _set("kdf.n", 3 * 2**14),
    "n string": _set("kdf.n", "16384"),
    "n bool": _set("kdf.n", True),
    "n float": _set("kdf.n", 16384.0),
    "n negative": _set("kdf.n", -16384),
    "r 0": _set("kdf.r", 0),
    "p 0": _set("kdf.p", 0),
    "memory 2 GiB": lambda d: _set("kdf.r", 16)(_set("kdf.n", 2**20)(d)),
    "work 2^25": lambda d: _set("kdf.p", 4)(_set("kdf.n", 2**20)(d)),
    "kdf pbkdf2": _set("kdf.name", "pbkdf2"),
    "kdf string": _set("kdf", "scrypt"),
    "kdf missing": _drop("kdf"),
    "kdf extra field": _set("kdf.maxmem", 2**40),
    "salt short": _set("kdf.salt", base64.b64encode(b"1234").decode()),
    "salt long": _set("kdf.salt", base64.b64encode(bytes(10_000)).decode()),
    "salt not base64": _set("kdf.salt", "!!!!" * 6),
    "salt int": _set("kdf.salt", 5),
    "nonce 16 bytes": _set("nonce", base64.b64encode(bytes(16)).decode()),
    "nonce missing": _drop("nonce"),
    "ciphertext not base64": _set("ciphertext", "%%%%" * 20),
    "ciphertext empty": _set("ciphertext", ""),
    "cipher other": _set("cipher", "AES-128-CBC"),
    "secret beside the seal": _set("secret", {"positions": []}),
}


@pytest.mark.parametrize("case", sorted(KDF_BOMBS))
def test_sealed_key_with_bad_parameters_is_refused_before_any_derivation(world, no_kdf, case):
    key = world / "s.key"
    doc = KDF_BOMBS[case](json.loads(key.read_bytes()))
    key.write_text(json.dumps(doc))
    refused(world, decrypt_args(world, world / "m.dnnpkg", key), [key], env={"DNNSEC_KEY_PASSWORD": PASSWORD})


def _flip_b64(field: str, byte: int) -> Callable[[dict], dict]:
    def apply(doc: dict) -> dict:
        node, name = (doc["kdf"], "salt") if field == "salt" else (doc, field)
        raw = bytearray(base64.b64decode(node[name]))
        raw[byte] ^= 0x01
        node[name] = base64.b64encode(bytes(raw)).decode()
        return doc
    return apply


SEAL_EDITS: dict[str, Callable[[dict], dict]] = {
    "ciphertext first byte": _flip_b64("ciphertext", 0),
    "ciphertext tag": _flip_b64("ciphertext", -1),
    "nonce": _flip_b64("nonce", 3),
    "salt": _flip_b64("salt", 0),
    "package id": _set("package_id", "f" * 32),
    "encrypted hash": _set("encrypted_sha256", "0" * 64),
    "n lowered to the minimum": _set("kdf.n", 2**15),
}


@pytest.mark.parametrize("case", sorted(SEAL_EDITS))
def test_altered_sealed_key_is_refused(world, case):
    key = world / "s.key"
    key.write_text(json.dumps(SEAL_EDITS[case](json.loads(key.read_bytes()))))
    refused(world, decrypt_args(world, world / "m.dnnpkg", key), [key], env={"DNNSEC_KEY_PASSWORD": PASSWORD})


@pytest.mark.parametrize("password", [None, "wrong", ""])
def test_sealed_key_without_its_password_is_refused(world, password):
    key = world / "s.key"
    refused(world, decrypt_args(world, world / "m.dnnpkg", key), [key], env={"DNNSEC_KEY_PASSWORD": password})


def test_sealed_key_opens_with_its_password(world):
    """The control case: the same sealed key with the right password restores the signed model."""
    from click.testing import CliRunner

    from dnnsec.cli import main

    r = CliRunner().invoke(main, [str(a) for a in decrypt_args(world, world / "m.dnnpkg", world / "s.key")],
                           env={"DNNSEC_KEY_PASSWORD": PASSWORD})
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("bomb", [{"p": 10**6}])
def test_kdf_bomb_is_refused_quickly_in_a_real_process(tmp_path, tamper_world, bomb):
    """Without any patching: the command exits 2 within the time limit (it hung or ran out of memory before)."""
    key = tmp_path / "bomb.key"
    doc = json.loads((tamper_world / "s.key").read_bytes())
    doc["kdf"].update(bomb)
    key.write_text(json.dumps(doc))
    code = "import sys; from dnnsec.cli import main; sys.argv[0] = 'dnnsec'; main()"
    out = tmp_path / "o.safetensors"
    args = [str(a) for a in decrypt_args(tamper_world, tamper_world / "m.dnnpkg", key, out=str(out))]
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", "DNNSEC_KEY_PASSWORD": PASSWORD, "HOME": str(tmp_path)})
    assert proc.returncode == 2, proc.stderr
    assert str(key) in proc.stderr and "error:" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


# ---------------------------------------------------------------------------------------------------------------
# The owner's signing key (encrypt --sign-key)
# ---------------------------------------------------------------------------------------------------------------


def encrypt_args(w: Path, sign_key: Path) -> list:
    return ["encrypt", w / "plain.safetensors", "--out", w / "new.dnnpkg", "--key", w / "new.key",
            "--sign-key", sign_key, "--data", w / "blobs.safetensors", "--samples", "64"]


SIGN_KEY_EDITS: dict[str, Callable[[dict], object]] = {
    "n 2^40": _set("kdf.n", 2**40),
    "p 10^6": _set("kdf.p", 10**6),
    "public key other": _set("public_key", base64.b64encode(bytes(32)).decode()),
    "public key short": _set("public_key", "AAAA"),
    "ciphertext flipped": _flip_b64("ciphertext", 5),
    "algorithm other": _set("algorithm", "RSA"),
    "extra field": _set("surprise", 1),
    "document list": lambda d: [d],
}


@pytest.mark.parametrize("case", sorted(SIGN_KEY_EDITS))
def test_altered_sealed_signing_key_is_refused(world, case):
    key = world / "alice-sealed.key"
    key.write_text(json.dumps(SIGN_KEY_EDITS[case](json.loads(key.read_bytes()))))
    refused(world, encrypt_args(world, key), [key], env={"DNNSEC_SIGN_KEY_PASSWORD": PASSWORD})


@pytest.mark.parametrize("password", [None, "wrong"])
def test_sealed_signing_key_without_its_password_is_refused(world, password):
    key = world / "alice-sealed.key"
    refused(world, encrypt_args(world, key), [key], env={"DNNSEC_SIGN_KEY_PASSWORD": password})


@pytest.mark.parametrize("content", [b"", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                                     b"\x00" * 100_000])
def test_garbage_signing_key_is_refused(world, content):
    key = world / "alice.key"
    key.write_bytes(content)
    refused(world, encrypt_args(world, key), [key])


def test_signing_key_that_is_a_public_key_is_refused(world):
    refused(world, encrypt_args(world, world / "alice.pub"), [world / "alice.pub"])


# ---------------------------------------------------------------------------------------------------------------
# Fuzzed documents at the API: a parser either returns a checked value or raises its domain error, nothing else
# ---------------------------------------------------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12)


def _mutated(base: dict, data: st.DataObject) -> dict:
    """``base`` with one (possibly nested) field replaced by a random JSON value, or removed."""
    doc = json.loads(json.dumps(base))
    node = doc
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return doc
        k = data.draw(st.sampled_from(keys))
        child = node[k]
        if isinstance(child, dict | list) and child and data.draw(st.booleans()):
            node = child
            continue
        if isinstance(node, dict) and data.draw(st.booleans()):
            del node[k]
        else:
            node[k] = data.draw(_json_values)
        return doc


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_plain_key_file_parses_or_is_refused(tamper_world, data):
    base = json.loads((tamper_world / "m.key").read_bytes())
    try:
        key = key_from_bytes(json.dumps(_mutated(base, data)).encode(), source="fuzz.key")
    except KeyFileError as exc:
        assert str(exc).startswith("fuzz.key: ")
        return
    assert all(isinstance(e.index, int) and 0 <= e.bits < 2**32 for e in key.entries)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_sealed_key_file_is_refused_before_any_derivation_or_opens(tamper_world, data, monkeypatch):
    """A fuzzed seal either fails its field checks or reaches scrypt only with in-range parameters."""
    calls = []

    def record(password, salt, n, r, p):
        calls.append((n, r, p))
        raise AssertionError("stop")

    monkeypatch.setattr(sealing, "derive", record)
    base = json.loads((tamper_world / "s.key").read_bytes())
    try:
        key_from_bytes(json.dumps(_mutated(base, data)).encode(), PASSWORD, source="fuzz.key")
    except KeyFileError as exc:
        assert str(exc).startswith("fuzz.key: ")
    except AssertionError:
        (n, r, p), = calls
        assert 2**14 <= n <= 2**20 and 1 <= r <= 16 and 1 <= p <= 4 and 128 * n * r <= 2**30


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_package_header_is_refused_or_checked(tamper_world, data):
    header = read_package(tamper_world / "m.dnnpkg", load_public_key(tamper_world / "alice.pub")).header
    try:
        checked = check_header(_mutated(header, data), "fuzz.dnnpkg")
    except PackageError as exc:
        assert str(exc).startswith("fuzz.dnnpkg: ")
        return
    model_shapes_or_refusal(checked["arch"], checked["config"])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_sidecar_is_refused_or_checked(tamper_world, data):
    meta = json.loads((tamper_world / "plain.json").read_text())
    try:
        checked = check_sidecar(_mutated(meta, data), "fuzz.json")
    except CheckpointError as exc:
        assert str(exc).startswith("fuzz.json: ")
        return
    model_shapes_or_refusal(checked["arch"], checked["config"])


def model_shapes_or_refusal(arch, config) -> None:
    """The architecture check either gives shapes (without allocating) or a ConfigError naming the source."""
    try:
        shapes = model_shapes(arch, config, source="fuzz")
    except ConfigError as exc:
        assert str(exc).startswith("fuzz: ")
        return
    assert all(dtype is not None for dtype, _ in shapes.values())
