"""The SQLite registry: users, key material and issued copies; refusals; several processes writing at once."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from dnnsec.watermark.registry import KeyImageRecord, Registry, RegistryError

N_PROCESSES = 4
COPIES_EACH = 15


def test_users_get_distinct_slots_in_order(tmp_path) -> None:
    reg = Registry(tmp_path / "r.sqlite")
    added = [reg.add_user(n) for n in ("alice", "bob", "carol")]
    assert [u.name for u in reg.users()] == ["alice", "bob", "carol"]
    assert [u.slot for u in added] == [0, 1, 2]
    assert reg.user("bob").id == added[1].id


def test_duplicate_and_unknown_users_are_refused_by_name(tmp_path) -> None:
    reg = Registry(tmp_path / "r.sqlite")
    reg.add_user("alice")
    with pytest.raises(RegistryError, match="'alice' is already registered"):
        reg.add_user("alice")
    with pytest.raises(RegistryError, match=r"no user named 'mallory' \(registered: alice\)"):
        reg.user("mallory")
    with pytest.raises(RegistryError, match="must be 1-64 characters"):
        reg.add_user("../etc")


def test_key_material_and_copies_are_recorded(tmp_path) -> None:
    reg = Registry(tmp_path / "r.sqlite")
    u = reg.add_user("alice")
    recs = [KeyImageRecord(i, str(reg.keys_dir / f"k/{i}.png"), f"{i:064x}") for i in range(3)]
    reg.add_key_set(u.id, "mnist", "f" * 64, recs)
    assert reg.key_images(u.id, "mnist") == recs
    assert reg.key_fingerprint(u.id, "mnist") == "f" * 64
    assert reg.key_images(u.id, "cifar10") == []
    cid = reg.record_copy(u.id, "mnist", "a" * 64, "b" * 64, "/c.safetensors", {"steps": 3})
    found = reg.find_copy("b" * 64)
    assert found is not None and (found.id, found.user, found.params) == (cid, "alice", {"steps": 3})
    with pytest.raises(RegistryError, match="already issued"):
        reg.record_copy(u.id, "mnist", "a" * 64, "b" * 64, "/d.safetensors", {})
    with pytest.raises(RegistryError, match="already has a mnist key set"):
        reg.add_key_set(u.id, "mnist", "e" * 64, [KeyImageRecord(0, str(reg.keys_dir / "x.png"), "9" * 64)])
    assert reg.key_fingerprint(u.id, "mnist") == "f" * 64  # the refused write left nothing behind
    reg.add_key_set(reg.add_user("bob").id, "mnist", "d" * 64, [KeyImageRecord(0, "/etc/passwd", "8" * 64)])
    with pytest.raises(RegistryError, match="outside the registry's key folder"):  # a path field is bounded
        reg.key_images(reg.user("bob").id, "mnist")


def test_not_a_database_is_refused_by_name(tmp_path) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(RegistryError, match=r"junk\.sqlite: not a usable registry database"):
        Registry(path)


def _issuer(path: str, worker: int, barrier) -> tuple[int, int]:
    reg = Registry(Path(path))
    barrier.wait()
    mine = reg.add_user(f"worker{worker}")
    shared_added = 0
    try:
        reg.add_user("shared")
        shared_added = 1
    except RegistryError:
        pass
    for i in range(COPIES_EACH):
        reg.record_copy(mine.id, "mnist", "0" * 64, f"1{worker:031x}{i:032x}", f"/copy-{worker}-{i}", {"i": i})
        try:  # every worker also races to issue the same weights: exactly one may win
            reg.record_copy(mine.id, "mnist", "0" * 64, f"{i:064x}", f"/race-{worker}-{i}", {})
        except RegistryError:
            pass
    return mine.slot, shared_added


def test_concurrent_issuers_lose_and_duplicate_nothing(tmp_path) -> None:
    path = tmp_path / "r.sqlite"
    Registry(path)
    ctx = mp.get_context("fork")
    barrier = ctx.Manager().Barrier(N_PROCESSES)
    with ctx.Pool(N_PROCESSES) as pool:
        results = pool.starmap(_issuer, [(str(path), w, barrier) for w in range(N_PROCESSES)])
    reg = Registry(path)
    copies = reg.copies()
    unique = [c for c in copies if c.path.startswith("/copy-")]
    raced = [c for c in copies if c.path.startswith("/race-")]
    assert len(unique) == N_PROCESSES * COPIES_EACH
    assert {c.path for c in unique} == {f"/copy-{w}-{i}" for w in range(N_PROCESSES) for i in range(COPIES_EACH)}
    assert sorted(int(c.model_sha256, 16) for c in raced) == list(range(COPIES_EACH))
    assert len({c.id for c in copies}) == len(copies)
    assert sum(s for _, s in results) == 1
    slots = sorted(u.slot for u in reg.users())
    assert slots == list(range(N_PROCESSES + 1))
