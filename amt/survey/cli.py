"""``amt survey``: process many records, each station a task on a Dask cluster (:mod:`amt.survey.run`)."""

from __future__ import annotations

from pathlib import Path

import click

from amt.pipeline import MODES


@click.command(
    epilog=(
        "Examples:\n\n"
        "  amt survey day1/*.h5 --out survey/\n\n"
        "  amt survey day1/*.h5 --out survey/ --workers 4 --mode both --report\n\n"
        "  amt survey day1/*.h5 --out survey/ --scheduler tcp://10.0.0.5:8786\n\n"
        "  amt survey day1/*.h5 --out survey/ --workers 0      # in turn, without Dask\n\n"
        "Writes DIR/<station>.edi and .json for every record (as amt process) and the manifest DIR/survey.json. "
        "A station that fails is retried once and reported; the others go on. A rerun skips stations whose record "
        "bytes and settings are unchanged (--force runs them all). With --scheduler, DIR must be reachable by "
        "every worker. Exit status 2 if any station failed."
    )
)
@click.argument("records", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Survey folder.")
@click.option("--scheduler", default=None, help="Address of a running Dask scheduler (default: a local cluster).")
@click.option("--workers", type=click.IntRange(min=0), default=2, show_default=True,
              help="Worker processes of the local cluster (0: in turn, in this process).")
@click.option("--mode", type=click.Choice(MODES), default="compensated", show_default=True,
              help="As amt process --mode.")
@click.option("--dead-band", nargs=2, type=float, default=None, help="Dead-band edges LOW HIGH in Hz.")
@click.option("--force", is_flag=True, help="Run every station, even those up to date.")
@click.option("--report", is_flag=True, help="Also draw the report (amt report) under DIR/report.")
def survey(
    records: tuple[Path, ...],
    out_dir: Path,
    scheduler: str | None,
    workers: int,
    mode: str,
    dead_band: tuple[float, float] | None,
    force: bool,
    report: bool,
) -> None:
    """Process RECORDS (one station each) into a survey folder."""
    from amt.survey.run import SurveyError, run_survey
    from amt.survey.station import SurveySettings

    if mode == "conventional" and dead_band is not None:
        raise click.UsageError("--dead-band is used only by --mode compensated or both")
    settings = SurveySettings(mode=mode, dead_band_hz=tuple(dead_band) if dead_band else None)
    result = run_survey(records, out_dir, settings, scheduler=scheduler, workers=workers, force=force)
    for r in result.retried:
        click.echo(f"retried once: {r}", err=True)
    click.echo(f"{out_dir}: {len(result.done)} station(s) processed, {len(result.skipped)} up to date, "
               f"{len(result.failed)} failed")
    if report and (result.done or result.skipped):
        from amt.report.results import load_results
        from amt.report.write import write_report

        written = write_report(load_results(out_dir), out_dir / "report")
        click.echo(f"report: {written['survey pdf']}")
    if result.failed:
        raise SurveyError("station(s) failed: " + "; ".join(f"{r}: {m}" for r, m in result.failed.items()))
