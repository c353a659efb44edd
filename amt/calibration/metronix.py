"""Metronix induction-coil calibration tables (MFS-06e, MFS-07e, SHFT-02e) as responses.

Two carriers of the same table are read:

* the ``sensor_calibration`` block of an ATSS channel's JSON metadata (``f``, ``a``, ``p``,
  ``units_amplitude``, ``units_phase``, ``chopper``, ``sensor``, ``serial``), as ``mt_io.metronix`` reads it;
* the classic text table: header lines, then one ``frequency amplitude phase`` row per line, in a section
  per chopper state (``Chopper On`` / ``Chopper Off``).

Amplitudes in ``mV/nT`` or ``V/nT`` are converted to V/nT; amplitudes normalised by frequency
(``V/(nT*Hz)``, ``mV/nT/Hz``; the classic Metronix text tables) are multiplied by f first. Phases in
degrees (or radians, if the JSON says so). The result is a
:class:`~amt.calibration.instrument.FrequencyTableResponse` in V per nT, per chopper state.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from amt.calibration.instrument import CalibrationError, FrequencyTableResponse
from amt.record import RecordError

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_ROW = re.compile(rf"^\s*({_NUM})\s+({_NUM})\s+({_NUM})\s*$")


def _to_v_per_nt(f: np.ndarray, a: np.ndarray, units: str) -> np.ndarray:
    u = units.replace(" ", "").lower()
    per_hz = "hz" in u
    scale = 1e-3 if u.startswith("mv") else 1.0
    return a * scale * (f if per_hz else 1.0)


def _table(f: Any, a: Any, p: Any, units_amplitude: str, phase_unit: str, name: str) -> FrequencyTableResponse:
    """A V/nT frequency table from columns of frequency (Hz), amplitude (``units_amplitude``) and phase."""
    try:
        f, a, p = (np.asarray(v, dtype=float) for v in (f, a, p))
    except (TypeError, ValueError) as exc:  # numpy on a column holding text, objects or ragged rows
        raise RecordError(f"{name}: calibration columns are not numbers ({exc})") from exc
    if f.ndim != 1 or not (len(f) == len(a) == len(p)) or len(f) < 2:
        raise RecordError(f"{name}: calibration table needs >= 2 rows of frequency, amplitude, phase")
    order = np.argsort(f)
    f, a, p = f[order], a[order], p[order]
    if phase_unit.lower().startswith("rad"):
        p = np.degrees(p)
    try:
        return FrequencyTableResponse(tuple(f), tuple(_to_v_per_nt(f, a, units_amplitude)), tuple(p), name=name)
    except CalibrationError as exc:
        raise RecordError(f"{name}: {exc}") from exc


def _json_table(text: str, path: Path) -> dict[str, FrequencyTableResponse]:
    """The table of an ATSS channel's JSON metadata (or of a bare ``sensor_calibration`` object)."""
    where = f"{path}: not a Metronix sensor_calibration JSON"
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise RecordError(f"{where} ({exc})") from exc
    cal = obj.get("sensor_calibration", obj) if isinstance(obj, dict) else None
    if not isinstance(cal, dict):
        raise RecordError(f"{where} (no calibration object)")
    missing = [k for k in ("f", "a", "p") if not isinstance(cal.get(k), list)]
    if missing:
        raise RecordError(f"{where} (no {', '.join(missing)} array)")
    chopper = cal.get("chopper", 1)
    try:
        on = int(chopper) if isinstance(chopper, (int, float, str)) else None
    except (ValueError, OverflowError):  # "on", NaN, infinity
        on = None
    if on is None:
        raise RecordError(f"{where} (chopper {chopper!r:.40} is not a number)")
    state = "chopper_on" if on else "chopper_off"
    name = f"{cal.get('sensor', 'coil')} {cal.get('serial', '')} {state}".strip()
    units = (str(cal.get("units_amplitude", "mV/nT")), str(cal.get("units_phase", "degrees")))
    return {state: _table(cal["f"], cal["a"], cal["p"], *units, name)}


def load_metronix_coil_table(path: str | Path, units_amplitude: str = "V/(nT*Hz)") -> dict[str, FrequencyTableResponse]:
    """Read a Metronix coil calibration; returns ``{"chopper_on": ..., "chopper_off": ...}`` (those present).

    ``units_amplitude`` applies to text tables, which do not state it (Metronix writes V/(nT*Hz)); JSON
    metadata states its own.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise RecordError(f"{path}: unreadable ({exc})") from exc
    if text.lstrip().startswith("{"):
        return _json_table(text, path)
    sections: dict[str, list[tuple[float, float, float]]] = {}
    current = "chopper_on"
    for line in text.splitlines():
        low = line.lower()
        if "chopper" in low:
            current = "chopper_off" if "off" in low else "chopper_on"
            continue
        m = _ROW.match(line)
        if m:
            sections.setdefault(current, []).append(tuple(float(v) for v in m.groups()))
    if not sections:
        raise RecordError(f"{path}: no 'frequency amplitude phase' rows found")
    return {
        k: _table(
            [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], units_amplitude, "deg", f"{path.stem} {k}"
        )
        for k, rows in sections.items()
    }
