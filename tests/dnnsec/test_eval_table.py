"""The evaluation table's machinery on tiny models (docs/acceptance.md#evaluation-table): every protection meets every
attack, each cell is measured or says why not, and the writers produce Markdown, CSV and a PNG heat map."""

from __future__ import annotations

import csv

import pytest
import torch

import dnnsec.zoo.models  # noqa: F401  (registers mnist_cnn)
from dnnsec.attacks.finetune import finetune
from dnnsec.evaluation.attacks import ATTACKS
from dnnsec.evaluation.protections import Setting, all_protections
from dnnsec.evaluation.report import heat_map, markdown, write_csv
from dnnsec.evaluation.table import as_records, evaluate_protection
from shared.architectures import build_model
from tests.dnnsec.bars import BOX, bar_images
from tests.dnnsec.table_cells import check_cells

pytestmark = pytest.mark.slow
STEPS = {"embed": 40, "finetune": 20, "gan": 10, "distill": 20, "autoencoder": 20, "adaptive": 5, "advparams": 3}


def _build(num_classes: int, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model("mnist_cnn", {"num_classes": num_classes, "width": 4})


def _trained(seed: int, x: torch.Tensor, y: torch.Tensor) -> torch.nn.Module:
    return finetune(_build(4, seed), x, y, steps=60, lr=3e-3, seed=seed)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    torch.set_num_threads(1)
    x, y = bar_images(600, 1)
    tx, ty = bar_images(200, 2)
    noise = torch.Generator().manual_seed(3)
    keys = {k: torch.rand(n, 1, 16, 16, generator=noise) * 4.0 - 1.0
            for k, n in (("own", 20), ("others", 40), ("decoys", 40), ("attacker", 20))}
    s = Setting("tiny", x, y, tx, ty, 4, BOX, (0.25,), (1.0,), _build,
                [_trained(10 + i, x, y) for i in range(4)], 3, keys, tx[:16], STEPS)
    base = _trained(0, x, y)
    rows, cells = [], []
    for p in all_protections():
        row, c = evaluate_protection(p, base, s, list(ATTACKS), progress=False)
        rows.append(row)
        cells += c
    return (*as_records(rows, cells), tmp_path_factory.mktemp("eval"))


def test_every_protection_meets_every_attack(table):
    rows, cells, _ = table
    assert len(rows) == 5
    check_cells(rows, cells)


def test_cells_measure_what_they_claim(table):
    rows, cells, _ = table
    by = {(c["protection"], c["attack"]): c for c in cells}
    row = {r["protection"]: r for r in rows}
    # the intrinsic fingerprint of an unmodified model is the owner's own: SSIM 1, claimed, accuracy unchanged
    assert row["intrinsic fingerprint"]["retention"] == pytest.approx(1.0, abs=1e-6)
    assert row["intrinsic fingerprint"]["claimed"]
    assert row["intrinsic fingerprint"]["fidelity_points"] == 0.0
    # removing the extra output leaves no class K to answer: retention exactly 0
    assert by[("additional-class fingerprint", "output removal")]["retention"] == 0.0
    # encryption is what AdvParams claims: the encrypted model is less accurate than the plain one
    assert row["AdvParams encryption"]["protected_accuracy"] < row["AdvParams encryption"]["base_accuracy"]
    assert by[("AdvParams encryption", "query modification")]["reason"].startswith("no verification")


def test_writers(table):
    rows, cells, folder = table
    md = markdown("tiny", rows, cells)
    for a in ATTACKS:
        assert f"| {a} |" in md
    path = write_csv(folder / "t.csv", cells, rows)
    with path.open() as f:
        lines = list(csv.DictReader(f))
    assert len(lines) == len(cells) and {r["protection"] for r in lines} == {r["protection"] for r in rows}
    png = heat_map(folder / "t.png", rows, cells, "tiny")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
