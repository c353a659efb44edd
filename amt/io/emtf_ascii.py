"""Reader for EMTF's plain ASCII time-series test format (e.g. ``test1.asc``).

The file holds one row per sample and five whitespace-separated columns in the order
``hx, hy, hz, ex, ey`` (nT and mV/km), sampled at 1 Hz, with no header: sample rate and start time are
not in the file. The start time defaults to 1980-01-01T00:00:00 UTC (EMTF's own test epoch is not
recorded either) and both can be given. Egbert's EMTF synthetic records are in measurement coordinates
(x north, y east), which are ours, but their E sign is opposite to ours: processed as written, the
100 ohm-m half-space of ``test1.asc`` gives phi_xy near -135 deg (as EMTF itself reports in ``test1.zss``),
whereas our convention (e^{+i omega t}, E = Z H) puts a 1-D earth's phi_xy in (0, 90) deg. The reader
therefore negates Ex and Ey by default (``negate_electric=True``) and records that in each E channel's
``extra["sign_converted"]``; the conversion is tested against the half-space truth.

Reference: Egbert, G. D. (1997), Robust multiple-station magnetotelluric data processing,
Geophys. J. Int. 130, 475-496 (EMTF).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from obspy import UTCDateTime

from amt.record import ChannelMeta, RecordError, Station, StationRun

#: Column order of the EMTF ASCII test files.
COLUMNS: tuple[str, ...] = ("hx", "hy", "hz", "ex", "ey")


def read_emtf_ascii(
    path: str | Path,
    sample_rate_hz: float = 1.0,
    start: UTCDateTime | str = "1980-01-01T00:00:00",
    station: str | None = None,
    negate_electric: bool = True,
) -> Station:
    """Read an EMTF ASCII five-column record.

    Parameters
    ----------
    path
        File with rows ``hx hy hz ex ey`` (nT, nT, nT, mV/km, mV/km).
    sample_rate_hz
        Sampling rate in Hz (the file does not hold it; EMTF's test files are 1 Hz).
    start
        UTC time of the first sample.
    station
        Station id; defaults to the file stem.
    negate_electric
        Convert EMTF's synthetic E sign to ours (see the module docstring); ``False`` keeps the file's values.

    Returns
    -------
    Station
        One run with channels ex, ey, hx, hy, hz in physical units.

    Raises
    ------
    RecordError
        If the file is missing, empty, has a row with a number of columns other than five, or holds
        text that is not a number (the message names the file and line).
    """
    path = Path(path)
    if not path.is_file():
        raise RecordError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise RecordError(f"{path}: unreadable ({exc})") from exc
    rows: list[list[float]] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(COLUMNS):
            raise RecordError(f"{path}: line {lineno} has {len(parts)} columns; EMTF ASCII needs 5 (hx hy hz ex ey)")
        try:
            rows.append([float(p) for p in parts])
        except ValueError as exc:
            raise RecordError(f"{path}: line {lineno} is not numeric: {line.strip()[:60]!r}") from exc
    if not rows:
        raise RecordError(f"{path}: file holds no samples")
    table = np.asarray(rows, dtype=np.float64)
    name = station or path.stem
    data = {c: table[:, i] for i, c in enumerate(COLUMNS)}
    if negate_electric:
        data["ex"], data["ey"] = -data["ex"], -data["ey"]
    meta = {
        c: ChannelMeta.nominal(
            c,
            "nT" if c.startswith("h") else "mV/km",
            extra={"sign_converted": bool(negate_electric)} if c.startswith("e") else {},
        )
        for c in COLUMNS
    }
    run = StationRun(
        station=name,
        run="001",
        sample_rate_hz=float(sample_rate_hz),
        start=UTCDateTime(start),
        data=data,
        meta=meta,
        source=str(path),
    )
    bad = {c: int(np.count_nonzero(~np.isfinite(x))) for c, x in data.items()}
    if any(bad.values()):
        raise RecordError(f"{path}: non-finite values per channel {bad}")
    return Station(station=name, runs=[run], source=str(path))
