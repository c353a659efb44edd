"""The segmenter fingerprint on tiny sferic CNNs: waveform keys, the extra head channel, tracing with null models.

Users' copies of one tiny trained model are fingerprinted through the registry; the rank test of the classifier
fingerprint (:mod:`dnnsec.watermark.verify`) must name each copy's user alone, claim no independently trained
null model, and find no evidence in the unfingerprinted model; the copies' decisions stay the model's
(``docs/acceptance.md#protected-sferic-distribution``).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from amt.sferic.sampler import SamplerConfig, SfericSource
from amt.sferic.train import RunConfig, train
from dnnsec.errors import ModelError
from dnnsec.package.signing import generate_owner_keys, load_private_key
from dnnsec.watermark.adapter import SegmenterHead
from dnnsec.watermark.bases import decoy_bases, get_domain, to_model_input, user_bases
from dnnsec.watermark.keys import load_key_set, make_key_set, save_key_set
from dnnsec.watermark.registry import Registry
from dnnsec.watermark.segmenter import SegmenterEmbedConfig, issue_segmenter_copy, make_segmenter_null
from dnnsec.watermark.service import audit_registry, calibrate_registry, verify_model
from shared.checkpoint import load_checkpoint
from shared.seeding import stream_rng
from tests.amt.sferic.conftest import TINY

SAMPLER = {**TINY["sampler"], "window": 1024}


def _tiny(path, seed: int):
    cfg = {**TINY, "seed": seed, "sampler": SAMPLER, "model": {**TINY["model"], "widths": [8, 8], "kernel_size": 7},
           "train": {**TINY["train"], "max_steps": 30}}
    return train(RunConfig.from_dict(cfg), path, False)[0]


def _windows(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    source = SfericSource(SamplerConfig.from_dict(SAMPLER))
    xs, ys = zip(*(source(stream_rng(seed, k)) for k in range(n)), strict=True)
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys)).long()


def test_waveform_keys_carry_the_owners_signature(tmp_path):
    dom = get_domain("sferic")
    generate_owner_keys(tmp_path / "o.key", tmp_path / "o.pub")
    signer = load_private_key(tmp_path / "o.key")
    keys = make_key_set(dom, signer, user_id=7, slot=0, n_keys=3)
    files = save_key_set(keys, tmp_path / "k")
    back = load_key_set([p for p, _ in files], signer.public_key(), 7, 1)
    assert np.array_equal(back.images, keys.images)
    x = to_model_input(back.images, dom)
    assert x.shape == (3, 2, 1024) and torch.allclose(x * 32 + 128, torch.from_numpy(
        back.images.reshape(3, 2, 1024).astype(np.float32)))
    # every key is a chord of its own (keys of one user share nothing the keys of others lack): spectra differ
    waves = np.concatenate([user_bases(dom, 0, 3), user_bases(dom, 1, 3), decoy_bases(dom, 3, 0)])
    spectra = np.abs(np.fft.rfft(to_model_input(waves, dom)[:, 0].numpy(), axis=-1))
    corr = np.corrcoef(spectra)
    assert np.all(corr[~np.eye(len(waves), dtype=bool)] < 0.8)
    assert np.array_equal(user_bases(dom, 1, 3), user_bases(dom, 1, 3))  # reproducible per slot


def test_widening_keeps_the_decision_channel_bit_identical(tmp_path):
    model, _ = load_checkpoint(_tiny(tmp_path / "m", 5))
    x, _ = _windows(2, 7_100)
    with torch.no_grad():
        before = model(x)
        wide = SegmenterHead().widen(model)
        assert torch.equal(wide(x), before)
        assert SegmenterHead().scores(wide, x).shape == (2, 2)


def test_sferic_unet_checkpoints_load_without_importing_amt():
    code = ("import sys; from shared.architectures import build_model; assert 'amt' not in sys.modules; "
            "m = build_model('sferic_unet', {'widths': [4, 8], 'fingerprint_channels': 1}); "
            "print(type(m).__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "amt.sferic.model"


@pytest.mark.slow
def test_copies_are_traced_to_their_users_and_nulls_are_not_claimed(tmp_path):
    model = _tiny(tmp_path / "model", 3)
    x, y = _windows(16, 7_200)
    save_file({"x": x, "y": y}, str(tmp_path / "win.safetensors"))
    generate_owner_keys(tmp_path / "o.key", tmp_path / "o.pub")
    signer = load_private_key(tmp_path / "o.key")
    reg = Registry(tmp_path / "reg.sqlite")
    users = ["ann", "bob"]
    for u in users:
        reg.add_user(u)
    cfg = SegmenterEmbedConfig(steps=250, lr=1e-2, issue_p=1e-3)
    copies = [tmp_path / f"{u}.safetensors" for u in users]
    for u, path in zip(users, copies, strict=True):
        issue_segmenter_copy(reg, model, u, path, signer, tmp_path / "win.safetensors", n_keys=8, n_decoys=40,
                             cfg=SegmenterEmbedConfig(**{**cfg.to_dict(), "seed": reg.user(u).id}))
    nulls = [make_segmenter_null(_tiny(tmp_path / f"n{i}", 50 + i), tmp_path / f"null-{i:03d}.safetensors",
                                 tmp_path / "win.safetensors", i, n_keys=8, n_decoys=40, cfg=cfg)
             for i in range(2)]
    assert audit_registry(reg) == {u: ["sferic"] for u in users}
    calibrate_registry(reg, nulls[:1])
    for u, path in zip(users, copies, strict=True):
        v = verify_model(reg, path)
        assert v.significant == [u], [(e.user, e.hits, e.p_bonferroni) for e in v.evidence]
    assert verify_model(reg, nulls[1]).significant == []
    plain = verify_model(reg, model, domain="sferic")
    assert not plain.owned and plain.evidence == []
    # the copies decide nearly as the model does on clean windows they were not tuned on (this tiny model at lr 1e-2
    # agreed on 97 % of samples; the F1 cost of real copies is measured by benchmarks/dnnsec_sferic_fingerprint.py)
    base, _ = load_checkpoint(model)
    xt, _ = _windows(16, 7_300)
    with torch.no_grad():
        ref = base(xt) > 0
        for path in copies:
            agree = float(((load_checkpoint(path)[0](xt) > 0) == ref).float().mean())
            assert agree > 0.95, (path.name, agree)


def _owner(tmp_path, users):
    x, y = _windows(8, 7_400)
    save_file({"x": x, "y": y}, str(tmp_path / "win.safetensors"))
    generate_owner_keys(tmp_path / "o.key", tmp_path / "o.pub")
    reg = Registry(tmp_path / "reg.sqlite")
    for u in users:
        reg.add_user(u)
    return reg, load_private_key(tmp_path / "o.key")


def test_a_copy_that_does_not_answer_its_keys_is_refused_and_nothing_is_recorded(tmp_path):
    model = _tiny(tmp_path / "model", 3)
    reg, signer = _owner(tmp_path, ["ann", "bob"])
    out = tmp_path / "ann.safetensors"
    # one step at a negligible learning rate: the new channel cannot rank ann's keys above bob's
    cfg = SegmenterEmbedConfig(steps=1, lr=1e-9, max_rounds=2, issue_p=1e-3)
    with pytest.raises(ModelError, match=r"'ann' did not learn its keys in 2 x 1 steps .*nothing was issued"):
        issue_segmenter_copy(reg, model, "ann", out, signer, tmp_path / "win.safetensors", n_keys=8, n_decoys=16,
                             cfg=cfg)
    assert not out.exists() and reg.copies() == []


def test_a_bar_no_rank_test_can_reach_is_refused_before_training(tmp_path):
    model = _tiny(tmp_path / "model", 3)
    reg, signer = _owner(tmp_path, ["ann", "bob"])
    # 8 keys against 8: the exact one-sided rank test cannot go below 1 / C(16, 8) = 7.8e-5 (x 2 users)
    with pytest.raises(ModelError, match=r"below the smallest rank-test p-value 0.00016 that 8 keys against 8"):
        issue_segmenter_copy(reg, model, "ann", tmp_path / "a.safetensors", signer, tmp_path / "win.safetensors",
                             n_keys=8, n_decoys=16, cfg=SegmenterEmbedConfig(steps=1, issue_p=1e-4))
