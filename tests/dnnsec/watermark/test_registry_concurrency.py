"""Eight `dnnsec issue` processes at once with mixed --keys and two signers leave a registry that verifies every user.

Target: docs/acceptance.md#dnnsec-registry-transactions. Each process issues its own user a copy of a tiny CNN
(texture28 keys, a few fine-tuning steps); half ask for 4 keys per user, half for 6, and two sign with a key other
than the one the other six use. Whoever commits the domain's first key sets pins the owner key and fixes the key
count; every other process must either succeed (same signer and count) or be refused with `error:` naming the
registry. Afterwards every key image on disk matches its registry hash and the pinned owner's signature, no staged
file is left, and a retry of every refused issue with the pinned signer and without --keys succeeds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

from dnnsec.cli import main
from dnnsec.package.signing import generate_owner_keys
from dnnsec.watermark.registry import Registry, pem_fingerprint
from dnnsec.watermark.service import audit_registry, owner_key
from dnnsec.zoo.models import build_mnist_cnn
from shared.checkpoint import save_checkpoint

N_PROCESSES = 8
KEYS = (4, 6)
INTRUDERS = (3, 6)  # processes signing with the second key
ISSUE = ["--steps", "4", "--purifier-steps", "0", "--samples", "64"]
CODE = "from dnnsec.cli import main; main()"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("conc")
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    data = tmp / "data.safetensors"
    save_file({"x": torch.randn(64, 1, 28, 28, generator=g), "y": torch.randint(0, 10, (64,), generator=g)},
              str(data))
    base = save_checkpoint(tmp / "base.safetensors", build_mnist_cnn(width=2).eval(), arch="mnist_cnn",
                           config={"width": 2}, extra={"dataset": str(data), "watermark_domain": "texture28"})
    for name in ("owner", "intruder"):
        generate_owner_keys(tmp / f"{name}.key", tmp / f"{name}.pub")
    reg = tmp / "registry.sqlite"
    for i in range(N_PROCESSES):
        Registry(reg).add_user(f"s{i}")
    return {"tmp": tmp, "base": base, "reg": reg}


def _args(world: dict, i: int, signer: str, keys: int | None) -> list[str]:
    out = world["tmp"] / f"s{i}.safetensors"
    extra = [] if keys is None else ["--keys", str(keys)]
    return ["issue", str(world["base"]), "--user", f"s{i}", "--out", str(out), "--sign-key",
            str(world["tmp"] / f"{signer}.key"), "--registry", str(world["reg"]), *ISSUE, *extra]


def _signer(i: int) -> str:
    return "intruder" if i in INTRUDERS else "owner"


@pytest.fixture(scope="module")
def raced(world) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", CODE, *_args(world, i, _signer(i), KEYS[i % 2])],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for i in range(N_PROCESSES)]
    results = {}
    for i, p in enumerate(procs):
        out, err = p.communicate(timeout=300)
        results[i] = (p.returncode, out, err)
    return {"results": results, "seconds": time.perf_counter() - t0}


def _pinned(world: dict) -> str:
    reg = Registry(world["reg"])
    pem = reg.owner_pem()
    for name in ("owner", "intruder"):
        if (world["tmp"] / f"{name}.pub").read_text() == pem:
            return name
    raise AssertionError(f"pinned key {pem_fingerprint(pem)} is neither signer's")


def _no_strays(world: dict) -> None:
    reg = Registry(world["reg"])
    keys_dir = reg.keys_dir
    registered = {Path(r.path).parent for u in reg.users() for d in reg.key_set_domains(u.id)
                  for r in reg.key_images(u.id, d)}
    assert {p for p in keys_dir.iterdir()} == registered  # no staging folder, no unregistered key folder
    assert not [p for p in world["tmp"].iterdir() if "staging" in p.name]


def test_every_process_is_accepted_or_refused_by_the_rules(world, raced) -> None:
    pinned, fixed = _pinned(world), Registry(world["reg"]).domain_key_count("texture28")
    assert fixed in KEYS
    accepted = 0
    for i, (rc, _out, err) in raced["results"].items():
        should = _signer(i) == pinned and KEYS[i % 2] == fixed
        assert "Traceback" not in err, err
        if should:
            assert rc == 0, (i, err)
            assert (world["tmp"] / f"s{i}.safetensors").is_file()
            accepted += 1
        else:
            assert rc == 2, (i, rc, err)
            last = err.strip().splitlines()[-1]  # after the progress bars: one error line naming the registry
            assert last.startswith("error: ") and str(world["reg"]) in last, err
            reasons = [why for why, wrong in (("not the owner key pinned", _signer(i) != pinned),
                                              (f"uses {fixed} key images", KEYS[i % 2] != fixed)) if wrong]
            assert any(why in last for why in reasons), err  # either refusal where both apply
            assert not (world["tmp"] / f"s{i}.safetensors").exists()
    copies = Registry(world["reg"]).copies()
    assert len(copies) == accepted >= 1
    print(f"\n{N_PROCESSES} concurrent issues: {accepted} accepted, {N_PROCESSES - accepted} refused, "
          f"pinned {pinned}, {fixed} keys, {raced['seconds']:.1f} s wall")


def test_registry_verifies_every_user_and_holds_no_stray_files(world, raced) -> None:
    reg = Registry(world["reg"])
    checked = audit_registry(reg)
    assert sorted(checked) == [f"s{i}" for i in range(N_PROCESSES)]
    assert all(d == ["texture28"] for d in checked.values())
    fixed = reg.domain_key_count("texture28")
    assert all(len(reg.key_images(u.id, "texture28")) == fixed for u in reg.users())
    _no_strays(world)
    res = CliRunner().invoke(main, ["users", "check", "--registry", str(world["reg"])])
    assert res.exit_code == 0 and "all key images of 8 users" in res.output


def test_refused_issues_succeed_when_retried_with_the_pinned_signer(world, raced) -> None:
    pinned = _pinned(world)
    refused = [i for i, (rc, _, _) in raced["results"].items() if rc != 0]
    for i in refused:
        res = CliRunner().invoke(main, _args(world, i, pinned, None))
        assert res.exit_code == 0, res.output
    reg = Registry(world["reg"])
    assert sorted(c.user for c in reg.copies()) == [f"s{i}" for i in range(N_PROCESSES)]
    audit_registry(reg, owner_key(reg))
    _no_strays(world)


def test_a_failed_key_set_commit_leaves_no_row_and_no_file(tmp_path, monkeypatch) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from dnnsec.watermark.bases import get_domain
    from dnnsec.watermark.service import ensure_key_sets

    reg = Registry(tmp_path / "r.sqlite")
    for name in ("a", "b", "c"):
        reg.add_user(name)
    calls = []
    real = Registry._insert_key_set

    def fail_on_third(self, con, user_id, *args):
        calls.append(user_id)
        if len(calls) == 3:
            raise OSError("disk full (simulated)")
        return real(self, con, user_id, *args)

    monkeypatch.setattr(Registry, "_insert_key_set", fail_on_third)
    with pytest.raises(OSError, match="simulated"):
        ensure_key_sets(reg, get_domain("texture28"), Ed25519PrivateKey.generate(), 3)
    assert calls == [1, 2, 3]
    assert all(reg.key_set_domains(u.id) == [] for u in reg.users())
    assert reg.owner_pem() is None  # the pin was rolled back with the rows
    assert list(reg.keys_dir.iterdir()) == []  # the two folders moved into place were removed again


def test_a_refused_copy_leaves_no_file(world, raced) -> None:
    """Issuing the same weights twice (same user, seed and settings) is refused at record time: no copy file."""
    reg = Registry(world["reg"])
    pinned = _pinned(world)
    done = next(c for c in reg.copies())
    i = int(done.user[1:])
    args = _args(world, i, pinned, None)
    out = world["tmp"] / "again.safetensors"
    args[args.index("--out") + 1] = str(out)
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "is already issued" in res.output, res.output
    assert not out.exists() and not out.with_suffix(".json").exists()
    _no_strays(world)
