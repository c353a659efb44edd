"""Draw the report of a folder of results (written by ``amt process`` or ``amt survey``): ``amt report DIR``.

Per station a PDF and PNG pages (time series with the sferics used and a spectrogram, apparent resistivity and
phase conventional beside compensated, phase-tensor ellipses coloured by skew, coherence and sferic counts), and a
survey summary (phase-tensor pseudosection, quality table as PNG, CSV and PDF).

Run ``python -m field_examples.make_report DIR`` (``--help`` for options).
"""

from __future__ import annotations

from pathlib import Path

import click

from amt.report.results import load_results
from amt.report.write import write_report


@click.command(epilog="Example:\n\n  python -m field_examples.make_report results/ --out results/report")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Report folder (default: DIRECTORY/report).")
def main(directory: Path, out: Path | None) -> None:
    """Draw the report of the station results in DIRECTORY."""
    written = write_report(load_results(directory), out or directory / "report")
    for name, path in written.items():
        if name.endswith("pdf"):
            print(f"{name:18s}: {path}")


if __name__ == "__main__":
    main()
