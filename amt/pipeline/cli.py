"""``amt process``: a record to an EDI and a per-frequency JSON summary (:mod:`amt.pipeline.process`)."""

from __future__ import annotations

from pathlib import Path

import click
from tqdm import tqdm

from amt.pipeline import MODES


@click.command(
    epilog=(
        "Examples:\n\n"
        "  amt process site01.h5 --out results/\n\n"
        "  amt process site01.h5 --remote site02.h5 --out results/\n\n"
        "  amt process site01.h5 --out results/ --mode both --detections events.csv\n\n"
        "  amt process site01.h5 --out results/ --dead-band 1000 5000 --mode compensated\n\n"
        "  amt process site01.h5 --out results/ --mode both --report\n\n"
        "  amt process site01.h5 --out results/ --model sferic.dnnpkg --key alice.key\n\n"
        "Writes DIR/<station>.edi (jackknife variances; flagged frequencies as the EDI empty value 1.0E32) and "
        "DIR/<station>.json (one record per frequency). compensated (the default) estimates every frequency also "
        "from the windows holding sferics (detections from --detections, else the shipped CNN, else STA/LTA) and "
        "keeps the estimate the data show good, else flags it; both also writes DIR/<station>_conventional.edi "
        "and .json."
    )
)
@click.argument("record", type=click.Path(exists=True, path_type=Path))
@click.option("--remote", type=click.Path(exists=True, path_type=Path), help="Remote-reference record (its hx, hy).")
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder."
)
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="compensated",
    show_default=True,
    help="conventional: robust estimate from all windows; compensated: per frequency the conventional or the "
    "sferic-window estimate, as the data decide (amt.deadband); both: the two side by side.",
)
@click.option("--detections", type=click.Path(exists=True, path_type=Path), help="Sferic events CSV (amt detect).")
@click.option(
    "--dead-band",
    nargs=2,
    type=float,
    default=None,
    help="Dead-band edges LOW HIGH in Hz, reported as a diagnostic (default: the notch found in the data).",
)
@click.option(
    "--model",
    "model_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Sferic CNN: a checkpoint, or a protected package with --key (default: the shipped weights).",
)
@click.option(
    "--key",
    "key_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Your key file for a protected --model package (decrypted in memory, never written).",
)
@click.option("--report", is_flag=True, help="Also draw the station report under DIR/report (amt report).")
def process(
    record: Path,
    remote: Path | None,
    out_dir: Path,
    mode: str,
    detections: Path | None,
    dead_band: tuple[float, float] | None,
    report: bool,
    model_path: Path | None,
    key_path: Path | None,
) -> None:
    """Estimate the transfer function of RECORD and write an EDI and a JSON summary."""
    # the chain loads mt_metadata, torch and the CNN: imported here so that `amt --help` stays fast
    from amt.pipeline.preload import preload

    preload("amt.pipeline.process")  # numpy, scipy, obspy, numba: frozen as torch and mt_metadata are later
    from amt.pipeline.process import process_record, write_outputs

    if mode == "conventional" and (detections is not None or dead_band is not None):
        raise click.UsageError("--detections and --dead-band are used only by --mode compensated or both")
    if (model_path or key_path) and (mode == "conventional" or detections is not None):
        raise click.UsageError("--model and --key detect sferics: not with --mode conventional or --detections")
    detector = None
    if model_path or key_path:
        from amt.sferic.protected import load_detector

        detector = load_detector(model_path, key_path)
    with tqdm(total=3, desc=f"amt process {record.name}", disable=None) as bar:
        result = process_record(
            record, remote, mode, detections, dead_band, on_step=lambda: bar.update(1), detector=detector
        )
        for note in result.notes:
            click.echo(note, err=True)
        written = write_outputs(result, out_dir)
        bar.update(1)
    tf = result.transfer_function
    n_flag = sum(bool(f) for f in tf.flags)
    click.echo(f"{written['edi']}: {tf.n_frequencies} frequencies ({n_flag} flagged, written as empty)")
    if report:
        from amt.pipeline.process import summary
        from amt.report.results import from_process
        from amt.report.write import write_station_report

        pages = write_station_report(from_process(result, summary(tf)), out_dir / "report")
        click.echo(f"report: {pages['pdf']}")
