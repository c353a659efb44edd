"""Instrument calibration: responses, calibration tables, and their removal from records.

* :mod:`amt.calibration.instrument` -- sensor and receiver responses (poles/zeros, frequency tables, delays,
  cascades) and :func:`apply_response` / :func:`remove_response` on a signal;
* :mod:`amt.calibration.metronix` -- :func:`load_metronix_coil_table` reads a Metronix induction-coil
  calibration table (ATSS JSON or the classic text table) into V/nT frequency-table responses per chopper state;
* :mod:`amt.calibration.apply` -- :func:`calibrate` / :func:`calibrate_run` remove each channel's response from a
  :class:`~amt.record.Station` or run, giving E in mV/km and H in nT.
"""

from amt.calibration.apply import calibrate, calibrate_run
from amt.calibration.instrument import (
    CalibrationError,
    CascadeResponse,
    DelayResponse,
    FrequencyTableResponse,
    PoleZeroResponse,
    Response,
    apply_response,
    remove_response,
)
from amt.calibration.metronix import load_metronix_coil_table

__all__ = [
    "CalibrationError",
    "CascadeResponse",
    "DelayResponse",
    "FrequencyTableResponse",
    "PoleZeroResponse",
    "Response",
    "apply_response",
    "calibrate",
    "calibrate_run",
    "load_metronix_coil_table",
    "remove_response",
]
