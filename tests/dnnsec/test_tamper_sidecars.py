"""Tamper and misuse of checkpoints (JSON sidecar and safetensors weights) given to ``dnnsec encrypt``.

docs/acceptance.md#signed-packages and docs/acceptance.md#training-core-checkpoints: every sidecar field is checked
for type and bounds, and the architecture is compared with the weights file's header on PyTorch's meta device, so a
width of 2000 is refused before any weight is allocated. Helpers of ``test_tamper_packages.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.dnnsec import test_tamper_packages as shared_world
from tests.dnnsec.test_tamper_packages import refused

tamper_world, world = shared_world.tamper_world, shared_world.world  # the fixtures


def encrypt_args(w: Path, data: bool = True) -> list:
    args = ["encrypt", w / "plain.safetensors", "--out", w / "new.dnnpkg", "--key", w / "new.key",
            "--sign-key", w / "alice.key", "--samples", "64"]
    return [*args, "--data", w / "blobs.safetensors"] if data else args


def _set(field: str, value) -> Callable[[dict], object]:
    def apply(meta: dict) -> dict:
        if "." in field:
            outer, inner = field.split(".")
            meta[outer] = {**(meta.get(outer) or {}), inner: value}
        else:
            meta[field] = value
        return meta
    return apply


def _drop(field: str) -> Callable[[dict], object]:
    return lambda meta: {k: v for k, v in meta.items() if k != field}


SIDECAR_EDITS: dict[str, tuple[Callable[[dict], object], str]] = {
    "arch path": (_set("arch", "../../evil"), "arch"),
    "arch absolute path": (_set("arch", "/etc/passwd"), "arch"),
    "arch int": (_set("arch", 5), "arch"),
    "arch list": (_set("arch", ["dnnsec_test_mlp"]), "arch"),
    "arch unknown": (_set("arch", "nope"), "unknown architecture"),
    "arch missing": (_drop("arch"), "arch"),
    "config string": (_set("config", "abc"), "config"),
    "config list": (_set("config", [["hidden", 32]]), "config"),
    "config null": (_set("config", None), "config"),
    "config width 2000": (_set("config", {"hidden": 2000}), "do not fit"),
    "config negative": (_set("config", {"hidden": -1}), "hidden"),
    "config huge": (_set("config", {"hidden": 10**12}), "hidden"),
    "config string value": (_set("config", {"hidden": "32"}), "hidden"),
    "config float value": (_set("config", {"hidden": 3.5}), "hidden"),
    "config bool value": (_set("config", {"hidden": True}), "hidden"),
    "config null value": (_set("config", {"hidden": None}), "hidden"),
    "config list value": (_set("config", {"hidden": [32]}), "hidden"),
    "config object value": (_set("config", {"n_in": {"x": 1}}), "n_in"),
    "config unknown key": (_set("config", {"depth": 3}), "depth"),
    "other arch at width 2000": (lambda m: {**m, "arch": "mnist_cnn", "config": {"width": 2000}}, "values"),
    "other arch that fits no weights": (lambda m: {**m, "arch": "resnet8", "config": {}}, "do not fit"),
    "sha256 int": (_set("sha256", 5), "sha256"),
    "sha256 not hex": (_set("sha256", "zz" * 32), "sha256"),
    "sha256 of other weights": (_set("sha256", "ab" * 32), "tampered"),
    "format missing": (_drop("format"), "format"),
    "format other": (_set("format", "amt-dnnsec-checkpoint/9"), "format"),
    "extra list": (_set("extra", ["dataset"]), "extra"),
    "training state string": (_set("training_state", "step 3"), "training_state"),
    "dataset int": (_set("extra.dataset", 5), "extra.dataset"),
    "dataset control characters": (_set("extra.dataset", "mnist\n\x00"), "extra.dataset"),
    "dataset huge": (_set("extra.dataset", "m" * 5000), "extra.dataset"),
    "not an object": (lambda m: [m], "not a JSON object"),
    "a string": (lambda m: "dnnsec_test_mlp", "not a JSON object"),
}


@pytest.mark.parametrize("case", sorted(SIDECAR_EDITS))
def test_sidecar_edit_is_refused(world, case):
    side = world / "plain.json"
    edit, match = SIDECAR_EDITS[case]
    side.write_text(json.dumps(edit(json.loads(side.read_text()))))
    refused(world, encrypt_args(world), [side, world / "plain.safetensors"], match=match)


@pytest.mark.parametrize("dataset", ["../../etc/passwd", "/etc/passwd", "sub/dir", "..", ""])
def test_sidecar_data_set_that_names_a_file_is_refused_without_data(world, dataset):
    side = world / "plain.json"
    side.write_text(json.dumps(_set("extra.dataset", dataset)(json.loads(side.read_text()))))
    refused(world, encrypt_args(world, data=False), [side, world / "plain.safetensors"])


@pytest.mark.parametrize("content", [b"", b"{", b"\xff\xfe", b"[" * 100_000, b"1e999999", b" " * (16 * 2**20 + 1)])
def test_unreadable_sidecar_is_refused(world, content):
    side = world / "plain.json"
    side.write_bytes(content)
    refused(world, encrypt_args(world), [side])


def test_missing_sidecar_is_refused(world):
    (world / "plain.json").unlink()
    refused(world, encrypt_args(world), [world / "plain.safetensors"], match="sidecar plain.json is missing")


def _flip_inside(field: str) -> Callable[[bytes], bytes]:
    """Flip the lowest bit of a byte inside the value of ``field`` in the sidecar text."""
    def apply(raw: bytes) -> bytes:
        text = raw.decode()
        at = text.index(f'"{field}": ') + len(field) + 5
        out = bytearray(raw)
        out[at] ^= 0x01
        return bytes(out)
    return apply


@pytest.mark.parametrize("field", ["arch", "format", "sha256", "config"])
def test_sidecar_byte_flip_is_refused(world, field):
    side = world / "plain.json"
    side.write_bytes(_flip_inside(field)(side.read_bytes()))
    refused(world, encrypt_args(world), [side, world / "plain.safetensors"])


@pytest.mark.parametrize("where", [0, 8, 20, "mid", -5])
def test_weights_byte_flip_is_refused(world, where):
    weights = world / "plain.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[len(raw) // 2 if where == "mid" else where] ^= 0x04
    weights.write_bytes(bytes(raw))
    refused(world, encrypt_args(world), [weights])


@pytest.mark.parametrize("keep", [0, 7, 100, "half", -1])
def test_truncated_weights_are_refused(world, keep):
    weights = world / "plain.safetensors"
    raw = weights.read_bytes()
    weights.write_bytes(raw[:len(raw) // 2] if keep == "half" else raw[:keep])
    refused(world, encrypt_args(world), [weights])
