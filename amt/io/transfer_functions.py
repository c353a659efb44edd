"""Reading and writing transfer-function files through mt_metadata: EDI, EMTF XML and EMTF Z-files.

``write_transfer_function`` picks the format from the suffix (``.edi``, ``.xml``, ``.zmm``, ``.zrr``, ``.zss``),
writes through mt_metadata into a temporary file beside the target (:func:`shared.atomic.atomic_path`; missing
folders are created) and renames it over the target, so a failure leaves no half-written file. Frequencies are
written in the object's order, descending (short periods first); ``read_transfer_function`` accepts either order and
returns descending frequencies. Missing elements (NaN, e.g. flagged frequencies) are written as the EDI empty value
1.0E32, never as NaN. That is what mt_metadata and mtpy-v2 treat as missing: mt_metadata's EDI reader turns the
empty value (and anything it cannot parse, so NaN would be no better) into 0, the value its own writer writes as
empty, and mtpy-v2's response plots leave zero values out, so a flagged frequency shows as a gap there (checked in
``tests/amt/deadband/test_decided_by_data.py``); this package's reader turns it back into NaN. The EDI variance
block (``ZXY.VAR``) carries ``z_var``, which the estimator fills with the jackknife variance. EMTF XML and Z-files
need variances (mt_metadata 1.0.12 cannot read back an XML file it wrote without them); a transfer function without
any is refused for those formats. Z-files have no empty value: only frequencies with all four elements and their
variances are written to them (:func:`complete_frequencies`), and since their period field has 5 decimals, AMT
periods below 0.1 s are refused (use EDI or XML). Z-files hold variances in EMTF's factorised form
(:func:`amt.io.mtmeta.zfile_error_terms`).

EMTF's own Z-files and real-data EDIs are in this package's convention (phi_xy in (0, 90) deg for a 1-D earth), so no
sign change is made by default. EMTF's *synthetic* test records (``test1.asc`` and its ``test1.zss``) carry the
opposite sign (phi_xy near -135 deg); ``negate_impedance=True`` converts such a file explicitly.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

from amt.io.mtmeta import from_mt_tf, to_mt_tf
from amt.mt.transfer_function import TransferFunction, TransferFunctionError
from shared.atomic import atomic_path

#: File suffixes written (and read) through mt_metadata.
ZFILES = (".zmm", ".zrr", ".zss")
WRITABLE = (".edi", ".xml", *ZFILES)
#: Shortest period a Z-file holds to 4 significant digits (mt_metadata writes periods with 5 decimals).
ZFILE_MIN_PERIOD_S = 0.1
READABLE = (*WRITABLE, ".j", ".avg")


@contextlib.contextmanager
def _quiet():
    """Silence mt_metadata's chatty logger and stdout for the duration of a read or write."""
    from loguru import logger

    logger.disable("mt_metadata")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.enable("mt_metadata")


def read_transfer_function(path: str | Path, negate_impedance: bool = False) -> TransferFunction:
    """Read an EDI, EMTF XML, Z-file, j-file or .avg file.

    Parameters
    ----------
    path
        File to read.
    negate_impedance
        Multiply Z by -1 (EMTF synthetic test records; see module notes).

    Raises
    ------
    TransferFunctionError
        If the file is missing, of an unknown type, unreadable, or holds no impedance.
    """
    from mt_metadata.transfer_functions.core import TF

    path = Path(path)
    if not path.is_file():
        raise TransferFunctionError(f"{path}: no such file")
    if path.suffix.lower() not in READABLE:
        raise TransferFunctionError(f"{path}: unknown transfer-function format (want one of {READABLE})")
    try:
        with _quiet():
            mt = TF(path)
            mt.read()
    # Only mt_metadata runs in this block, and on a malformed file it raises whatever its parsers hit (ValueError,
    # pydantic's ValidationError, xml ParseError, IndexError, UnboundLocalError, ...); our own conversion
    # (from_mt_tf) runs outside it, so a bug of ours is never renamed.
    except Exception as exc:
        raise TransferFunctionError(f"{path}: cannot read: {exc}") from exc
    tf = from_mt_tf(mt, source=str(path))
    if negate_impedance:
        tf.z = -tf.z
    return tf


def complete_frequencies(tf: TransferFunction) -> TransferFunction:
    """``tf`` restricted to frequencies whose four impedance elements and variances are all finite.

    Z-files have no empty value, so :func:`write_transfer_function` writes only these frequencies to them.
    """
    keep = np.all(np.isfinite(tf.z), axis=(1, 2)) & np.all(np.isfinite(tf.z_var), axis=(1, 2))
    tip = tip_var = None
    if tf.tipper is not None:
        tip, tip_var = tf.tipper[keep], tf.tipper_var[keep]
    return TransferFunction(
        station=tf.station,
        frequency_hz=tf.frequency_hz[keep],
        z=tf.z[keep],
        z_var=tf.z_var[keep],
        tipper=tip,
        tipper_var=tip_var,
        latitude_deg=tf.latitude_deg,
        longitude_deg=tf.longitude_deg,
        elevation_m=tf.elevation_m,
        declination_deg=tf.declination_deg,
        zrot_deg=tf.zrot_deg,
        flags=tf.flags[keep],
        inverse_signal_power=None if tf.inverse_signal_power is None else tf.inverse_signal_power[keep],
        residual_covariance=None if tf.residual_covariance is None else tf.residual_covariance[keep],
    )


def write_transfer_function(tf: TransferFunction, path: str | Path) -> Path:
    """Write ``tf`` as EDI, EMTF XML or a Z-file (by suffix), atomically.

    Raises
    ------
    TransferFunctionError
        If the suffix is not writable or mt_metadata fails (no file is left behind).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITABLE:
        raise TransferFunctionError(f"{path}: cannot write this format (want one of {WRITABLE})")
    if not np.any(np.isfinite(tf.z)):
        raise TransferFunctionError(f"{path}: transfer function of {tf.station} has no estimated frequency")
    if suffix != ".edi" and not np.any(np.isfinite(tf.z_var[np.isfinite(tf.z)])):
        raise TransferFunctionError(
            f"{path}: {tf.station} has no impedance variances; EMTF XML and Z-files need them (write EDI instead)"
        )
    if suffix in ZFILES:
        short = tf.period_s < ZFILE_MIN_PERIOD_S
        if short.any():
            raise TransferFunctionError(
                f"{path}: Z-files hold periods to 5 decimals, too few for {int(short.sum())} periods below "
                f"{ZFILE_MIN_PERIOD_S} s (shortest {tf.period_s.min():.3g} s); write EDI or EMTF XML instead"
            )
        tf = complete_frequencies(tf)
        if tf.n_frequencies == 0:
            raise TransferFunctionError(f"{path}: no frequency has all four impedance elements and their variances")
    try:
        with atomic_path(path) as tmp, _quiet():  # the temporary keeps the suffix mt_metadata picks the format by
            to_mt_tf(tf, zfile_terms=suffix in ZFILES).write(fn=tmp)
    except OSError as exc:  # disk or permissions; anything else is a bug (in to_mt_tf or mt_metadata) to see
        raise TransferFunctionError(f"{path}: writing failed: {exc}") from exc
    return path
