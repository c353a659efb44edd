"""The fast path's settings: how many of the full pass's events it finds, and what it costs.

For each checkpoint and each fast-path setting (context per candidate, ``SfericDetector.fast_margin``; STA/LTA
trigger of the proposer, ``SfericDetector.fast_proposer``) the fast path is run on training-family records with
sferics (:func:`amt.sferic.evaluation.families.training_family_records`, the validation seed, 0.1-100 sferics/s;
never a held-out family) and its events are matched against the full pass's at the checkpoint's own trigger: the
share of full-pass events it also finds (overlap) and the events it adds. Cost: CPU seconds of the fast and full
paths on a sparse record (2 sferics/s at +10 dB, the default generator), as a multiple of real time. The settings
are chosen here, on validation records; the held-out check is ``python -m benchmarks.amt_sferic_families``.

Run: ``.venv/bin/python -m benchmarks.amt_sferic_fast_path [--weights W ...] [--records 12] [--settings 1024:2]``
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from amt.sferic.evaluation.families import probability, training_family_records
from amt.sferic.evaluation.heldout import VALIDATION_SEED
from amt.sferic.inference import DEFAULT_WEIGHTS, FAST_PROPOSER, SfericDetector
from amt.synth.records import FieldConfig, SynthRecord, synthesize
from shared.seeding import stream_rng

#: (context samples per side, proposer trigger) settings compared.
SETTINGS = ((512, 2.0), (640, 2.0), (768, 2.0), (1024, 2.0), (1024, 1.5), (1024, 1.3))


def matched(fast: np.ndarray, full: np.ndarray) -> tuple[int, int]:
    """Full-pass events that a fast-path event overlaps, and fast-path events that overlap none."""
    if not len(fast) or not len(full):
        return 0, len(fast)
    over = (fast[:, None, 0] < full[None, :, 1]) & (fast[:, None, 1] > full[None, :, 0])
    return int(over.any(axis=0).sum()), int((~over.any(axis=1)).sum())


def cpu_per_second(det: SfericDetector, rec: SynthRecord, fast: bool) -> float:
    """CPU seconds per record second of one pass (the CNN's kernels warmed on the first)."""
    probability(det, rec, fast=fast)
    t0 = time.process_time()
    probability(det, rec, fast=fast)
    return (time.process_time() - t0) / (rec.n_samples / rec.config.rate_hz)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, nargs="+", default=[DEFAULT_WEIGHTS], help="checkpoints")
    parser.add_argument("--records", type=int, default=12, help="validation records of 15 s")
    parser.add_argument(
        "--settings",
        default=",".join(f"{m}:{on:g}" for m, on in SETTINGS),
        help="comma-separated CONTEXT:TRIGGER pairs (samples per side : proposer STA/LTA trigger)",
    )
    args = parser.parse_args()
    try:
        settings = [(int(m), float(on)) for m, on in (p.split(":") for p in args.settings.split(",") if p)]
    except ValueError:
        parser.error(f"--settings: expected CONTEXT:TRIGGER pairs such as 640:2, got {args.settings!r}")
    torch.set_num_threads(1)
    recs = list(training_family_records(VALIDATION_SEED, args.records, 15.0, sferics=True))
    sparse = synthesize(60 * 24_000, FieldConfig(sferic_rate_hz=2.0, snr_db=10.0), stream_rng(4_243, 0))
    print("| checkpoint | trigger | context (samples) | proposer on | full-pass events found | added | fast / full "
          "x real time (2/s) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for path in args.weights:
        det = SfericDetector.from_checkpoint(path)
        full = [det.events_in(probability(det, r)) for r in recs]
        total = sum(len(e) for e in full)
        full_rt = 1 / cpu_per_second(det, sparse, fast=False)
        for margin, on in settings:
            det.fast_margin, det.fast_proposer = margin, replace(FAST_PROPOSER, on=on)
            found = added = 0
            for r, ev in zip(recs, full, strict=True):
                f, a = matched(det.events_in(probability(det, r, fast=True)), ev)
                found, added = found + f, added + a
            fast_rt = 1 / cpu_per_second(det, sparse, fast=True)
            print(
                f"| {path.name} | {det.event_threshold:.3f} | {margin} | {on:g} | {found}/{total} = "
                f"{found / max(total, 1):.4f} | {added} | {fast_rt:.0f} / {full_rt:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
