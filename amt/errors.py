"""The base of every error :mod:`amt` raises on bad input or state."""

from shared.errors import DomainError


class AmtError(DomainError):
    """Bad or unusable AMT input or state: a record, a calibration, a transfer function, a setting.

    Subclasses say where the problem lies (:class:`amt.record.RecordError`,
    :class:`amt.calibration.CalibrationError`, ...); the message names the file and the problem.
    """
