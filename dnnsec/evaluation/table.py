"""Run every protection against every attack and collect the survey's metrics.

Metrics (after the survey seed's taxonomy of active copyright protection; docs/acceptance.md#evaluation-table):

- effectiveness: the owner's evidence on the protected model itself (retention and claim);
- fidelity: test accuracy of the protected model against the unprotected one (points), and of every attacked model
  (or the setting's own metric, :meth:`~dnnsec.evaluation.protections.Setting.fidelity`, such as a segmenter's F1);
- robustness: retention and claim after each attack (the table's cells);
- uniqueness: false claims on independently trained models of the same architecture (none derived from the owner's;
  :meth:`~dnnsec.evaluation.protections.Protection.independent_suspects`);
- efficiency: seconds to protect and to verify, and seconds of each attack;
- security: whether GAN-based detection (phase 1 of :mod:`dnnsec.attacks.gan_removal`) singles out the watermark's
  class among all classes (a watermark it finds is exposed).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from dnnsec.attacks.gan_removal import detect
from dnnsec.evaluation.attacks import ATTACKS, Attack, not_applicable
from dnnsec.evaluation.protections import Protection, Setting


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
    """The per-protection metrics (``*_accuracy`` hold the setting's fidelity metric, named ``metric``); ``reason``
    is set (and the numbers are None) for a protection that does not apply to the evaluated model at all."""

    protection: str
    base_accuracy: float | None
    protected_accuracy: float | None
    retention: float | None
    claimed: bool | None
    false_claims: int | None
    independent: int | None
    protect_seconds: float | None
    verify_seconds: float | None
    security: str | None
    reason: str | None = None
    metric: str = "accuracy"

    @property
    def fidelity_points(self) -> float | None:
        if self.reason is not None:
            return None
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
                        on_cell: Callable[[Cell], None] | None = None, progress: bool = True,
                        registry: Mapping[str, Attack] | None = None, unavailable: Mapping[str, str] | None = None
                        ) -> tuple[Row, list[Cell]]:
    """Protect ``base`` with ``p``, score it, then run every attack of ``attacks``.

    Parameters
    ----------
    attacks
        Names of ``registry`` (default :data:`~dnnsec.evaluation.attacks.ATTACKS`, the classifiers' attacks).
    unavailable
        Attacks that do not apply to the evaluated model at all, with the reason (checked before the protection's
        own reasons).
    """
    registry = ATTACKS if registry is None else registry
    unavailable = unavailable or {}
    t0 = time.perf_counter()
    p.detection = None  # set again by this run's GAN removal attack, never carried over from an earlier one
    protected = p.protect(copy.deepcopy(base), s)
    t_protect = time.perf_counter() - t0
    t0 = time.perf_counter()
    retention, claimed, _ = p.assess(protected, s)
    t_verify = time.perf_counter() - t0
    held = p.independent_suspects(s)
    false = sum(p.claimed(m, s) for m in held)
    cells = []
    for name in tqdm(attacks, desc=p.name, disable=not progress):
        reason = (unavailable.get(name) or not_applicable(name, p)
                  or (None if name in registry else "no form of this attack for the evaluated model"))
        if reason is not None:
            cell = Cell(p.name, name, reason)
        else:
            torch.manual_seed(0)
            t0 = time.perf_counter()
            attacked = registry[name](protected, p, s)
            seconds = time.perf_counter() - t0
            retained, claimed_after, extras = p.assess(attacked, s)
            cell = Cell(p.name, name, None, retained, claimed_after, s.fidelity(attacked), seconds, extras)
        cells.append(cell)
        if on_cell is not None:
            on_cell(cell)
    row = Row(p.name, s.fidelity(base), s.fidelity(protected), retention, claimed, int(false), len(held), t_protect,
              t_verify, _security(p, protected, s), metric=s.metric)
    return row, cells


def not_applicable_row(protection: str, reason: str, attacks: list[str], metric: str = "accuracy",
                       cell_reason: str | None = None) -> tuple[Row, list[Cell]]:
    """The row of a protection that does not apply to the evaluated model, carrying ``reason``, and its cells, each
    carrying ``cell_reason`` (a short form; default ``reason``)."""
    row = Row(protection, *[None] * 9, reason=reason, metric=metric)
    return row, [Cell(protection, a, cell_reason or reason) for a in attacks]


def as_records(rows: list[Row], cells: list[Cell]) -> tuple[list[dict], list[dict]]:
    """Plain dictionaries (JSON and CSV ready)."""
    return [{**asdict(r), "fidelity_points": r.fidelity_points} for r in rows], [asdict(c) for c in cells]
