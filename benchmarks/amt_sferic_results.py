"""Rebuild the held-out sets from their seeds, rerun every metric with the shipped weights, compare.

``python -m benchmarks.amt_sferic_results`` prints the weights' SHA-256, tunes the STA/LTA baseline on the validation
sets, scores the full CNN, the fast path and STA/LTA on every held-out cell (SNR x day/night) and on the
second sferic model never seen in training, scores the clairvoyant matched-filter reference
(:mod:`amt.sferic.evaluation.reference`) on the same cells, scores the held-out families, the false alarms on
sferic-free records and the calibration (:mod:`benchmarks.amt_sferic_families`), prints the tables and the acceptance
checks, and compares every figure with the metrics JSON shipped beside the weights (exit status 1 on a difference).
``--write`` stores the figures instead (what the trainer of new default weights runs once).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import click
import torch
from tqdm.auto import tqdm

from amt.sferic.cli import path_option
from amt.sferic.evaluation.heldout import HELDOUT_SEED, TEST_SNRS_DB, VALIDATION_SEED, grid, records
from amt.sferic.evaluation.reference import cell_reference
from amt.sferic.evaluation.scoring import Scorer, score_synth_windows
from amt.sferic.inference import DEFAULT_WEIGHTS, SfericDetector
from amt.sferic.model import count_parameters, macs_per_sample
from amt.sferic.preprocess import highpass
from amt.sferic.sampler import CHANNEL_ROWS
from amt.sferic.stalta import StaLta, tune
from amt.sferic.train import validation_cells
from benchmarks import amt_sferic_families as families
from shared.atomic import write_json_atomic

#: SNRs (dB) of the strong-sferic cells: nearby storms, far above the test grid, must be found too.
STRONG_SNRS_DB = (30.0, 50.0)
#: Figures may differ by this much (absolute) between machines before a comparison fails.
TOLERANCE = 0.01


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tune_stalta(channels: tuple[str, ...]) -> tuple[StaLta, float]:
    """STA/LTA settings tuned on the validation sets (never the test sets)."""
    rows = [CHANNEL_ROWS[c] for c in channels]
    recs = []
    for cell in validation_cells():
        for rec in records(cell, VALIDATION_SEED):
            recs.append((highpass(rec.h[rows], rec.config.rate_hz), rec.config.rate_hz, rec.mask(), rec.care_mask()))
    return tune(recs)


def compute(weights: str | Path = DEFAULT_WEIGHTS, n_records: int = 4, progress: bool = True) -> dict[str, Any]:
    """Every figure of the README's sferic results, as a JSON-able dict."""
    torch.set_num_threads(1)
    det = SfericDetector.from_checkpoint(weights)
    stalta, stalta_val_f1 = tune_stalta(det.channels)
    scorer = Scorer(det, stalta)
    cells = (
        grid(n_records=n_records)
        + grid((0.0, -5.0), sferic_model="damped", n_records=n_records)
        + grid(STRONG_SNRS_DB, n_records=n_records)
    )
    table, reference = {}, {}
    for cell in tqdm(cells, desc="held-out cells", disable=not progress):
        table[cell.name] = scorer.score_cell(cell, HELDOUT_SEED)
        reference[cell.name] = cell_reference(cell, HELDOUT_SEED)
    return {
        "weights_sha256": file_sha256(weights),
        "parameters": count_parameters(det.model),
        "macs_per_sample": macs_per_sample(det.model),
        "threshold": det.threshold,
        "event_threshold": det.event_threshold,
        "stalta": {**stalta.to_dict(), "validation_f1": stalta_val_f1},
        "heldout_seed": HELDOUT_SEED,
        "records_per_cell": n_records,
        "cells": table,
        "clairvoyant": reference,
        "amt_synth_windows": score_synth_windows(det, n_windows=3 * n_records // 2, seed=HELDOUT_SEED),
        **families.compute(det, progress=progress),
    }


def _flatten(d: Any, prefix: str = "") -> dict[str, float]:
    if isinstance(d, dict):
        out: dict[str, float] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}/{k}" if prefix else str(k)))
        return out
    return {prefix: d} if isinstance(d, int | float) else {}


def compare(new: dict[str, Any], old: dict[str, Any], tol: float = TOLERANCE) -> list[str]:
    """Figures that differ by more than ``tol`` (NaN equals NaN), or exist in only one set."""
    a, b = _flatten(new), _flatten(old)
    out = []
    for k in sorted(set(a) | set(b)):
        if k not in a or k not in b:
            out.append(f"{k}: only in {'new' if k in a else 'shipped'}")
            continue
        x, y = float(a[k]), float(b[k])
        if not (math.isnan(x) and math.isnan(y)) and not abs(x - y) <= tol * max(1.0, abs(y) if "ms" in k else 1.0):
            out.append(f"{k}: now {x:.4g}, shipped {y:.4g}")
    return out


def acceptance(res: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """The acceptance checks of docs/acceptance.md#sferic-detection: (name, passed, measured)."""
    c, ref = res["cells"], res["clairvoyant"]
    out = []
    for tod in ("day", "night"):
        f0 = c[f"{tod} +0 dB waveguide"]["cnn"]["f1"]
        f10 = c[f"{tod} -10 dB waveguide"]["cnn"]["f1"]
        m5 = c[f"{tod} -5 dB waveguide"]
        gap = m5["cnn"]["f1"] - m5["stalta"]["f1"]
        damped = c[f"{tod} +0 dB damped"]["cnn"]
        rec, prec = damped["event_recall"], damped["event_precision"]
        r0, r10, r5 = (ref[f"{tod} {s} dB waveguide"]["f1"] for s in ("+0", "-10", "-5"))
        rd = ref[f"{tod} +0 dB damped"]["event_recall"]
        near = [
            (snr, c[f"{tod} {snr:+g} dB waveguide"]["cnn"]["f1"], ref[f"{tod} {snr:+g} dB waveguide"]["f1"])
            for snr in TEST_SNRS_DB
            if ref[f"{tod} {snr:+g} dB waveguide"]["f1"] >= 0.3
        ]
        out += [
            (
                f"{tod}: sample F1 >= 0.9 x the clairvoyant reference's where it scores >= 0.3",
                all(f >= 0.9 * r for _, f, r in near),
                ", ".join(f"{snr:+g} dB {f / r:.2f}" for snr, f, r in near),
            ),
            (f"{tod}: sample F1 >= 0.95 at 0 dB", f0 >= 0.95, f"{f0:.3f} (clairvoyant {r0:.3f})"),
            (f"{tod}: sample F1 >= 0.85 at -10 dB", f10 >= 0.85, f"{f10:.3f} (clairvoyant {r10:.3f})"),
            (
                f"{tod}: CNN F1 - STA/LTA F1 >= 0.15 at -5 dB",
                gap >= 0.15,
                f"{gap:+.3f} (clairvoyant - STA/LTA {r5 - m5['stalta']['f1']:+.3f})",
            ),
            (
                f"{tod}: damped-sinusoid sferics, event recall >= 0.8 (precision >= 0.5) at 0 dB",
                rec >= 0.8 and prec >= 0.5,
                f"recall {rec:.3f}, precision {prec:.3f} (clairvoyant recall {rd:.3f})",
            ),
        ]
    return out + families.acceptance(res)


def format_table(res: dict[str, Any]) -> str:
    """One line per cell and method: sample P/R/F1/IoU, event recall/precision, onset error."""
    lines = [
        f"{'cell':28s} {'method':7s} {'P':>6s} {'R':>6s} {'F1':>6s} {'IoU':>6s} {'evR':>6s} {'evP':>6s} "
        f"{'onset ms':>8s} {'n':>4s}"
    ]
    for name, methods in res["cells"].items():
        for m, s in methods.items():
            lines.append(
                f"{name:28s} {m:7s} {s['precision']:6.3f} {s['recall']:6.3f} {s['f1']:6.3f} {s['iou']:6.3f} "
                f"{s['event_recall']:6.3f} {s['event_precision']:6.3f} {s['onset_median_abs_ms']:8.3f} "
                f"{s['n_sferics']:4d}"
            )
    return "\n".join(lines)


def format_reference(res: dict[str, Any]) -> str:
    """One line per cell: the clairvoyant matched-filter reference (:mod:`amt.sferic.evaluation.reference`)."""
    lines = [
        "clairvoyant matched-filter reference (exact waveforms and positions known, oracle threshold):",
        f"{'cell':28s} {'F1':>6s} {'evR':>6s} {'evP':>6s} {'false/s':>7s} {'level':>6s} {'d':>6s}",
    ]
    for name, r in res["clairvoyant"].items():
        lines.append(
            f"{name:28s} {r['f1']:6.3f} {r['event_recall']:6.3f} {r['event_precision']:6.3f} "
            f"{r['false_per_s']:7.3f} {r['threshold']:6.2f} {r['deflection_median']:6.2f}"
        )
    return "\n".join(lines)


@click.command(
    epilog="Examples:\n\n  python -m benchmarks.amt_sferic_results\n\n"
    "  python -m benchmarks.amt_sferic_results --weights runs/x/model.safetensors --write runs/x/metrics.json"
)
@path_option("--weights", default=DEFAULT_WEIGHTS, show_default=True, help="Checkpoint to score.")
@path_option("--metrics", help="Metrics JSON to compare with (default: beside the weights, *.metrics.json).")
@path_option("--write", "write_path", help="Write the figures to this JSON instead of comparing.")
def main(weights: Path, metrics: Path | None, write_path: Path | None) -> None:
    """Reproduce the sferic CNN's README figures from seeds and the shipped weights."""
    click.echo(f"weights {weights}\nsha256  {file_sha256(weights)}")
    res = compute(weights)
    click.echo(
        f"parameters {res['parameters']}, multiply-adds per input sample {res['macs_per_sample']:.0f}, "
        f"threshold {res['threshold']} (samples), {res['event_threshold']} (event trigger-on)"
    )
    click.echo(f"STA/LTA tuned on validation: {res['stalta']}")
    click.echo(format_table(res))
    click.echo(format_reference(res))
    click.echo(f"cross-generator check on amt.synth.window.draw_window: {res['amt_synth_windows']}")
    click.echo(families.format_report(res))
    for name, ok, value in acceptance(res):
        click.echo(f"[{'pass' if ok else 'MISS'}] {name}: {value}")
    strong = [f"{c.name} {res['cells'][c.name]['cnn']['event_recall']:.3f}" for c in grid(STRONG_SNRS_DB)]
    click.echo("strong sferics (not an acceptance item), event recall: " + ", ".join(strong))
    if write_path is not None:
        write_json_atomic(write_path, res)
        click.echo(f"wrote {write_path}")
        return
    ref_path = metrics or Path(weights).with_suffix(".metrics.json")
    if not ref_path.is_file():
        raise click.ClickException(f"{ref_path}: no shipped metrics to compare with (use --write to create them)")
    diffs = compare(res, json.loads(ref_path.read_text()))
    if diffs:
        click.echo("DIFFERENT from " + str(ref_path) + ":\n  " + "\n  ".join(diffs))
        raise SystemExit(1)
    click.echo(f"all figures match {ref_path} (tolerance {TOLERANCE})")


if __name__ == "__main__":
    main()
