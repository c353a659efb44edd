"""Tamper and misuse of the watermark registry, key images, outputs, null models and `.npz` data sets.

Target: docs/acceptance.md#dnnsec-registry-tamper. Each case runs `dnnsec` in-process (click's CliRunner) on a fresh
copy of one small world (a tiny CNN, two issued copies, three users with texture28 key sets, a calibrated threshold
from one null model) after damaging it, and asserts: exit status 2, an `error:` line naming the file (or the user
name), no traceback and no other exception, a bounded time, and every file of the world byte-identical afterwards
(hashed before the command and after it).
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

from dnnsec.cli import main
from dnnsec.package.signing import generate_owner_keys
from dnnsec.watermark.registry import Registry
from dnnsec.zoo.models import build_mnist_cnn
from shared.checkpoint import save_checkpoint

TIME_LIMIT_S = 60
ISSUE = ["--steps", "4", "--purifier-steps", "0", "--samples", "64"]


def _cli(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("tamper-world")
    g = torch.Generator().manual_seed(3)
    data = tmp / "data.safetensors"
    save_file({"x": torch.randn(64, 1, 28, 28, generator=g), "y": torch.randint(0, 10, (64,), generator=g)},
              str(data))
    torch.manual_seed(0)
    base = save_checkpoint(tmp / "base.safetensors", build_mnist_cnn(width=2).eval(), arch="mnist_cnn",
                           config={"width": 2}, extra={"dataset": "data.safetensors", "watermark_domain": "texture28"})
    for name in ("owner", "intruder"):
        generate_owner_keys(tmp / f"{name}.key", tmp / f"{name}.pub")
    reg = str(tmp / "registry.sqlite")
    for name in ("alice", "bob", "carol"):
        assert _cli("users", "add", name, "--registry", reg).exit_code == 0
    for name in ("alice", "bob"):
        res = _cli("issue", str(base), "--user", name, "--out", str(tmp / f"{name}.safetensors"), "--sign-key",
                   str(tmp / "owner.key"), "--keys", "4", "--data", str(data), "--registry", reg, *ISSUE)
        assert res.exit_code == 0, res.output
    res = _cli("nulls", str(base), "-n", "1", "--data", str(data), "--registry", reg, *ISSUE)
    assert res.exit_code == 0, res.output
    assert _cli("calibrate", "--registry", reg).exit_code == 0
    rgb = np.random.default_rng(0).integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    np.savez(tmp / "rgb.npz", train_images=rgb, train_labels=np.arange(20) % 5, test_images=rgb[:5],
             test_labels=np.arange(5))
    return tmp


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (SQLite's transient -wal/-shm files aside)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(("-wal", "-shm"))}


def _key(w: Path, user: str, idx: int = 0) -> Path:
    uid = {"alice": 1, "bob": 2, "carol": 3}[user]
    return next((w / "registry" / "keys").glob(f"user{uid:05d}-texture28-*")) / f"key_{idx:04d}.png"


def _sql(w: Path, statement: str, *args) -> None:
    con = sqlite3.connect(w / "registry.sqlite")
    with con:
        con.execute(statement, args)
    con.close()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _npz(w: Path, name: str, **fields) -> Path:
    x = np.zeros((10, 28, 28, 1), np.uint8)
    arrays = {"train_images": x, "train_labels": np.arange(10) % 3, "test_images": x[:4],
              "test_labels": np.arange(4) % 3}
    arrays.update(fields)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    path = w / name
    np.savez(path, **arrays)
    return path


def _verify(w: Path, suspect: str = "alice.safetensors") -> list[str]:
    return ["verify", str(w / suspect), "--registry", str(w / "registry.sqlite")]


def _issue(w: Path, user: str = "carol", out: str = "carol.safetensors", signer: str = "owner", *extra: str
           ) -> list[str]:
    return ["issue", str(w / "base.safetensors"), "--user", user, "--out", str(w / out), "--sign-key",
            str(w / f"{signer}.key"), "--data", str(w / "data.safetensors"), "--registry",
            str(w / "registry.sqlite"), *ISSUE, *extra]


def _flip(path: Path, offset: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x01
    path.write_bytes(bytes(raw))


# Each case damages the world and returns (argv, text the error line must contain).
Case = Callable[[Path], tuple[list[str], str]]


def db_garbage(w):
    (w / "registry.sqlite").write_bytes(b"not a database at all " * 400)
    return _verify(w), "registry.sqlite: not a usable registry database"


def db_truncated(w):
    db = w / "registry.sqlite"
    db.write_bytes(db.read_bytes()[:3000])
    return _verify(w), "registry.sqlite"


def db_empty(w):
    (w / "registry.sqlite").write_bytes(b"")
    return _verify(w), "registry.sqlite: an empty database"


def db_foreign_schema(w):
    (w / "registry.sqlite").unlink()
    con = sqlite3.connect(w / "registry.sqlite")
    con.execute("CREATE TABLE users (id INTEGER, email TEXT)")
    con.commit()
    con.close()
    return _verify(w), "foreign schema"


def db_other_schema_version(w):
    _sql(w, "UPDATE meta SET value = 'dnnsec-watermark-registry/99' WHERE key = 'schema'")
    return _verify(w), "registry.sqlite: registry schema"


def db_is_a_folder(w):
    return ["verify", str(w / "alice.safetensors"), "--registry", str(w / "registry")], "not a regular file"


def db_missing(w):
    return ["verify", str(w / "alice.safetensors"), "--registry", str(w / "none.sqlite")], "none.sqlite: no registry"


def db_key_path_outside(w):
    _sql(w, "UPDATE key_images SET path = '../../base.safetensors' WHERE idx = 1")
    return _verify(w), "outside the registry's key folder"


def db_key_hash_malformed(w):
    _sql(w, "UPDATE key_images SET sha256 = 'zz' WHERE idx = 2 AND user_id = 2")
    return _verify(w), "registry.sqlite: key image row 2 of user 2"


def db_key_index_gap(w):
    _sql(w, "UPDATE key_images SET idx = 9 WHERE idx = 1 AND user_id = 1")
    return _verify(w), "registry.sqlite: key image row 1 of user 1"


def db_user_name_path(w):
    _sql(w, "UPDATE users SET name = '../../etc' WHERE id = 3")
    return _verify(w), "registry.sqlite: user row '3' is malformed"


def db_copy_params_garbage(w):
    _sql(w, "UPDATE copies SET params = '{not json' WHERE id = 1")
    return _verify(w), "registry.sqlite: copy row 1 is malformed"


def db_copy_base_classes(w):
    _sql(w, """UPDATE copies SET params = '{"base_classes": -3}'""")
    return _verify(w), "registry.sqlite: the base class count '-3' recorded for domain 'texture28' is malformed"


def db_calibration_garbage(w):
    _sql(w, "UPDATE calibrations SET value = '{\"alpha\": 1}'")
    return _verify(w), "registry.sqlite: the stored calibration of domain 'texture28' is malformed"


def db_pin_replaced(w):
    _sql(w, "UPDATE meta SET value = ? WHERE key = 'owner_public_key'", (w / "intruder.pub").read_text())
    return _verify(w), "key_0000.png: fingerprint of user 1 is not signed by the owner's key"


def db_pin_malformed(w):
    _sql(w, "UPDATE meta SET value = ? WHERE key = 'owner_public_key'", "x" * 5000)
    return _verify(w), "registry.sqlite: the pinned owner key is malformed"


def key_bit_flipped(w):
    _flip(_key(w, "alice", 2), 200)
    return _verify(w), "key_0002.png: key image of user 'alice' changed since registration"


def key_truncated(w):
    path = _key(w, "bob", 1)
    path.write_bytes(path.read_bytes()[:100])
    return _verify(w), "key_0001.png: key image of user 'bob' changed since registration"


def key_deleted(w):
    _key(w, "carol", 3).unlink()
    return _verify(w), "key_0003.png: key image of user 'carol' is missing"


def key_replaced_by_another_users(w):
    shutil.copyfile(_key(w, "bob", 0), _key(w, "alice", 0))
    return _verify(w), "key_0000.png: key image of user 'alice' changed since registration"


def key_replaced_and_rehashed(w):
    shutil.copyfile(_key(w, "bob", 0), _key(w, "alice", 0))
    _sql(w, "UPDATE key_images SET sha256 = ? WHERE user_id = 2 AND idx = 0", "f" * 64)  # hashes are unique
    _sql(w, "UPDATE key_images SET sha256 = ? WHERE user_id = 1 AND idx = 0", _sha(_key(w, "alice", 0)))
    return _verify(w), "key_0000.png: carries the fingerprint of user 2 key 0, expected user 1 key 0"


def key_oversized_and_rehashed(w):
    path = _key(w, "alice", 1)
    path.write_bytes(path.read_bytes() + b"\0" * (2 << 20))
    _sql(w, "UPDATE key_images SET sha256 = ? WHERE user_id = 1 AND idx = 1", _sha(path))
    return _verify(w), "key_0001.png: key image of"


def key_not_png_and_rehashed(w):
    path = _key(w, "bob", 2)
    path.write_bytes(b"GIF89a" + b"\0" * 100)
    _sql(w, "UPDATE key_images SET sha256 = ? WHERE user_id = 2 AND idx = 2", _sha(path))
    return _verify(w), "key_0002.png: not a readable image"


def name_with_slash(w):
    return ["users", "add", "a/b", "--registry", str(w / "registry.sqlite")], "user name 'a/b' must be"


def name_dot_dot(w):
    return ["users", "add", "..", "--registry", str(w / "registry.sqlite")], "user name '..' must be"


def name_too_long(w):
    return ["users", "add", "x" * 65, "--registry", str(w / "registry.sqlite")], "must be 1-64 characters"


def name_huge(w):
    return ["users", "add", "y" * 100_000, "--registry", str(w / "registry.sqlite")], "(100000 characters)"


def issue_user_path(w):
    return _issue(w, user="../alice"), "user name '../alice' must be"


def out_exists(w):
    return _issue(w, out="alice.safetensors"), "alice.safetensors: exists; pass --force"


def out_sidecar_exists(w):
    (w / "dave.json").write_text("{}")
    return _issue(w, out="dave.safetensors"), "dave.json: exists; pass --force"


def out_not_safetensors(w):
    return _issue(w, out="carol.pt"), "carol.pt: copies are written as .safetensors"


def out_is_the_model(w):
    return _issue(w, "carol", "base.safetensors", "owner", "--force"), "base.safetensors: the copy may not overwrite"


def nulls_out_exist(w):
    return (["nulls", str(w / "base.safetensors"), "-n", "2", "--data", str(w / "data.safetensors"), "--registry",
             str(w / "registry.sqlite"), *ISSUE], "null-000.safetensors: exists; pass --force")


def wrong_signer(w):
    return _issue(w, signer="intruder"), "registry.sqlite: the signing key"


def wrong_key_count(w):
    return _issue(w, "carol", "carol.safetensors", "owner", "--keys", "7"), "uses 4 key images per user"


def null_missing(w):
    return (["calibrate", str(w / "nope.safetensors"), "--registry", str(w / "registry.sqlite")],
            "nope.safetensors: no such null model")


def null_folder_empty(w):
    (w / "empty").mkdir()
    return ["calibrate", str(w / "empty"), "--registry", str(w / "registry.sqlite")], "empty: no null models"


def null_default_folder_missing(w):
    shutil.rmtree(w / "registry" / "nulls")
    return ["calibrate", "--registry", str(w / "registry.sqlite")], "nulls: no null models"


def null_is_a_copy(w):
    return (["calibrate", str(w / "bob.safetensors"), "--registry", str(w / "registry.sqlite")],
            "bob.safetensors: is an issued copy, not a null model")


def npz_missing_field(w):
    return _issue(w, "carol", "c.safetensors", "owner", "--data", str(_npz(w, "m.npz", test_labels=None))), \
        "m.npz: field 'test_labels' is missing"


def npz_float_images(w):
    bad = _npz(w, "f.npz", train_images=np.zeros((10, 28, 28, 1), np.float32))
    return _issue(w, "carol", "c.safetensors", "owner", "--data", str(bad)), "f.npz: field 'train_images' is float32"


def npz_three_dims(w):
    bad = _npz(w, "d.npz", train_images=np.zeros((10, 28, 28), np.uint8))
    return _issue(w, "carol", "c.safetensors", "owner", "--data", str(bad)), "d.npz: field 'train_images' has shape"


def npz_too_small(w):
    bad = _npz(w, "s.npz", train_images=np.zeros((10, 16, 16, 1), np.uint8))
    return _issue(w, "carol", "c.safetensors", "owner", "--data", str(bad)), "s.npz: field 'train_images' has shape"


def npz_label_count(w):
    bad = _npz(w, "c.npz", train_labels=np.arange(7))
    return _issue(w, "carol", "c.safetensors", "owner", "--data", str(bad)), "c.npz: field 'train_labels'"


def npz_test_label_range(w):
    bad = _npz(w, "r.npz", test_labels=np.array([0, 1, 2, 3]))
    return _issue(w, "carol", "c.safetensors", "owner", "--data", str(bad)), "r.npz: field 'test_labels' spans 0..3"


def npz_negative_labels(w):
    bad = _npz(w, "n.npz", train_labels=np.arange(10) - 1)
    return _issue(w, "carol", "c.safetensors", "owner", "--data", str(bad)), "n.npz: field 'train_labels' spans -1"


def npz_object_array(w):
    path = w / "o.npz"
    np.savez(path, train_images=np.array([object()] * 10, dtype=object), train_labels=np.arange(10),
             test_images=np.zeros((4, 28, 28, 1), np.uint8), test_labels=np.arange(4))
    return _issue(w, "carol", "c.safetensors", "owner", "--data", str(path)), "o.npz: field 'train_images' is object"


def npz_not_a_zip(w):
    (w / "z.npz").write_bytes(b"PK garbage" * 10)
    return _issue(w, "carol", "c.safetensors", "owner", "--data", str(w / "z.npz")), "z.npz: not a readable .npz"


def npz_channels_vs_domain(w):
    return (_issue(w, "carol", "c.safetensors", "owner", "--data", str(w / "rgb.npz"), "--domain", "texture28"),
            "rgb.npz: images of (3, 32, 32) (C x H x W) do not fit watermark domain 'texture28'")


CASES: list[Case] = [
    db_garbage, db_truncated, db_empty, db_foreign_schema, db_other_schema_version, db_is_a_folder, db_missing,
    db_key_path_outside, db_key_hash_malformed, db_key_index_gap, db_user_name_path, db_copy_params_garbage,
    db_copy_base_classes, db_calibration_garbage, db_pin_replaced, db_pin_malformed,
    key_bit_flipped, key_truncated, key_deleted, key_replaced_by_another_users, key_replaced_and_rehashed,
    key_oversized_and_rehashed, key_not_png_and_rehashed,
    name_with_slash, name_dot_dot, name_too_long, name_huge, issue_user_path,
    out_exists, out_sidecar_exists, out_not_safetensors, out_is_the_model, nulls_out_exist,
    wrong_signer, wrong_key_count,
    null_missing, null_folder_empty, null_default_folder_missing, null_is_a_copy,
    npz_missing_field, npz_float_images, npz_three_dims, npz_too_small, npz_label_count, npz_test_label_range,
    npz_negative_labels, npz_object_array, npz_not_a_zip, npz_channels_vs_domain,
]


class Hung(BaseException):
    """A case ran past its time limit."""


def _alarm(signum, frame):
    raise Hung(f"ran longer than {TIME_LIMIT_S} s")


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_refused_by_name_with_no_traceback_and_nothing_changed(case: Case, origin: Path, tmp_path: Path) -> None:
    w = tmp_path / "w"
    shutil.copytree(origin, w)
    argv, expected = case(w)
    before = snapshot(w)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT_S)
    t0 = time.perf_counter()
    try:
        res = CliRunner().invoke(main, argv)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    errors = [line for line in res.output.splitlines() if line.startswith("error: ")]
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output
    assert len(errors) == 1 and expected in errors[0], res.output
    assert len(errors[0]) < 2000  # a huge untrusted value is not echoed whole
    assert snapshot(w) == before
    assert time.perf_counter() - t0 < TIME_LIMIT_S


def test_the_world_itself_verifies(origin: Path, tmp_path: Path) -> None:
    """The undamaged copy of the world is accepted, so each refusal above is caused by its damage."""
    w = tmp_path / "w"
    shutil.copytree(origin, w)
    reg = str(w / "registry.sqlite")
    assert _cli("users", "check", "--registry", reg).exit_code == 0
    res = _cli("verify", str(w / "alice.safetensors"), "--registry", reg)
    assert res.exit_code in (0, 1) and "exact weights match: copy 1 issued to 'alice'" in res.output, res.output
    assert Registry(w / "registry.sqlite").domain_key_count("texture28") == 4
    res = _cli(*_issue(w, out="alice.safetensors"), "--force")
    assert res.exit_code == 0, res.output
