"""The evaluation table of a per-sample segmenter on tiny sferic CNNs (docs/acceptance.md#evaluation-table): every
protection that applies meets every attack, each cell measured or n/a with its reason, the fingerprint channel claims
its copy and no model fingerprinted by another owner, and the writers produce the table with F1 as fidelity."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from torch.nn import functional as F

from amt.sferic.sampler import SamplerConfig, SfericSource
from amt.sferic.train import RunConfig, train
from dnnsec.attacks.extraction import remove_fingerprint_channels
from dnnsec.attacks.fineprune import feature_activity
from dnnsec.evaluation.attacks import ATTACKS
from dnnsec.evaluation.protections import Setting
from dnnsec.evaluation.report import heat_map, markdown, write_csv
from dnnsec.evaluation.segmenter import (
    NO_TRIGGER_BASELINE,
    UNAVAILABLE,
    sample_f1,
    segmenter_attacks,
    segmenter_protections,
)
from dnnsec.evaluation.table import as_records, evaluate_protection, not_applicable_row
from dnnsec.watermark.adapter import SegmenterHead
from dnnsec.watermark.bases import decoy_bases, get_domain, null_slot, to_model_input
from dnnsec.watermark.keys import make_key_set
from shared.architectures import build_model
from shared.checkpoint import load_checkpoint
from shared.data import TensorBatches
from shared.losses import WeightedBCELoss
from shared.seeding import stream_rng
from shared.trainer import Trainer
from tests.amt.sferic.conftest import TINY
from tests.dnnsec.table_cells import check_cells

pytestmark = pytest.mark.slow
SAMPLER = {**TINY["sampler"], "window": 1024}
STEPS = {"embed": 250, "overwrite": 20, "finetune": 10, "distill": 10, "adaptive": 5, "advparams": 5,
         "advparams_batch": 8}
KEYS = 8


def _tiny(path, seed: int) -> torch.nn.Module:
    cfg = {**TINY, "seed": seed, "sampler": SAMPLER, "model": {**TINY["model"], "widths": [8, 8], "kernel_size": 7},
           "train": {**TINY["train"], "max_steps": 30}}
    return load_checkpoint(train(RunConfig.from_dict(cfg), path, False)[0])[0].eval()


def _windows(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    source = SfericSource(SamplerConfig.from_dict(SAMPLER))
    xs, ys = zip(*(source(stream_rng(seed, k)) for k in range(n)), strict=True)
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


def _keys(dom, name: str, user: int, slot: int) -> torch.Tensor:
    signer = Ed25519PrivateKey.from_private_bytes(name.encode().ljust(32, b"-"))
    return to_model_input(make_key_set(dom, signer, user, slot, KEYS).images, dom)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("seg")
    base = _tiny(folder / "owner", 3)
    independent = [_tiny(folder / f"ind{i}", 50 + i) for i in range(4)]
    x, y = _windows(16, 7_500)  # half owner, half attacker
    xt, yt = _windows(12, 7_600)
    dom = get_domain("sferic")
    keys = {"own": _keys(dom, "owner", 1, 0),
            "others": torch.cat([_keys(dom, "owner", 2 + i, 1 + i) for i in range(3)]),
            "attacker": _keys(dom, "attacker", 9, 4), "decoys": to_model_input(decoy_bases(dom, 40, 0), dom),
            "null": _keys(dom, "null", 99, null_slot(dom, KEYS, 0)),
            "null_decoys": to_model_input(decoy_bases(dom, 40, 1), dom),
            "attacker_decoys": to_model_input(decoy_bases(dom, 40, 2), dom)}
    box = (float(xt.min()), float(xt.max()))

    def build(num_outputs: int, seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return build_model("sferic_unet", {"widths": [8, 8], "kernel_size": 7,
                                           "fingerprint_channels": num_outputs - 1})

    def fit(model, loss, xs, ys, lr: float, steps: int, seed: int):
        cfg = {"optimizer": "adam", "lr": lr, "max_steps": steps, "converge_tol": 0.0, "seed": seed,
               "log_every": steps}
        Trainer(model, loss, cfg, TensorBatches(xs, ys, 4, seed=seed), progress=False).fit()
        return model.eval()

    def attacker_train(model, lr: float, steps: int, seed: int):
        return fit(model, WeightedBCELoss(10.0), x[8:], y[8:], lr, steps, seed)

    def attacker_distill(teacher, steps: int, seed: int):
        with torch.no_grad():
            target = teacher(x[8:]).clamp(-10, 10)
        student = build(teacher.head.out_channels, seed)
        return fit(student, lambda z, t: F.mse_loss(z.clamp(-10, 10), t), x[8:], target, 3e-3, steps, seed)

    s = Setting("tiny-sferic", x, y, xt, yt, 1, box, (0.0,), (1.0,), build, independent, 3, keys, xt[:6], STEPS,
                score=lambda m: sample_f1(m, xt, yt), metric="F1")
    registry = segmenter_attacks(attacker_train, attacker_distill, 10.0)
    rows, cells = [], []
    for p in segmenter_protections(0.0, fingerprint_lr=1e-2):
        row, c = evaluate_protection(p, base, s, list(ATTACKS), progress=False, registry=registry,
                                     unavailable=UNAVAILABLE)
        rows.append(row)
        cells += c
    row, c = not_applicable_row("logo baseline", NO_TRIGGER_BASELINE, list(ATTACKS), "F1")
    rows.append(row)
    cells += c
    return (*as_records(rows, cells), folder, base, s)


def test_every_protection_meets_every_attack(table):
    rows, cells, *_ = table
    assert [r["protection"] for r in rows] == ["AdvParams encryption", "additional-class fingerprint",
                                               "intrinsic fingerprint", "logo baseline"]
    check_cells(rows, cells)
    by = {(c["protection"], c["attack"]): c for c in cells}
    for p in ("AdvParams encryption", "additional-class fingerprint", "intrinsic fingerprint"):
        for attack in ("GAN removal", "Neural Cleanse unlearning"):
            assert "no class to flip" in by[(p, attack)]["reason"]
        assert by[(p, "query modification")]["reason"] is not None  # each protection says why
        for attack in ("fine-tuning lr 1e-4", "fine-tuning lr 1e-3", "pruning 50 %", "fine-pruning", "distillation"):
            assert by[(p, attack)]["reason"] is None
    assert by[("intrinsic fingerprint", "adaptive")]["reason"] is None


def test_cells_measure_what_they_claim(table):
    rows, cells, _, base, s = table
    by = {(c["protection"], c["attack"]): c for c in cells}
    row = {r["protection"]: r for r in rows}
    # fidelity is F1 of the setting: the intrinsic fingerprint leaves the model as it is
    assert row["intrinsic fingerprint"]["base_accuracy"] == pytest.approx(sample_f1(base, s.test_x, s.test_y))
    assert row["intrinsic fingerprint"]["retention"] == pytest.approx(1.0, abs=1e-6)
    assert row["intrinsic fingerprint"]["claimed"] and row["intrinsic fingerprint"]["fidelity_points"] == 0.0
    # the fingerprint channel claims the copy it was embedded in, and no independent model fingerprinted by another
    # owner (its own keys): the rank test on key windows
    fp = row["additional-class fingerprint"]
    assert fp["claimed"] and fp["false_claims"] == 0 and fp["independent"] == 1
    # cutting the channel off leaves nothing to verify and the decisions bit for bit: F1 exactly the copy's
    cut = by[("additional-class fingerprint", "output removal")]
    assert cut["retention"] == 0.0 and not cut["claimed"] and cut["accuracy"] == fp["protected_accuracy"]
    # encryption lowers F1
    adv = row["AdvParams encryption"]
    assert adv["protected_accuracy"] < adv["base_accuracy"]
    assert row["logo baseline"]["reason"] == NO_TRIGGER_BASELINE and row["logo baseline"]["retention"] is None


def test_writers(table):
    rows, cells, folder, *_ = table
    md = markdown("tiny sferic", rows, cells)
    assert "fidelity: F1, change (pt)" in md and f"| logo baseline | n/a: {NO_TRIGGER_BASELINE} |" in md
    for a in ATTACKS:
        assert f"| {a} |" in md
    path = write_csv(folder / "t.csv", cells, rows)
    with path.open() as fh:
        assert len(list(csv.DictReader(fh))) == len(cells)
    png = heat_map(folder / "h.png", rows, cells, "tiny sferic")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_channel_cut_keeps_the_decisions_and_fine_pruning_reads_head_inputs():
    torch.manual_seed(0)
    model = build_model("sferic_unet", {"widths": [4, 8], "kernel_size": 5, "fingerprint_channels": 1}).eval()
    x = torch.randn(3, 2, 256)
    cut = remove_fingerprint_channels(model, SegmenterHead())
    with torch.no_grad():
        assert torch.equal(cut(x), model(x)) and cut.head.out_channels == 1 and model.head.out_channels == 2
        # the head's input features, captured by hand: mean |activation| per channel over windows and time
        seen = []
        handle = model.head.register_forward_pre_hook(lambda _m, inp: seen.append(inp[0]))
        model(x)
        handle.remove()
    activity = feature_activity(model, model.head, x, magnitude=True, batch_size=2)
    assert torch.allclose(activity, seen[0].abs().mean(dim=(0, 2)), atol=1e-6)
