"""Held-out sferic families, false alarms on sferic-free records, and calibration of a sferic checkpoint.

``python -m benchmarks.amt_sferic_families`` scores the shipped weights as they ship (their stored event trigger and
calibration) on the held-out families of :mod:`amt.sferic.evaluation.families` (``modes`` and ``damped`` at 0.5, 2
and 10 sferics/s with dead-band noise 10, 20 and 30 dB over the natural field; full CNN and fast path), counts false
events per minute on sferic-free records of the held-out noise, of the training families and on the Phoenix bench
recording, and reports the expected calibration error of event probabilities on the held-out families, each with
the acceptance check of docs/acceptance.md#sferic-detection.

``--recalibrate OUT`` first sets the checkpoint's event trigger for the stated false-alarm rate on sferic-free
training-family records and fits its calibration on training-family records (validation seeds, never the held-out
ones), writes the result to ``OUT`` and scores that; ``--uncalibrated`` scores the raw peak probability and the
stored trigger instead (the ablation of the calibration step).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np
import torch
from tqdm.auto import tqdm

import amt.io
from amt.sferic.calibration import reliability
from amt.sferic.cli import path_option
from amt.sferic.evaluation.families import (
    FALSE_ALARM_RATE_PER_MIN,
    HELDOUT_FAMILIES,
    candidate_outcomes,
    event_counts,
    family_cells,
    family_records,
    noise_cells,
    probability,
    training_family_records,
)
from amt.sferic.evaluation.heldout import HELDOUT_SEED
from amt.sferic.inference import DEFAULT_WEIGHTS, SfericDetector
from amt.sferic.train import recalibrate
from shared.paths import data_root

PHOENIX = "amt/phoenix_mtu5c/10128_2021-04-27-032436"


def _ratio(a: int, b: int) -> float:
    return a / b if b else float("nan")


def score_families(det: SfericDetector, n_records: int = 2, progress: bool = True) -> dict[str, Any]:
    """Per held-out cell and method: event recall (>= 0 dB), precision, false events; ECE per family."""
    cells: dict[str, Any] = {}
    cand: dict[str, list] = {f: [[], [], []] for f in HELDOUT_FAMILIES}
    for cell in tqdm(family_cells(n_records=n_records), desc="held-out families", disable=not progress):
        tot = {m: {"hits": 0, "misses": 0, "false": 0} for m in ("cnn", "fast")}
        seconds = 0.0
        for rec in family_records(cell, HELDOUT_SEED):
            seconds += rec.n_samples / rec.config.rate_hz
            for m in tot:
                p = probability(det, rec, fast=m == "fast")
                c = event_counts(det.events_in(p), rec.labels, rec.config.rate_hz)
                tot[m] = {k: tot[m][k] + c[k] for k in c}
                if m == "cnn":
                    s, o = candidate_outcomes(p, rec.labels, det)
                    cand[cell.family][0].append(det.calibration(s) if det.calibration is not None else s)
                    cand[cell.family][1].append(o)
                    cand[cell.family][2].append(s >= det.event_threshold)
        cells[cell.name] = {
            m: {
                "recall": _ratio(t["hits"], t["hits"] + t["misses"]),
                "precision": _ratio(t["hits"], t["hits"] + t["false"]),
                "false_per_min": t["false"] / (seconds / 60.0),
                "n_sferics_ge_0db": t["hits"] + t["misses"],
            }
            for m, t in tot.items()
        }
    calibration = {}
    for fam, (ps, os_, reported) in cand.items():
        p, o, r = np.concatenate(ps), np.concatenate(os_), np.concatenate(reported)
        ece, curve = reliability(p, o)
        ece_events, _ = reliability(p[r], o[r])
        calibration[fam] = {"ece": ece, "curve": curve, "n_candidates": int(p.size), "ece_events": ece_events}
    return {"cells": cells, "calibration": calibration}


def false_alarms(det: SfericDetector, progress: bool = True) -> dict[str, dict[str, float]]:
    """False events per minute on sferic-free records: held-out noise, training families (held-out seed), Phoenix."""
    out: dict[str, dict[str, float]] = {}
    sources = [(c.name.replace("modes 0/s", "noise"), list(family_records(c, HELDOUT_SEED))) for c in noise_cells()]
    sources.append(("training-family noise", list(training_family_records(HELDOUT_SEED, 20, 15.0, sferics=False))))
    for name, recs in tqdm(sources, desc="sferic-free records", disable=not progress):
        events = sum(len(det.events_in(probability(det, r))) for r in recs)
        minutes = sum(r.n_samples / r.config.rate_hz for r in recs) / 60.0
        out[name] = {"false_per_min": events / minutes, "minutes": minutes}
    folder = data_root() / PHOENIX
    if folder.is_dir():
        runs = amt.io.read(folder).runs_at(det.rate_hz)
        dets = [det.detect_run(r) for r in runs]
        minutes = sum(d.processed_samples for d in dets) / det.rate_hz / 60.0
        out["Phoenix bench (amt detect)"] = {
            "false_per_min": sum(len(d.events) for d in dets) / minutes,
            "minutes": minutes,
        }
    return out


def acceptance(res: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """The family, false-alarm, fast-path-recall and calibration checks: (name, passed, measured)."""
    out = []
    cells = res["families"]["cells"]
    worst = min(cells.items(), key=lambda kv: min(kv[1]["cnn"]["recall"], kv[1]["cnn"]["precision"]))
    r, p = worst[1]["cnn"]["recall"], worst[1]["cnn"]["precision"]
    ok = all(c["cnn"]["recall"] >= 0.9 and c["cnn"]["precision"] >= 0.9 for c in cells.values())
    out.append(
        (
            "held-out families: event recall and precision >= 0.9 in every cell",
            ok,
            f"worst {worst[0]}: recall {r:.3f}, precision {p:.3f}",
        )
    )
    loss = max(c["cnn"]["recall"] - c["fast"]["recall"] for c in cells.values())
    worse_p = min(c["fast"]["precision"] - c["cnn"]["precision"] for c in cells.values())
    out.append(
        (
            "fast path: recall within 0.02 of the full pass, precision no worse",
            loss <= 0.02 and worse_p >= 0,
            f"largest recall loss {loss:+.3f}, smallest precision gain {worse_p:+.3f}",
        )
    )
    fa = res["false_alarms"]
    worst_fa = max(fa.items(), key=lambda kv: kv[1]["false_per_min"])
    out.append(
        (
            "at most 1 false event per minute on every sferic-free family and the Phoenix recording",
            worst_fa[1]["false_per_min"] <= 1.0,
            f"worst {worst_fa[0]}: {worst_fa[1]['false_per_min']:.2f}/min",
        )
    )
    eces = {f: c["ece"] for f, c in res["families"]["calibration"].items()}
    out.append(
        (
            "expected calibration error <= 0.05 on every held-out family",
            max(eces.values()) <= 0.05,
            ", ".join(f"{f} {e:.3f}" for f, e in eces.items()),
        )
    )
    return out


def compute(det: SfericDetector, n_records: int = 2, progress: bool = True) -> dict[str, Any]:
    """Every figure of this benchmark for one detector."""
    torch.set_num_threads(1)
    return {
        "event_threshold": det.event_threshold,
        "calibrated": det.calibration is not None,
        "families": score_families(det, n_records, progress),
        "false_alarms": false_alarms(det, progress),
    }


def format_report(res: dict[str, Any]) -> str:
    """The tables as text."""
    lines = [
        f"event trigger {res['event_threshold']:.4g}, calibrated probabilities: {res['calibrated']}",
        f"{'held-out cell':40s} {'CNN R':>6s} {'CNN P':>6s} {'fast R':>6s} {'fast P':>6s} {'n>=0dB':>6s}",
    ]
    for name, c in res["families"]["cells"].items():
        lines.append(
            f"{name:40s} {c['cnn']['recall']:6.3f} {c['cnn']['precision']:6.3f} {c['fast']['recall']:6.3f} "
            f"{c['fast']['precision']:6.3f} {c['cnn']['n_sferics_ge_0db']:6d}"
        )
    lines.append("false events per minute on sferic-free records:")
    lines += [f"  {k:40s} {v['false_per_min']:7.2f}  ({v['minutes']:.1f} min)" for k, v in res["false_alarms"].items()]
    for fam, c in res["families"]["calibration"].items():
        curve = " ".join(
            f"[{b['lo']:.1f},{b['hi']:.1f}) {b['predicted']:.2f}->{b['observed']:.2f} (n={b['n']})" for b in c["curve"]
        )
        lines.append(
            f"calibration {fam}: ECE {c['ece']:.3f} over all {c['n_candidates']} candidates (trigger-off level and "
            f"up), {c['ece_events']:.3f} over the events reported; reliability {curve}"
        )
    return "\n".join(lines)


@click.command(
    epilog="Examples:\n\n  python -m benchmarks.amt_sferic_families\n\n"
    "  python -m benchmarks.amt_sferic_families --weights runs/x/model.safetensors --recalibrate runs/x/cal.safetensors"
)
@path_option("--weights", default=DEFAULT_WEIGHTS, show_default=True, help="Checkpoint to score.")
@path_option(
    "--recalibrate",
    "out",
    help=f"Set the trigger for {FALSE_ALARM_RATE_PER_MIN}/min false events and fit "
    "the calibration on training families, write the checkpoint here, and score it.",
)
@click.option("--uncalibrated", is_flag=True, help="Score raw peak probabilities (ablation of the calibration).")
@click.option("--records", default=2, show_default=True, help="Records (30 s each) per held-out cell.")
def main(weights: Path, out: Path | None, uncalibrated: bool, records: int) -> None:
    """Score a sferic checkpoint on held-out families and sferic-free records."""
    if out is not None:
        fit = recalibrate(weights, out)
        click.echo(
            f"trigger {fit.trigger:.4g}: {fit.false_per_min_at_trigger:.2f} false/min on "
            f"{fit.noise_minutes:.0f} min of sferic-free training-family records; calibration fitted on "
            f"{fit.n_candidates} candidates -> {out}"
        )
        weights = out
    det = SfericDetector.from_checkpoint(weights)
    if uncalibrated:
        det.calibration = None
    res = compute(det, records)
    click.echo(format_report(res))
    for name, ok, value in acceptance(res):
        click.echo(f"[{'pass' if ok else 'MISS'}] {name}: {value}")


if __name__ == "__main__":
    main()
