"""Apparent resistivity and phase of impedance elements and of the determinant.

``rho_a = 0.2 T |Z|^2`` (ohm-m, T in s, Z in mV/km/nT; Cagniard 1953) and ``phase = arg Z`` in degrees, unfolded:
for a 1-D earth phi_xy lies in (0, 90) and phi_yx in (-180, -90) (time dependence e^{+i omega t}). The determinant
impedance is ``Z_det = sqrt(Z_xx Z_yy - Z_xy Z_yx)`` (principal root; Ranganayaki 1984), which equals ``Z_xy`` of
a 1-D earth.
"""

from __future__ import annotations

import numpy as np

from amt.mt.propagation import propagate


def _period(frequency_hz: np.ndarray) -> np.ndarray:
    return 1.0 / np.asarray(frequency_hz, dtype=float)


def apparent_resistivity(
    z: np.ndarray, frequency_hz: np.ndarray, z_var: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Apparent resistivity (ohm-m) of every element, (n, 2, 2), and its standard error (or None)."""
    t = _period(frequency_hz)[:, None, None]
    rho = 0.2 * t * np.abs(z) ** 2
    if z_var is None:
        return rho, None
    # d rho / d|Z| = 0.4 T |Z|; sigma_|Z| = sqrt(var / 2)
    return rho, 0.4 * t * np.abs(z) * np.sqrt(z_var / 2)


def phase_deg(z: np.ndarray, z_var: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Phase (degrees, unfolded) of every element, (n, 2, 2), and its standard error (or None)."""
    ph = np.degrees(np.angle(z))
    if z_var is None:
        return ph, None
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.degrees(np.sqrt(z_var / 2) / np.abs(z))
    return ph, err


def determinant(
    z: np.ndarray, frequency_hz: np.ndarray, z_var: np.ndarray | None = None
) -> dict[str, np.ndarray | None]:
    """Determinant impedance, its apparent resistivity (ohm-m) and phase (degrees), with standard errors.

    Returns
    -------
    dict
        ``z_det`` (n,), ``rho``, ``rho_err``, ``phase``, ``phase_err`` (errors None without ``z_var``).
    """
    t = _period(frequency_hz)

    def z_det(zz: np.ndarray) -> np.ndarray:
        return np.sqrt(zz[:, 0, 0] * zz[:, 1, 1] - zz[:, 0, 1] * zz[:, 1, 0])

    def rho_phase(zz: np.ndarray) -> np.ndarray:
        d = z_det(zz)
        return np.stack([0.2 * t * np.abs(d) ** 2, np.degrees(np.angle(d))], axis=1)

    zd = z_det(z)
    if z_var is None:
        values = rho_phase(z)
        return {"z_det": zd, "rho": values[:, 0], "rho_err": None, "phase": values[:, 1], "phase_err": None}
    values, errors = propagate(rho_phase, z, z_var)
    return {
        "z_det": zd,
        "rho": values[:, 0],
        "rho_err": errors[:, 0],
        "phase": values[:, 1],
        "phase_err": errors[:, 1],
    }
