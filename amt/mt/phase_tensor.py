"""The magnetotelluric phase tensor ``Phi = X^-1 Y`` (``Z = X + iY``) and its parameters.

With ``Pi_1 = sqrt((Phi11 - Phi22)^2 + (Phi12 + Phi21)^2) / 2`` and
``Pi_2 = sqrt((Phi11 + Phi22)^2 + (Phi12 - Phi21)^2) / 2``:
``phi_max = arctan(Pi_2 + Pi_1)``, ``phi_min = arctan(Pi_2 - Pi_1)`` (degrees),
``alpha = arctan2(Phi12 + Phi21, Phi11 - Phi22) / 2``, ``beta = arctan2(Phi12 - Phi21, Phi11 + Phi22) / 2``
(the skew angle), ellipticity ``(phi_max - phi_min) / (phi_max + phi_min)`` and azimuth ``alpha - beta`` (degrees,
wrapped to [0, 360), as mtpy reports it). Phase-tensor quantities are immune to galvanic distortion.

Reference: Caldwell, T. G., Bibby, H. M. and Brown, C. (2004), The magnetotelluric phase tensor, Geophys. J. Int.
158, 457-469.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from amt.mt.propagation import propagate

_NAMES = ("phi_max", "phi_min", "alpha", "beta", "ellipticity", "azimuth")


@dataclass
class PhaseTensor:
    """Phase tensor and its parameters per frequency; ``*_err`` are standard errors (None without variances).

    Angles in degrees; ``phi`` is the (n, 2, 2) tensor; ``beta`` is the skew angle.
    """

    phi: np.ndarray
    phi_max: np.ndarray
    phi_min: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    ellipticity: np.ndarray
    azimuth: np.ndarray
    errors: dict[str, np.ndarray] | None = None


def _tensor(z: np.ndarray) -> np.ndarray:
    return np.linalg.solve(z.real, z.imag)


def _parameters(z: np.ndarray) -> np.ndarray:
    phi = _tensor(z)
    p11, p12, p21, p22 = phi[:, 0, 0], phi[:, 0, 1], phi[:, 1, 0], phi[:, 1, 1]
    pi1 = 0.5 * np.sqrt((p11 - p22) ** 2 + (p12 + p21) ** 2)
    pi2 = 0.5 * np.sqrt((p11 + p22) ** 2 + (p12 - p21) ** 2)
    phi_max = np.degrees(np.arctan(pi2 + pi1))
    phi_min = np.degrees(np.arctan(pi2 - pi1))
    alpha = np.degrees(0.5 * np.arctan2(p12 + p21, p11 - p22))
    beta = np.degrees(0.5 * np.arctan2(p12 - p21, p11 + p22))
    ellipticity = (phi_max - phi_min) / (phi_max + phi_min)
    azimuth = np.mod(alpha - beta, 360.0)
    return np.stack([phi_max, phi_min, alpha, beta, ellipticity, azimuth], axis=1)


def phase_tensor(z: np.ndarray, z_var: np.ndarray | None = None) -> PhaseTensor:
    """Phase tensor of ``z`` (n, 2, 2) with parameters and, given ``z_var``, propagated standard errors.

    Frequencies whose real part ``X`` is singular (or missing) give NaN.
    """
    z = np.asarray(z, dtype=complex)
    good = np.all(np.isfinite(z), axis=(1, 2))
    good[good] = np.abs(np.linalg.det(z[good].real)) > 0
    n = len(z)
    phi = np.full((n, 2, 2), np.nan)
    values = np.full((n, len(_NAMES)), np.nan)
    errors = None
    if good.any():
        phi[good] = _tensor(z[good])
        if z_var is None:
            values[good] = _parameters(z[good])
        else:
            v, e = propagate(_parameters, z[good], np.nan_to_num(np.asarray(z_var)[good]))
            values[good] = v
            err = np.full((n, len(_NAMES)), np.nan)
            err[good] = e
            errors = {name: err[:, k] for k, name in enumerate(_NAMES)}
    return PhaseTensor(phi, *(values[:, k] for k in range(len(_NAMES))), errors=errors)
