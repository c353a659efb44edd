"""Conversion between :class:`~amt.mt.TransferFunction` and mt_metadata's ``TF`` (mt_metadata 1.0.12).

mt_metadata holds errors as standard deviations (``impedance_error = sqrt(ZVAR)``) and marks a missing element as
0, which its EDI writer writes as the EDI empty value 1.0E32 and its reader turns back into 0. Here a missing element
is NaN: :func:`to_mt_tf` maps NaN to 0 (so it reaches the file as 1.0E32, never as NaN) and :func:`from_mt_tf` maps
an element whose value is exactly 0, or 1.0E32 or larger (mt_metadata's XML writer writes the empty value as
such), back to NaN. The rotation angle is EDI's ZROT (mt_metadata's
``_rotation_angle``, per frequency; our object holds one angle).
"""

from __future__ import annotations

import numpy as np
from mt_metadata.transfer_functions.core import TF

from amt.mt.transfer_function import TransferFunction, TransferFunctionError
from amt.record import NOMINAL_AZIMUTH_DEG


def _missing_to_zero(x: np.ndarray | None) -> np.ndarray | None:
    return None if x is None else np.where(np.isfinite(x), x, 0)


def zfile_error_terms(tf: TransferFunction) -> tuple[np.ndarray, np.ndarray]:
    """EMTF Z-file error terms ``(S, R)`` with ``var Z_ij = R_ii S_jj`` (and ``var T_j = R_zz S_jj``).

    Terms read from a Z-file are returned as they are. Otherwise the variance matrix is factorised as its nearest
    product form, ``S_jj = column sum`` and ``R_ii = row sum / total`` (exact when the variances are of that form,
    as least-squares variances are; approximate for jackknife variances). Missing variances give 0 (empty).
    """
    if tf.inverse_signal_power is not None and tf.residual_covariance is not None:
        return tf.inverse_signal_power, tf.residual_covariance
    n = tf.n_frequencies
    v = np.nan_to_num(tf.z_var)
    col = v.sum(axis=1)  # (n, 2) over inputs
    total = col.sum(axis=1)
    safe = np.where(total > 0, total, 1.0)
    sip = np.zeros((n, 2, 2), complex)
    sip[:, 0, 0], sip[:, 1, 1] = col[:, 0], col[:, 1]
    res = np.zeros((n, 3, 3), complex)
    res[:, 0, 0] = v[:, 0, :].sum(axis=1) / safe
    res[:, 1, 1] = v[:, 1, :].sum(axis=1) / safe
    if tf.tipper_var is not None:
        tv = np.nan_to_num(tf.tipper_var[:, 0, :])
        denom = np.where(col > 0, col, np.inf)
        res[:, 2, 2] = np.mean(tv / denom, axis=1)
    return sip, res


def to_mt_tf(tf: TransferFunction, zfile_terms: bool = False) -> TF:
    """An mt_metadata ``TF`` holding ``tf`` (NaN elements as mt_metadata's empty 0, errors as sqrt(var)).

    ``zfile_terms`` adds EMTF's error terms (:func:`zfile_error_terms`), which Z-files need; they are left out
    otherwise because mt_metadata's EDI writer would recompute errors from them.
    """
    out = TF()
    out.station = tf.station
    out.latitude = tf.latitude_deg
    out.longitude = tf.longitude_deg
    out.elevation = tf.elevation_m
    out.station_metadata.location.declination.value = tf.declination_deg
    out.period = tf.period_s
    out.impedance = _missing_to_zero(tf.z)
    out.impedance_error = _missing_to_zero(np.sqrt(tf.z_var))
    if tf.tipper is not None and np.any(np.isfinite(tf.tipper)):
        out.tipper = _missing_to_zero(tf.tipper)
        out.tipper_error = _missing_to_zero(np.sqrt(tf.tipper_var))
    out._rotation_angle = np.full(tf.n_frequencies, float(tf.zrot_deg))
    for name, azimuth in NOMINAL_AZIMUTH_DEG.items():  # this package's frame, for files that record the layout
        ch = out.run_metadata.get_channel(name)
        if ch is not None:
            ch.measurement_azimuth = azimuth + tf.zrot_deg * (name != "hz")
    if zfile_terms:
        sip, res = zfile_error_terms(tf)
        out.inverse_signal_power = sip
        out.residual_covariance = res
    return out


#: Magnitude at or above which a value is an empty marker (EDI's 1.0E32, also written by mt_metadata's XML writer).
EMPTY_THRESHOLD = 1e31


def _is_missing(x: np.ndarray) -> np.ndarray:
    return (x == 0) | ~np.isfinite(x) | (np.abs(x.real) >= EMPTY_THRESHOLD) | (np.abs(x.imag) >= EMPTY_THRESHOLD)


def _values(arr: object) -> np.ndarray | None:
    return None if arr is None else np.asarray(getattr(arr, "values", arr))


def from_mt_tf(mt: TF, source: str = "") -> TransferFunction:
    """A :class:`TransferFunction` from an mt_metadata ``TF`` (exact zeros become NaN, errors become variances).

    Raises
    ------
    TransferFunctionError
        If the TF holds no impedance (e.g. a tipper-only file) or no periods.
    """
    where = source or str(mt.station)
    period = np.asarray(mt.period, dtype=float)
    if period.size == 0:
        raise TransferFunctionError(f"{where}: no periods")
    z = _values(mt.impedance) if mt.has_impedance() else None
    if z is None:
        raise TransferFunctionError(f"{where}: holds no impedance (Ex, Ey on Hx, Hy)")
    z = z.astype(complex)
    z_err = _values(mt.impedance_error)
    z_var = np.full(z.shape, np.nan) if z_err is None else np.asarray(z_err, float) ** 2
    missing = _is_missing(z)
    z[missing] = np.nan
    z_var[missing | _is_missing(z_var)] = np.nan
    tip = tip_var = None
    if mt.has_tipper():
        tip = _values(mt.tipper).astype(complex)
        t_err = _values(mt.tipper_error)
        tip_var = np.full(tip.shape, np.nan) if t_err is None else np.asarray(t_err, float) ** 2
        t_missing = _is_missing(tip)
        tip[t_missing] = np.nan
        tip_var[t_missing | _is_missing(tip_var)] = np.nan
    rot = np.atleast_1d(np.asarray(getattr(mt, "_rotation_angle", 0.0), dtype=float))
    zrot = float(np.nanmean(rot)) if rot.size and np.any(np.isfinite(rot)) else 0.0
    declination = mt.station_metadata.location.declination.value
    sip = _values(mt.inverse_signal_power) if mt.has_inverse_signal_power() else None
    res = _values(mt.residual_covariance) if mt.has_residual_covariance() else None
    return TransferFunction(
        station=str(mt.station),
        frequency_hz=1.0 / period,
        z=z,
        z_var=z_var,
        tipper=tip,
        tipper_var=tip_var,
        latitude_deg=float(mt.latitude or 0.0),
        longitude_deg=float(mt.longitude or 0.0),
        elevation_m=float(mt.elevation or 0.0),
        declination_deg=float(declination or 0.0),
        zrot_deg=zrot,
        inverse_signal_power=sip,
        residual_covariance=res,
    )
