"""Detection of a run read in parts equals the whole-segment pass (docs/acceptance.md#field-processing-at-survey-scale).

The second implementation is :meth:`amt.sferic.inference.SfericDetector.detect_run`, which holds each good segment
whole; the record has sferics, a gap in every channel and a NaN in hx (three segments), and the parts are smaller
than a CNN window, so events, windows and batches all cross part edges.
"""

from __future__ import annotations

import numpy as np
import pytest

import amt.io
from amt.io.chunked import ChunkedRun
from amt.record import StationRun
from amt.sferic.chunked import _highpassed, _robust_scale, detect_chunked
from amt.sferic.inference import SfericDetector
from amt.sferic.preprocess import highpass, robust_scale
from tests.amt.survey.records import write_records

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> StationRun:
    path = write_records(tmp_path_factory.mktemp("detect"), 1, duration_s=2.0)[0]
    run = amt.io.read(path).runs[0]
    data = {c: x.copy() for c, x in run.data.items()}
    for x in data.values():
        x[20_000:20_600] = np.nan
    data["hx"][31_001] = np.nan
    return StationRun(run.station, run.run, run.sample_rate_hz, run.start, data, run.meta, [], run.source)


def _table(events) -> list[tuple]:
    return [(e.start, e.end, e.peak_time, e.probability, e.amplitude, e.azimuth) for e in events]


def test_highpass_and_scale_in_parts_equal_the_whole_segment(run) -> None:
    h = np.vstack([run.data[c][:19_000] for c in ("hx", "hy")])
    whole = highpass(h, run.sample_rate_hz)
    for chunk in (7, 777, 19_000):
        parts = lambda chunk=chunk: _highpassed(lambda lo, hi: h[:, lo:hi], h.shape[1], run.sample_rate_hz, chunk)  # noqa: E731
        np.testing.assert_array_equal(np.concatenate(list(parts()), axis=1), whole)
        for n in (19_000, 18_999):  # an even and an odd count: the median of two middle values, and of one
            sub = lambda n=n, chunk=chunk: _highpassed(lambda lo, hi: h[:, lo:hi], n, run.sample_rate_hz, chunk)  # noqa: E731
            assert _robust_scale(sub, n) == robust_scale(highpass(h[:, :n], run.sample_rate_hz))


@pytest.mark.parametrize("window", [4096, 32768], ids=["small CNN windows (many batches)", "shipped windows"])
def test_events_read_in_parts_equal_the_whole_segment_pass(run, window) -> None:
    detector = SfericDetector.from_checkpoint(window=window, margin=512)
    whole = _table(detector.detect_run(run).events)
    assert len(whole) >= 5
    for chunk in (1000, 4999):
        assert _table(detect_chunked(detector, ChunkedRun.of(run, chunk))) == whole
