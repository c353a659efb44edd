"""The transfer function of one station: impedance, tipper, their variances and per-frequency diagnostics.

Conventions (those of :mod:`amt.record`): x = north, y = east, z = down; time dependence e^{+i omega t};
``E = Z H`` with ``Z`` in mV/km/nT; ``Hz = T H`` (dimensionless). Variances are those of the complex values,
``E|Z - Z_true|^2`` (each real or imaginary part carries half). Frequencies are held in descending order (short
periods first, the EDI habit); readers accept either order and sort (stably: a frequency estimated at two
decimation levels, as in EMTF Z-files, may appear twice).

A frequency that could not be estimated (no data, an ill-conditioned H cross-power, all windows rejected) is NaN
here and named in ``flags``; writers never put NaN into a file but write the EDI empty value 1.0E32 instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from amt.errors import AmtError


class TransferFunctionError(AmtError):
    """A transfer function is inconsistent or cannot be converted; the message names it and the problem."""


@dataclass
class TransferFunction:
    """Impedance and tipper of one station.

    Attributes
    ----------
    station
        Station id.
    frequency_hz
        ``(n,)`` frequencies in Hz, descending.
    z, z_var
        ``(n, 2, 2)`` impedance (mV/km/nT) and its variance ((mV/km/nT)^2); NaN where missing.
    tipper, tipper_var
        ``(n, 1, 2)`` tipper and variance, or None.
    latitude_deg, longitude_deg, elevation_m, declination_deg
        Location (WGS84) and magnetic declination.
    zrot_deg
        Angle (degrees clockwise from north) by which the frame has been rotated (EDI ZROT).
    flags
        ``(n,)`` strings: empty when the frequency is good, else why it is missing or doubtful.
    diagnostics
        Per-frequency arrays from the estimator (coherence, condition number, window count, ...).
    inverse_signal_power, residual_covariance
        EMTF Z-file error terms, ``(n, 2, 2)`` over (hx, hy) and ``(n, 3, 3)`` over (ex, ey, hz), kept when read
        from a Z-file (``var Z_ij = R_ii S_jj``); None otherwise.
    """

    station: str
    frequency_hz: np.ndarray
    z: np.ndarray
    z_var: np.ndarray
    tipper: np.ndarray | None = None
    tipper_var: np.ndarray | None = None
    latitude_deg: float = 0.0
    longitude_deg: float = 0.0
    elevation_m: float = 0.0
    declination_deg: float = 0.0
    zrot_deg: float = 0.0
    flags: np.ndarray = field(default=None)  # type: ignore[assignment]
    diagnostics: dict[str, np.ndarray] = field(default_factory=dict)
    inverse_signal_power: np.ndarray | None = None
    residual_covariance: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.frequency_hz = np.asarray(self.frequency_hz, dtype=float)
        n = len(self.frequency_hz)
        self.z = np.asarray(self.z, dtype=complex).reshape(n, 2, 2)
        self.z_var = np.asarray(self.z_var, dtype=float).reshape(n, 2, 2)
        if self.tipper is not None:
            self.tipper = np.asarray(self.tipper, dtype=complex).reshape(n, 1, 2)
            tv = np.full((n, 1, 2), np.nan) if self.tipper_var is None else self.tipper_var
            self.tipper_var = np.asarray(tv, dtype=float).reshape(n, 1, 2)
        if self.flags is None:
            self.flags = np.array([""] * n, dtype=object)
        self.flags = np.asarray(self.flags, dtype=object)
        if np.any(~np.isfinite(self.frequency_hz)) or np.any(self.frequency_hz <= 0):
            raise TransferFunctionError(f"{self.station}: frequencies must be finite and positive")
        if np.any(np.diff(self.frequency_hz) > 0):
            self._sort_descending()

    def _sort_descending(self) -> None:
        order = np.argsort(-self.frequency_hz, kind="stable")
        self.frequency_hz = self.frequency_hz[order]
        self.z, self.z_var, self.flags = self.z[order], self.z_var[order], self.flags[order]
        if self.tipper is not None:
            self.tipper, self.tipper_var = self.tipper[order], self.tipper_var[order]
        self.diagnostics = {k: np.asarray(v)[order] for k, v in self.diagnostics.items()}
        if self.inverse_signal_power is not None:
            self.inverse_signal_power = self.inverse_signal_power[order]
        if self.residual_covariance is not None:
            self.residual_covariance = self.residual_covariance[order]

    @property
    def period_s(self) -> np.ndarray:
        """Periods in s."""
        return 1.0 / self.frequency_hz

    @property
    def n_frequencies(self) -> int:
        return len(self.frequency_hz)

    def rotated(self, angle_deg: float) -> TransferFunction:
        """The transfer function in a frame rotated by ``angle_deg`` clockwise (x towards y); ZROT adds up.

        ``Z' = R Z R^T`` and ``T' = T R^T`` with ``R = [[c, s], [-s, c]]``; variances are propagated for
        independent components (Eisel & Egbert 2001 discuss the full covariance this ignores).
        """
        t = np.radians(angle_deg)
        c, s = np.cos(t), np.sin(t)
        rot = np.array([[c, s], [-s, c]])
        z = rot @ self.z @ rot.T
        r2 = rot**2
        z_var = r2 @ self.z_var @ r2.T
        tip = tip_var = None
        if self.tipper is not None:
            tip = self.tipper @ rot.T
            tip_var = self.tipper_var @ r2.T
        return replace(self, z=z, z_var=z_var, tipper=tip, tipper_var=tip_var, zrot_deg=self.zrot_deg + angle_deg)
