"""Process one station as a field geophysicist would after a survey day, through the library API.

Read the record, estimate the conventional and the sferic-compensated transfer functions, write the EDIs and the
per-frequency JSON (what ``amt process RECORD --out DIR --mode both --report`` writes), and draw the station
report (time series and spectrogram, apparent resistivity and phase, phase tensor, coherence; PDF and PNGs).

Run ``python -m field_examples.process_station RECORD --out DIR`` (``--help`` for options).
"""

from __future__ import annotations

from pathlib import Path

import click

from amt.pipeline import MODES
from amt.pipeline.process import process_record, summary, write_outputs
from amt.report.results import from_process
from amt.report.write import write_station_report


@click.command(epilog="Example:\n\n  python -m field_examples.process_station site01.h5 --out results/")
@click.argument("record", type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output folder.")
@click.option("--mode", type=click.Choice(MODES), default="both", show_default=True, help="As amt process --mode.")
def main(record: Path, out: Path, mode: str) -> None:
    """Estimate the transfer function of RECORD, write EDI + JSON, and draw its report."""
    result = process_record(record, mode=mode)
    for note in result.notes:
        print(note)
    written = write_outputs(result, out)
    pages = write_station_report(from_process(result, summary(result.transfer_function)), out / "report")
    for name, path in {**written, "report": pages["pdf"]}.items():
        print(f"{name:18s}: {path}")


if __name__ == "__main__":
    main()
