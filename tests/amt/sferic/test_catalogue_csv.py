"""The events CSV, formatted column by column, equals a row-by-row writer (obspy's strftime, ``format``)."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from obspy import UTCDateTime

from amt.sferic.catalogue import (
    CSV_COLUMNS,
    ISO_FORMAT,
    SfericEvent,
    SfericEventsError,
    SfericEventTable,
    read_events_csv,
    write_events_csv,
)


def _row_by_row(events: list[SfericEvent]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for e in events:
        writer.writerow(
            {
                "start": e.start.strftime(ISO_FORMAT),
                "end": e.end.strftime(ISO_FORMAT),
                "peak_time": e.peak_time.strftime(ISO_FORMAT),
                "probability": f"{e.probability:.4f}",
                "amplitude": f"{e.amplitude:.6g}",
                "azimuth": f"{e.azimuth:.2f}",
            }
        )
    return buf.getvalue()


@pytest.fixture
def events() -> list[SfericEvent]:
    rng = np.random.default_rng(1)
    starts = np.concatenate([1.7e9 + rng.uniform(0, 600, 300), 1.7e9 + np.arange(8) * 5e-7])  # and half-microseconds
    return [
        SfericEvent(UTCDateTime(t), UTCDateTime(t + 1e-3), UTCDateTime(t + 4e-4), float(p), float(a), float(z))
        for t, p, a, z in zip(
            starts, rng.uniform(0, 1, 308), rng.lognormal(0, 3, 308), rng.uniform(0, 180, 308), strict=True
        )
    ]


def test_events_and_their_table_write_what_a_row_by_row_writer_writes(events, tmp_path) -> None:
    assert write_events_csv(tmp_path / "list.csv", events).read_text() == _row_by_row(events)
    table = SfericEventTable.from_events(events, "test")
    as_table = [  # what the table holds: float POSIX times, no amplitude
        SfericEvent(UTCDateTime(a), UTCDateTime(b), UTCDateTime(c), float(q), float("nan"), float(z))
        for a, b, c, q, z in zip(
            table.start_s, table.end_s, table.peak_s, table.probability, table.azimuth_deg, strict=True
        )
    ]
    assert write_events_csv(tmp_path / "table.csv", table).read_text() == _row_by_row(as_table)
    back = read_events_csv(tmp_path / "list.csv")
    np.testing.assert_allclose(back.start_s, [e.start.timestamp for e in events], rtol=0, atol=1e-6)
    assert write_events_csv(tmp_path / "none.csv", []).read_text() == ",".join(CSV_COLUMNS) + "\n"
    bad = SfericEventTable(table.start_s.copy(), table.end_s, table.peak_s, table.probability, table.azimuth_deg)
    bad.start_s[3] = np.nan
    with pytest.raises(SfericEventsError, match="not finite"):
        write_events_csv(tmp_path / "bad.csv", bad)
    assert not (tmp_path / "bad.csv").exists()
