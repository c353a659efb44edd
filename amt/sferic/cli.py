"""``amt train`` and ``amt detect``: train the sferic CNN, detect sferics in a record."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
from tqdm.auto import tqdm

import amt.io
from amt.record import RecordError
from amt.sferic.catalogue import write_events_csv


def path_option(*names: str, folder: bool = False, **kw) -> Callable:
    """A click option taking one path (a :class:`pathlib.Path`): a file, or with ``folder`` a folder.

    ``names`` and ``kw`` (``required``, ``default``, ``help``, ...) are those of :func:`click.option`.
    """
    return click.option(*names, type=click.Path(file_okay=not folder, dir_okay=folder, path_type=Path), **kw)


@click.command(
    epilog="""Examples:

  amt train --config amt/sferic/configs/default.toml --out runs/sferic

  amt train --config my.toml --out runs/variant --no-progress
"""
)
@path_option(
    "--config", "config_path", required=True, help="TOML training config (see amt/sferic/configs/default.toml)."
)
@path_option(
    "--out",
    "out_dir",
    folder=True,
    required=True,
    help="Output folder: model.safetensors, model.json, train_log.jsonl.",
)
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
def train(config_path: Path, out_dir: Path, progress: bool) -> None:
    """Train the sferic CNN on freshly generated synthetic windows until the loss converges."""
    from amt.sferic.train import RunConfig  # torch: kept out of `amt --help`
    from amt.sferic.train import train as run_training

    cfg = RunConfig.load(config_path)
    path, summary = run_training(cfg, out_dir, progress=progress)
    click.echo(
        f"wrote {path} after {summary['steps']} steps ({summary['stopped_by']}), smoothed loss "
        f"{summary['smoothed_loss']:.4f}, pos_weight {summary['pos_weight']:.1f}, thresholds "
        f"{summary['threshold']} (samples) / {summary['event_threshold']} (events)"
    )


@click.command(
    epilog="""Examples:

  amt detect station.h5 --out events.csv

  amt detect /data/phoenix/10128_2021-04-27-032436 --out events.csv --fast

  amt detect record.mseed --out events.csv --model runs/sferic/model.safetensors

  amt detect station.h5 --out events.csv --model sferic.dnnpkg --key alice.key

A protected package (--model PACKAGE --key KEYFILE) is verified against the owner's public key pinned in
$DNNSEC_KEYRING (default ~/.config/dnnsec/owners/OWNER.pub) and decrypted in memory; plain weights are never
written. A sealed key file's password is read from $DNNSEC_KEY_PASSWORD.
"""
)
@click.argument("record", type=click.Path(path_type=Path))
@path_option(
    "--out",
    "out_path",
    required=True,
    help="Events CSV: start,end,peak_time,probability,amplitude,azimuth (ISO 8601 UTC).",
)
@path_option(
    "--model",
    "model_path",
    help="Checkpoint (.safetensors with its .json) or protected package; default: the shipped weights.",
)
@path_option("--key", "key_path", help="Your key file for a protected --model package.")
@click.option("--fast", is_flag=True, help="STA/LTA proposes candidates, the CNN confirms only those.")
def detect(record: Path, out_path: Path, model_path: Path | None, key_path: Path | None, fast: bool) -> None:
    """Detect sferics in RECORD (any format amt.io reads) and write them as CSV.

    Runs at the model's rate (24 kHz) are read; other runs, gaps, NaNs, clipped stretches and missing
    channels are reported on stderr and skipped; nothing usable at all is an error.
    """
    from amt.sferic.protected import load_detector  # torch: kept out of `amt --help`

    detector = load_detector(model_path, key_path)
    station = amt.io.read(record)
    events, processed = [], 0
    for run in tqdm(station.runs, desc="detect", unit="run", disable=len(station.runs) < 2):
        try:
            det = detector.detect_run(run, fast=fast)
        except RecordError as exc:
            click.echo(f"skipped: {exc}", err=True)
            continue
        for note in det.notes:
            click.echo(f"{run.run}: {note}", err=True)
        events.extend(det.events)
        processed += det.processed_samples
    if processed == 0:
        raise RecordError(f"{record}: no run could be processed (see the messages above)")
    events.sort(key=lambda e: e.start)
    write_events_csv(out_path, events)
    units = {run.meta[c].units for run in station.runs for c in detector.channels if c in run.meta}
    click.echo(
        f"{len(events)} events in {processed / detector.rate_hz:.1f} s of data -> {out_path} "
        f"(amplitude in {', '.join(sorted(units))})"
    )
