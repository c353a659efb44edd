"""Report writers: each page as a PNG and all of a station's (or the survey's) pages as one PDF.

Files go under ``DIR/report/``: ``<station>_<page>.png`` and ``<station>.pdf`` per station (pages
:data:`STATION_PAGES`), ``survey_pseudosection.png``, ``survey_quality.png``, ``survey_quality.csv`` and
``survey.pdf`` for the survey. Every file is written atomically (:func:`shared.atomic.atomic_paths`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm.auto import tqdm

from amt.report.results import StationResults
from shared.atomic import atomic_paths, write_bytes_atomic

#: Pages of a station report, in PDF order (each drawn by ``amt.report.figures.<page>_figure``).
STATION_PAGES = ("time_series", "rho_phase", "phase_tensor", "coherence")
#: Resolution of the PNGs, dots per inch.
DPI = 110


def _save(figures: list[tuple[str, object]], pdf: Path, out: Path, stem: str) -> dict[str, Path]:
    """Write each ``(name, figure)`` as ``out/<stem>_<name>.png`` and all of them as pages of ``pdf``."""
    from matplotlib.backends.backend_pdf import PdfPages

    targets = {name: out / f"{stem}_{name}.png" for name, _ in figures}
    targets["pdf"] = pdf
    with atomic_paths(*targets.values()) as tmp:
        paths = dict(zip(targets, tmp, strict=True))
        with PdfPages(paths["pdf"]) as doc:
            for name, fig in figures:
                fig.savefig(paths[name], format="png", dpi=DPI)
                fig.set_layout_engine("none")  # the PDF page keeps the layout just computed (half the drawing time)
                doc.savefig(fig)
    return targets


def write_station_report(res: StationResults, out_dir: str | Path) -> dict[str, Path]:
    """Write one station's report pages (PNGs and a PDF) under ``out_dir``.

    Returns
    -------
    dict
        Page name (and ``"pdf"``) -> path written. The time-series page is left out when the record is not
        available.
    """
    from amt.report import figures

    out = Path(out_dir)
    pages: list[tuple[str, object]] = []
    for name in STATION_PAGES:
        make: Callable = getattr(figures, f"{name}_figure")
        fig = make(res)
        if fig is not None:
            pages.append((name, fig))
    return _save(pages, out / f"{res.station}.pdf", out, res.station)


def write_survey_report(results: Sequence[StationResults], out_dir: str | Path) -> dict[str, Path]:
    """Write the survey summary (pseudosection, quality table as PNG and CSV, one PDF) under ``out_dir``."""
    from amt.report.survey import pseudosection_figure, quality_csv, quality_figure, quality_row

    out = Path(out_dir)
    rows = [quality_row(r) for r in results]
    pages = [("pseudosection", pseudosection_figure(results)), ("quality", quality_figure(rows))]
    written = _save(pages, out / "survey.pdf", out, "survey")
    written["quality csv"] = write_bytes_atomic(out / "survey_quality.csv", quality_csv(rows).encode())
    return written


def write_report(results: Sequence[StationResults], out_dir: str | Path, progress: bool = False) -> dict[str, Path]:
    """Every station's report and the survey summary under ``out_dir``; returns ``"<station> <page>"`` -> path.

    ``progress`` shows a bar over the stations on stderr (where stderr is a terminal).
    """
    written: dict[str, Path] = {}
    for res in tqdm(results, desc="amt report", unit="station", disable=None if progress else True):
        written.update({f"{res.station} {k}": v for k, v in write_station_report(res, out_dir).items()})
    written.update({f"survey {k}": v for k, v in write_survey_report(results, out_dir).items()})
    return written
