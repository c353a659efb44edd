"""``amt report``: the report of an ``amt process`` or ``amt survey`` output folder (:mod:`amt.report`)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(
    epilog=(
        "Examples:\n\n"
        "  amt report results/\n\n"
        "  amt report survey_out/ --out survey_out/report-2026-12-07\n\n"
        "Reads every DIR/<station>.json with its .edi (and <station>_conventional.edi, <station>.events.csv, the "
        "record named in the JSON when it still exists) and writes, under DIR/report by default, per station "
        "<station>.pdf and <station>_<page>.png (time series and spectrogram, rho_a and phase, phase tensor, "
        "coherence), and for the survey survey.pdf, survey_pseudosection.png, survey_quality.png and .csv."
    )
)
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Report folder (default: DIRECTORY/report).")
def report(directory: Path, out_dir: Path | None) -> None:
    """Draw the report of the station results in DIRECTORY."""
    from amt.report.results import load_results
    from amt.report.write import write_report

    out = out_dir if out_dir is not None else directory / "report"
    results = load_results(directory)
    written = write_report(results, out, progress=True)
    click.echo(f"{out}: {len(results)} station report(s); survey summary {written['survey pdf']}")
