"""Sensor and receiver responses: poles/zeros, frequency tables, delays; apply and remove."""

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

__all__ = [
    "CalibrationError",
    "CascadeResponse",
    "DelayResponse",
    "FrequencyTableResponse",
    "PoleZeroResponse",
    "Response",
    "apply_response",
    "remove_response",
]
