"""Tamper and misuse of packages through the command line, each refused cleanly (docs/acceptance.md#signed-packages).

Each case runs ``dnnsec`` in-process (click's CliRunner) on a copy of one small world (a trained two-layer MLP, its
checkpoint, an owner key pair, a package with its plain and sealed key files) and asserts: exit status 2, an
``error:`` line naming the file, no traceback, no other exception, a bounded time, and every file of the working
folder byte-identical afterwards. The helpers here are shared by ``test_tamper_keys.py`` and
``test_tamper_sidecars.py``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import signal
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from safetensors.torch import save_file

from dnnsec.cli import main
from dnnsec.package.container import MAGIC, MAGIC_V1, read_package, sign_package
from dnnsec.package.protected import encrypt_checkpoint
from dnnsec.package.signing import generate_owner_keys, load_private_key, load_public_key, private_key_bytes
from dnnsec.protect.key import key_from_bytes, key_to_bytes
from shared.checkpoint import read_sidecar, save_checkpoint
from tests.dnnsec.conftest import make_blobs

PASSWORD = "correct horse"
#: Seconds any single refusal may take (the search, a KDF bomb or a huge allocation would take far longer).
TIME_LIMIT_S = 30


class Hung(BaseException):
    """Raised when a case runs past its time limit (a BaseException, so no error path can swallow it)."""


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`Hung` in the main thread if the body runs longer than ``seconds``."""
    def on_alarm(signum, frame):
        raise Hung(f"ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` by relative path (links and folders included by name)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_symlink():
            out[rel] = "link:" + str(p.readlink())
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


def refused(folder: Path, args: list[str], names: list[str | Path], env: dict | None = None,
            match: str | None = None) -> str:
    """Run ``dnnsec args`` and assert a clean refusal naming one of ``names``, with no file under ``folder`` changed."""
    before = snapshot(folder)
    env = {"DNNSEC_KEYRING": str(folder / "ring"), "DNNSEC_KEY_PASSWORD": None,
           "DNNSEC_SIGN_KEY_PASSWORD": None, **(env or {})}
    with deadline(TIME_LIMIT_S):
        result = CliRunner().invoke(main, [str(a) for a in args], env=env)
    out = result.output
    print(out)
    assert isinstance(result.exception, SystemExit), (result.exception, out)
    assert result.exit_code == 2, out
    assert "error:" in out and "Traceback" not in out, out
    assert any(str(n) in out for n in names), (names, out)
    if match is not None:
        assert match in out, out
    assert snapshot(folder) == before, "a file changed"
    return out


@pytest.fixture(scope="session")
def tamper_world(tmp_path_factory, trained_mlp) -> Path:
    """One encrypted model and its keys, built once; tests work on copies (:func:`world_copy`)."""
    w = tmp_path_factory.mktemp("tamper-world")
    x, y = make_blobs(400, seed=1)
    save_file({"x": x.contiguous(), "y": y.contiguous()}, str(w / "blobs.safetensors"))
    save_checkpoint(w / "plain.safetensors", trained_mlp, arch="dnnsec_test_mlp", config={},
                    extra={"dataset": "blobs"})
    generate_owner_keys(w / "alice.key", w / "alice.pub")
    generate_owner_keys(w / "mallory.key", w / "mallory.pub")
    (w / "ring").mkdir()
    shutil.copy(w / "alice.pub", w / "ring" / "alice.pub")
    encrypt_checkpoint(w / "plain.safetensors", package_out=w / "m.dnnpkg", key_out=w / "m.key",
                       signer=load_private_key(w / "alice.key"), owner="alice", x=x[:256], y=y[:256],
                       progress=False)
    key = key_from_bytes((w / "m.key").read_bytes())
    (w / "s.key").write_bytes(key_to_bytes(key, PASSWORD, scrypt_n=2**14))  # same key, sealed (fast cost)
    (w / "alice-sealed.key").write_bytes(private_key_bytes(load_private_key(w / "alice.key"), PASSWORD,
                                                           scrypt_n=2**14))
    return w


@pytest.fixture()
def world(tamper_world, tmp_path) -> Path:
    """A private copy of the tamper world (the folder whose files must stay unchanged)."""
    return Path(shutil.copytree(tamper_world, tmp_path / "w"))


def decrypt_args(w: Path, package: Path, key: Path | None = None, out: str = "out.safetensors") -> list:
    return ["decrypt", package, "--key", key or w / "m.key", "--owner-key", w / "alice.pub", "--out", w / out]


# ---------------------------------------------------------------------------------------------------------------
# Byte flips and truncations of the package file
# ---------------------------------------------------------------------------------------------------------------


def _layout(raw: bytes) -> dict[str, int]:
    head = int.from_bytes(raw[len(MAGIC):len(MAGIC) + 8], "little")
    weights_len_at = len(MAGIC) + 8 + head
    return {"magic": 3, "header_len": len(MAGIC) + 2, "header_start": len(MAGIC) + 9,
            "header_mid": len(MAGIC) + 8 + head // 2, "header_end": weights_len_at - 1,
            "weights_len": weights_len_at + 1, "weights_head": weights_len_at + 12,
            "weights_mid": (weights_len_at + len(raw) - 64) // 2, "weights_end": len(raw) - 65,
            "signature_first": len(raw) - 64, "signature_last": len(raw) - 1}


FLIPS = ["magic", "header_len", "header_start", "header_mid", "header_end", "weights_len", "weights_head",
         "weights_mid", "weights_end", "signature_first", "signature_last"]


@pytest.mark.parametrize("where", FLIPS)
@pytest.mark.parametrize("bit", [0x01, 0x80])
def test_package_byte_flip_is_refused(world, where, bit):
    pkg = world / "m.dnnpkg"
    raw = bytearray(pkg.read_bytes())
    raw[_layout(bytes(raw))[where]] ^= bit
    pkg.write_bytes(bytes(raw))
    refused(world, decrypt_args(world, pkg), [pkg])


@pytest.mark.parametrize("keep", [0, 5, len(MAGIC) + 3, len(MAGIC) + 8 + 10, "mid", -64, -1])
def test_truncated_package_is_refused(world, keep):
    pkg = world / "m.dnnpkg"
    raw = pkg.read_bytes()
    pkg.write_bytes(raw[:len(raw) // 2] if keep == "mid" else raw[:keep])
    refused(world, decrypt_args(world, pkg), [pkg])


@pytest.mark.parametrize("command", ["decrypt", "inspect"])
def test_trailing_bytes_are_refused(world, command):
    pkg = world / "m.dnnpkg"
    pkg.write_bytes(pkg.read_bytes() + b"\0")
    args = decrypt_args(world, pkg) if command == "decrypt" else ["inspect", pkg, "--owner-key", world / "alice.pub"]
    refused(world, args, [pkg], match="unexpected bytes")


@pytest.mark.parametrize("value", [2**63, 2**20 + 1, 2**64 - 1])
def test_absurd_length_fields_are_refused(world, value):
    pkg = world / "m.dnnpkg"
    raw = bytearray(pkg.read_bytes())
    raw[len(MAGIC):len(MAGIC) + 8] = struct.pack("<Q", value)
    pkg.write_bytes(bytes(raw))
    refused(world, decrypt_args(world, pkg), [pkg])


def test_format_1_package_is_refused(world):
    pkg = world / "m.dnnpkg"
    pkg.write_bytes(MAGIC_V1 + pkg.read_bytes()[len(MAGIC):])
    refused(world, decrypt_args(world, pkg), [pkg], match="re-issue")


def test_package_signed_by_someone_else_is_refused(world):
    pkg = world / "m.dnnpkg"
    package = read_package(pkg, load_public_key(world / "alice.pub"))
    head = json.dumps(package.header, sort_keys=True, separators=(",", ":")).encode()
    weights = _weights_bytes(pkg)
    pkg.write_bytes(sign_package(head, weights, load_private_key(world / "mallory.key")))
    refused(world, decrypt_args(world, pkg), [pkg], match="signature does not verify")


# ---------------------------------------------------------------------------------------------------------------
# Unsigned header edits reach only the keyring lookup (no --owner-key)
# ---------------------------------------------------------------------------------------------------------------


def _weights_bytes(pkg: Path) -> bytes:
    raw = pkg.read_bytes()
    head = int.from_bytes(raw[len(MAGIC):len(MAGIC) + 8], "little")
    start = len(MAGIC) + 8 + head
    n = int.from_bytes(raw[start:start + 8], "little")
    return raw[start + 8:start + 8 + n]


def _with_header(pkg: Path, head: bytes, signer=None) -> None:
    """Replace the package's header bytes; re-sign with ``signer`` or keep the (now wrong) old signature."""
    weights = _weights_bytes(pkg)
    if signer is not None:
        pkg.write_bytes(sign_package(head, weights, signer))
        return
    body = MAGIC + struct.pack("<Q", len(head)) + head + struct.pack("<Q", len(weights)) + weights
    pkg.write_bytes(body + pkg.read_bytes()[-64:])


UNSIGNED_HEADERS: dict[str, Callable[[dict], object]] = {
    "owner path": lambda h: {**h, "meta": {**h["meta"], "owner": "../../escaped"}},
    "owner absolute": lambda h: {**h, "meta": {**h["meta"], "owner": "/etc/passwd"}},
    "owner int": lambda h: {**h, "meta": {**h["meta"], "owner": 5}},
    "owner missing": lambda h: {**h, "meta": {}},
    "meta list": lambda h: {**h, "meta": [1, 2]},
    "header list": lambda h: [h],
    "header string": lambda h: "alice",
    "owner unpinned": lambda h: {**h, "meta": {**h["meta"], "owner": "bob"}},
}


@pytest.mark.parametrize("case", sorted(UNSIGNED_HEADERS))
def test_unsigned_header_edit_is_refused_at_the_keyring(world, case):
    pkg = world / "m.dnnpkg"
    header = read_package(pkg, load_public_key(world / "alice.pub")).header
    _with_header(pkg, json.dumps(UNSIGNED_HEADERS[case](header)).encode())
    refused(world, ["decrypt", pkg, "--key", world / "m.key", "--out", world / "o.safetensors"],
            [pkg])


@pytest.mark.parametrize("head", [b"\xff\xfe", b"[" * 100_000, b"{"])
def test_unreadable_header_is_refused(world, head):
    pkg = world / "m.dnnpkg"
    _with_header(pkg, head)
    refused(world, ["inspect", pkg], [pkg])


# ---------------------------------------------------------------------------------------------------------------
# Headers signed by the owner but malformed: still checked field by field before any model is built
# ---------------------------------------------------------------------------------------------------------------


def _config(value):
    return lambda h: {**h, "config": value}


SIGNED_HEADERS: dict[str, tuple[Callable[[dict], object], str]] = {
    "arch path": (lambda h: {**h, "arch": "../../evil"}, "arch"),
    "arch int": (lambda h: {**h, "arch": 5}, "arch"),
    "arch unknown": (lambda h: {**h, "arch": "nope"}, "unknown architecture"),
    "config string": (_config("abc"), "config"),
    "config list": (_config([["hidden", 3]]), "config"),
    "config width 2000": (_config({"hidden": 2000}), "do not fit"),
    "config negative": (_config({"hidden": -1}), "hidden"),
    "config huge": (_config({"hidden": 10**12}), "hidden"),
    "config string value": (_config({"hidden": "32"}), "hidden"),
    "config bool value": (_config({"hidden": True}), "hidden"),
    "config float value": (_config({"hidden": 32.0}), "hidden"),
    "config unknown key": (_config({"depth": 3}), "depth"),
    "other arch at width 2000": (lambda h: {**h, "arch": "mnist_cnn", "config": {"width": 2000}}, "values"),
    "plain hash missing": (lambda h: {k: v for k, v in h.items() if k != "plain_sha256"}, "plain_sha256"),
    "key id int": (lambda h: {**h, "key_id": 7}, "key_id"),
    "package id path": (lambda h: {**h, "package_id": "../../x"}, "package_id"),
    "format 1": (lambda h: {**h, "format": 1}, "format"),
    "extra field": (lambda h: {**h, "surprise": 1}, "unknown field"),
    "meta owner path": (lambda h: {**h, "meta": {**h["meta"], "owner": "a/b"}}, "meta.owner"),
    "meta dataset int": (lambda h: {**h, "meta": {**h["meta"], "dataset": 5}}, "meta.dataset"),
    "meta method missing": (lambda h: {**h, "meta": {k: v for k, v in h["meta"].items() if k != "method"}},
                            "meta.method"),
    "not an object": (lambda h: [h], "not a JSON object"),
}


@pytest.mark.parametrize("case", sorted(SIGNED_HEADERS))
def test_signed_but_malformed_header_is_refused(world, case):
    pkg = world / "m.dnnpkg"
    header = read_package(pkg, load_public_key(world / "alice.pub")).header
    edit, match = SIGNED_HEADERS[case]
    _with_header(pkg, json.dumps(edit(header)).encode(), signer=load_private_key(world / "alice.key"))
    refused(world, decrypt_args(world, pkg), [pkg], match=match)


# ---------------------------------------------------------------------------------------------------------------
# No silent overwrite: keys, packages and models are replaced only with --force, inputs never; plain pin names
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pin", ["../../escaped", "a/b", "/abs", ".hidden", "..", "x" * 65, "", "a\\b", "a b",
                                 "a..b"])
@pytest.mark.parametrize("force", [False, True])
def test_keygen_pin_that_is_not_a_plain_name_is_refused(world, pin, force):
    refused(world, ["keygen", "--out", world / "carol", "--pin", pin, *(["--force"] if force else [])],
            [repr(pin)], match="not a plain name")
    assert not (world.parent / "escaped.pub").exists()


def test_keygen_over_an_existing_private_key_is_refused(world):
    refused(world, ["keygen", "--out", world / "alice"], [world / "alice.key"], match="--force")


def test_keygen_over_an_existing_public_key_is_refused(world):
    shutil.copy(world / "alice.pub", world / "carol.pub")
    refused(world, ["keygen", "--out", world / "carol"], [world / "carol.pub"])


def test_keygen_over_an_existing_pin_is_refused(world):
    refused(world, ["keygen", "--out", world / "carol", "--pin", "alice"], [world / "ring" / "alice.pub"])


def test_keygen_onto_a_folder_is_refused_even_with_force(world):
    (world / "carol.key").mkdir()
    refused(world, ["keygen", "--out", world / "carol", "--force"], [world / "carol.key"], match="folder")


def _encrypt(w: Path, out: Path | str = "new.dnnpkg", key: Path | str = "new.key", *extra) -> list:
    return ["encrypt", w / "plain.safetensors", "--out", w / out, "--key", w / key, "--sign-key", w / "alice.key",
            "--data", w / "blobs.safetensors", "--samples", "64", *extra]


ENCRYPT_OUTPUTS: dict[str, tuple[str, str, tuple[str, ...], str]] = {
    "key over another package's key": ("new.dnnpkg", "m.key", (), "m.key"),
    "package over another package": ("m.dnnpkg", "new.key", (), "m.dnnpkg"),
    "unnormalised path to an existing key": ("new.dnnpkg", "ring/../m.key", (), "m.key"),
    "package equal to key": ("same", "same", ("--force",), "same"),
    "package equal to key through a dot": ("same", "./same", ("--force",), "same"),
    "package over the model": ("plain.safetensors", "new.key", ("--force",), "plain.safetensors"),
    "key over the model's sidecar": ("new.dnnpkg", "plain.json", ("--force",), "plain.json"),
    "key over the signing key": ("new.dnnpkg", "alice.key", ("--force",), "alice.key"),
    "key over the data": ("new.dnnpkg", "blobs.safetensors", ("--force",), "blobs.safetensors"),
    "package onto a folder": ("ring", "new.key", ("--force",), "ring"),
    "owner path": ("new.dnnpkg", "new.key", ("--owner", "../x"), "owner name"),
    "owner with a slash": ("new.dnnpkg", "new.key", ("--owner", "a/b"), "owner name"),
}


@pytest.mark.parametrize("case", sorted(ENCRYPT_OUTPUTS))
def test_encrypt_output_is_refused(world, case):
    out, key, extra, named = ENCRYPT_OUTPUTS[case]
    refused(world, _encrypt(world, out, key, *extra), [named])


def test_encrypt_key_through_a_link_to_the_model_is_refused(world):
    (world / "link.key").symlink_to(world / "plain.safetensors")
    refused(world, _encrypt(world, "new.dnnpkg", "link.key", "--force"), ["link.key"], match="input file")


def test_encrypt_owner_from_a_sign_key_with_a_leading_dot_is_refused(world):
    shutil.copy(world / "alice.key", world / ".alice.key")
    args = _encrypt(world)
    args[args.index("--sign-key") + 1] = world / ".alice.key"
    refused(world, args, [".alice"], match="owner name")


DECRYPT_OUTPUTS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "over an existing model": ("plain.safetensors", (), "plain.safetensors"),
    "over an existing sidecar": ("blobs2.safetensors", (), "blobs2.json"),
    "not a checkpoint name": ("m.dnnpkg", ("--force",), "m.dnnpkg"),
    "sidecar over the key file": ("k.safetensors", ("--force",), "k.json"),
    "sidecar over the owner key": ("o.safetensors", ("--force",), "o.json"),
    "onto a folder": ("d.safetensors", ("--force",), "d.safetensors"),
}


@pytest.mark.parametrize("case", sorted(DECRYPT_OUTPUTS))
def test_decrypt_output_is_refused(world, case):
    out, extra, named = DECRYPT_OUTPUTS[case]
    (world / "blobs2.json").write_text("{}")
    shutil.copy(world / "m.key", world / "k.json")
    shutil.copy(world / "alice.pub", world / "o.json")
    (world / "d.safetensors").mkdir()
    args = ["decrypt", world / "m.dnnpkg", "--key", world / "k.json", "--owner-key", world / "o.json",
            "--out", world / out, *extra]
    refused(world, args, [named])


def test_decrypt_through_a_link_to_the_package_is_refused(world):
    (world / "p.safetensors").symlink_to(world / "m.dnnpkg")
    refused(world, [*decrypt_args(world, world / "m.dnnpkg", out="p.safetensors"), "--force"], ["p.safetensors"],
            match="input file")


def test_decrypt_replaces_an_existing_model_only_with_force(world):
    """The control case: --force replaces an earlier restored model (not an input)."""
    args = [str(a) for a in decrypt_args(world, world / "m.dnnpkg", out="back.safetensors")]
    assert CliRunner().invoke(main, args).exit_code == 0
    (world / "back.json").write_text("{}")  # spoil the first result, so that replacing it shows
    refused(world, args, [world / "back.safetensors"], match="--force")
    r = CliRunner().invoke(main, [*args, "--force"])
    assert r.exit_code == 0, r.output
    assert read_sidecar(world / "back.safetensors")["sha256"] == read_sidecar(world / "plain.safetensors")["sha256"]
