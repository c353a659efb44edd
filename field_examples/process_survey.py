"""Process a survey: every record a task on a local Dask cluster, then the survey report.

Each station is processed as ``amt process`` would, on a local cluster of worker processes (``--workers``; 0 runs
them in turn); a failing station is reported and retried once while the others go on, and a rerun skips the
stations whose records and settings are unchanged. The report holds every station's pages and the survey summary
(phase-tensor pseudosection, quality table). This is ``amt survey RECORDS... --out DIR --report``.

Run ``python -m field_examples.process_survey RECORD... --out DIR`` (``--help`` for options).
"""

from __future__ import annotations

from pathlib import Path

import click

from amt.pipeline import MODES
from amt.report.results import load_results
from amt.report.write import write_report
from amt.survey.run import run_survey
from amt.survey.station import SurveySettings


@click.command(epilog="Example:\n\n  python -m field_examples.process_survey day1/*.h5 --out survey/ --workers 2")
@click.argument("records", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Survey folder.")
@click.option("--workers", type=click.IntRange(min=0), default=2, show_default=True,
              help="Local Dask worker processes (0: in turn).")
@click.option("--mode", type=click.Choice(MODES), default="compensated", show_default=True,
              help="As amt process --mode.")
def main(records: tuple[Path, ...], out: Path, workers: int, mode: str) -> None:
    """Process RECORDS into a survey folder and draw the survey report."""
    result = run_survey(records, out, SurveySettings(mode=mode), workers=workers)
    for record, message in result.failed.items():
        print(f"failed: {record}: {message}")
    print(f"{len(result.done)} processed, {len(result.skipped)} up to date, {len(result.failed)} failed")
    written = write_report(load_results(out), out / "report")
    print(f"survey report: {written['survey pdf']}")


if __name__ == "__main__":
    main()
