"""The protected distribution of the sferic CNN end to end on tiny models: the owner's and the user's scripts.

The owner fingerprints and encrypts a copy per user (``field_examples/sferic_owner.py``), calibrating on two
independently trained tiny models; the user detects and processes a record with their package and key
(``field_examples/sferic_user.py``); the detections equal those of the plain fingerprinted copy bit for bit, and
``dnnsec verify`` names the user of a copy (``docs/acceptance.md#protected-sferic-distribution``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import amt.io
from amt.cli import main as amt_main
from amt.record import Station
from amt.sferic.train import RunConfig, train
from amt.synth.records import FieldConfig, synthesize, to_run
from dnnsec.cli import main as dnnsec_main
from field_examples.sferic_owner import main as owner_main
from field_examples.sferic_user import main as user_main
from shared.errors import EXIT_ERROR, EXIT_OK
from shared.seeding import stream_rng
from tests.amt.sferic.conftest import TINY


def _tiny(path: Path, seed: int) -> Path:
    cfg = {**TINY, "seed": seed, "sampler": {**TINY["sampler"], "window": 1024},
           "model": {**TINY["model"], "widths": [8, 8], "kernel_size": 7, "compress": 4.0},
           "train": {**TINY["train"], "max_steps": 40}}
    return train(RunConfig.from_dict(cfg), path, False)[0]


@pytest.mark.slow
def test_owner_issues_user_detects_and_the_owner_traces_the_copy(tmp_path, monkeypatch):
    monkeypatch.delenv("DNNSEC_KEYRING", raising=False)
    model = _tiny(tmp_path / "model", 3)
    nulls = [_tiny(tmp_path / f"null{i}", 40 + i) for i in range(2)]
    out = tmp_path / "owner"
    res = CliRunner().invoke(owner_main, ["--out", str(out), "--model", str(model), "--users", "ann,bob",
                                          "--windows", "24", "--keys", "8", "--steps", "250", "--lr", "1e-2",
                                          "--issue-p", "1e-3",
                                          "--n-params", "10",
                                          *[a for m in nulls for a in ("--null-model", str(m))]],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rec = synthesize(48_000, FieldConfig(sferic_rate_hz=6.0, snr_db=15.0), stream_rng(9_004, 0))
    record = amt.io.write(Station("SYN", [to_run(rec, start="2026-03-01T12:00:00")]), tmp_path / "rec.npz")
    issued = out / "issued" / "ann"
    res = CliRunner().invoke(user_main, [str(record), "--model", str(issued / "sferic.dnnpkg"), "--key",
                                         str(issued / "ann.key"), "--keyring", str(out / "keyring"),
                                         "--out", str(tmp_path / "ann")], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "ann" / "SYN.edi").is_file()
    plain = CliRunner().invoke(amt_main, ["detect", str(record), "--out", str(tmp_path / "plain.csv"), "--model",
                                          str(out / "owner" / "copies" / "ann.safetensors")])
    assert plain.exit_code == 0, plain.output
    assert (tmp_path / "ann" / "events.csv").read_bytes() == (tmp_path / "plain.csv").read_bytes()
    assert not list((tmp_path / "ann").glob("*.safetensors"))

    # bob's key does not open ann's package
    res = CliRunner().invoke(user_main, [str(record), "--model", str(issued / "sferic.dnnpkg"), "--key",
                                         str(out / "issued" / "bob" / "bob.key"), "--keyring", str(out / "keyring"),
                                         "--out", str(tmp_path / "bob"), "--no-process"])
    assert res.exit_code == EXIT_ERROR and "does not open this package" in res.output

    # the owner, given ann's copy (as leaked), names ann alone; an independently trained model is not claimed
    reg = str(out / "owner" / "registry.sqlite")
    for suspect, user in ((out / "owner" / "copies" / "ann.safetensors", "ann"),
                          (out / "owner" / "copies" / "bob.safetensors", "bob")):
        res = CliRunner().invoke(dnnsec_main, ["verify", str(suspect), "--registry", reg, "--json"])
        assert res.exit_code == EXIT_OK, res.output
        verdict = json.loads(res.output)
        assert verdict["user"] == user and verdict["significant"] == [user], verdict
    res = CliRunner().invoke(dnnsec_main, ["verify", str(model), "--registry", reg, "--domain", "sferic"])
    assert res.exit_code == 1, res.output  # the unfingerprinted model has no fingerprint channel: not ours


def test_owner_script_refuses_an_issuing_bar_no_copy_can_reach(tmp_path):
    model = _tiny(tmp_path / "model", 3)
    res = CliRunner().invoke(owner_main, ["--out", str(tmp_path / "owner"), "--model", str(model), "--users",
                                          "ann,bob", "--windows", "8", "--keys", "8", "--issue-p", "1e-5"])
    assert res.exit_code == EXIT_ERROR, res.output
    assert "error: issue_p 1e-05 is below the smallest rank-test p-value" in res.output
    assert not (tmp_path / "owner" / "owner" / "copies").exists()
