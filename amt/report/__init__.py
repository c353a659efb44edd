"""Reports of processed stations and surveys: PNG pages and a PDF per station, and a survey summary.

:mod:`amt.report.results` gathers what a report draws (from a fresh estimate or from the files ``amt process``
wrote), :mod:`amt.report.figures` draws a station's pages, :mod:`amt.report.survey` the survey summary
(phase-tensor pseudosection, quality table), :mod:`amt.report.write` writes them; ``amt report`` is
:mod:`amt.report.cli`. Matplotlib is imported only by the figure modules, not by this package.
"""
