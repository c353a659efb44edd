"""Run every protection against every attack and collect the survey's metrics.

Metrics (after the survey seed's taxonomy of active copyright protection; docs/acceptance.md#evaluation-table):

- effectiveness: the owner's evidence on the protected model itself (retention and claim);
- fidelity: test accuracy of the protected model against the unprotected one (points), and of every attacked model;
- robustness: retention and claim after each attack (the table's cells);
- uniqueness: false claims on independently trained models of the same architecture (none derived from the owner's);
- efficiency: seconds to protect and to verify, and seconds of each attack;
- security: whether GAN-based detection (phase 1 of :mod:`dnnsec.attacks.gan_removal`) singles out the watermark's
  class among all classes (a watermark it finds is exposed).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from dnnsec.attacks.gan_removal import detect
from dnnsec.evaluation.attacks import ATTACKS, not_applicable
from dnnsec.evaluation.protections import Protection, Setting, accuracy


@dataclass
class Cell:
    """One protection under one attack; ``reason`` is set (and the numbers are None) where it does not apply."""

    protection: str
    attack: str
    reason: str | None = None
    retention: float | None = None
    claimed: bool | None = None
    accuracy: float | None = None
    seconds: float | None = None
    extras: dict | None = None


@dataclass
class Row:
    """The per-protection metrics."""

    protection: str
    base_accuracy: float
    protected_accuracy: float
    retention: float
    claimed: bool
    false_claims: int
    independent: int
    protect_seconds: float
    verify_seconds: float
    security: str

    @property
    def fidelity_points(self) -> float:
        return 100.0 * (self.protected_accuracy - self.base_accuracy)


def _security(p: Protection, model: nn.Module, s: Setting) -> str:
    if p.trigger_target is None:
        return "no trigger class to detect"
    det = getattr(p, "detection", None)  # left by the GAN removal attack, which runs the same detection
    if det is None:
        x, _ = s.attacker
        det = detect(model, x[:max(10, len(s.train_x) // 100)], s.box, steps=s.budget("gan", 150), seed=1)
    return "detected by GAN" if p.trigger_target in det.flagged else "not detected by GAN"


def evaluate_protection(p: Protection, base: nn.Module, s: Setting, attacks: list[str],
                        on_cell: Callable[[Cell], None] | None = None, progress: bool = True
                        ) -> tuple[Row, list[Cell]]:
    """Protect ``base`` with ``p``, score it, then run every attack of ``attacks`` (names of :data:`ATTACKS`)."""
    t0 = time.perf_counter()
    p.detection = None  # set again by this run's GAN removal attack, never carried over from an earlier one
    protected = p.protect(copy.deepcopy(base), s)
    t_protect = time.perf_counter() - t0
    t0 = time.perf_counter()
    retention, claimed, _ = p.assess(protected, s)
    t_verify = time.perf_counter() - t0
    held = s.independent[s.n_null:]
    false = sum(p.claimed(m, s) for m in held)
    cells = []
    for name in tqdm(attacks, desc=p.name, disable=not progress):
        reason = not_applicable(name, p)
        if reason is not None:
            cell = Cell(p.name, name, reason)
        else:
            torch.manual_seed(0)
            t0 = time.perf_counter()
            attacked = ATTACKS[name](protected, p, s)
            seconds = time.perf_counter() - t0
            retained, claimed_after, extras = p.assess(attacked, s)
            cell = Cell(p.name, name, None, retained, claimed_after, accuracy(attacked, s.test_x, s.test_y),
                        seconds, extras)
        cells.append(cell)
        if on_cell is not None:
            on_cell(cell)
    row = Row(p.name, accuracy(base, s.test_x, s.test_y), accuracy(protected, s.test_x, s.test_y), retention,
              claimed, int(false), len(held), t_protect, t_verify, _security(p, protected, s))
    return row, cells


def as_records(rows: list[Row], cells: list[Cell]) -> tuple[list[dict], list[dict]]:
    """Plain dictionaries (JSON and CSV ready)."""
    return [{**asdict(r), "fidelity_points": r.fidelity_points} for r in rows], [asdict(c) for c in cells]
