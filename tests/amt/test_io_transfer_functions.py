"""Transfer-function files through mt_metadata: round trips on every real file, empties, order, EMTF sign."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from amt.io.transfer_functions import (
    READABLE,
    ZFILE_MIN_PERIOD_S,
    complete_frequencies,
    read_transfer_function,
    write_transfer_function,
)
from amt.mt import TransferFunction, TransferFunctionError
from shared.paths import data_root

TF_DIR = data_root() / "amt" / "transfer_functions"
REAL = sorted(p for p in TF_DIR.glob("*") if p.suffix.lower() in READABLE) if TF_DIR.is_dir() else []
# mt_metadata 1.0.12 cannot read these (an invalid URL; a tipper-only Z-file): a clear error is expected.
UNREADABLE = {"example.xml", "tf_zss_tipper.zss"}


def _same(a: np.ndarray, b: np.ndarray, rtol: float) -> bool:
    return np.array_equal(np.isnan(a), np.isnan(b)) and np.allclose(np.nan_to_num(a), np.nan_to_num(b), rtol=rtol)


@pytest.mark.parametrize("path", REAL, ids=[p.name for p in REAL])
def test_real_file_round_trip(path: Path, tmp_path: Path) -> None:
    """Read, write (EDI, EMTF XML, Z-file), read again: equal to the digits each format holds."""
    if path.name in UNREADABLE:
        with pytest.raises(TransferFunctionError, match=path.name):
            read_transfer_function(path)
        return
    original = read_transfer_function(path)
    has_var = np.any(np.isfinite(original.z_var[np.isfinite(original.z)]))
    # EDI and XML keep 7 significant digits; Z-files 4 (e.g. 0.2472E+00)
    for suffix, rtol in ((".edi", 1e-5), (".xml", 1e-5), (".zmm", 1e-3)):
        out = tmp_path / f"copy{suffix}"
        if suffix != ".edi" and not has_var:
            with pytest.raises(TransferFunctionError, match="no impedance variances"):
                write_transfer_function(original, out)
            assert not out.exists() and not list(tmp_path.glob(".*"))  # nothing half-written
            continue
        if suffix == ".zmm" and np.any(original.period_s < ZFILE_MIN_PERIOD_S):
            with pytest.raises(TransferFunctionError, match="5 decimals"):
                write_transfer_function(original, out)
            assert not out.exists() and not list(tmp_path.glob(".*"))
            continue
        a = complete_frequencies(original) if suffix == ".zmm" else original
        if a.n_frequencies == 0:
            continue
        b = read_transfer_function(write_transfer_function(a, out))
        assert np.allclose(a.frequency_hz, b.frequency_hz, rtol=rtol), suffix
        assert _same(a.z, b.z, rtol), suffix
        # Z-files hold variances in factorised form: exact only for input that came in that form
        if suffix != ".zmm" or a.inverse_signal_power is not None:
            assert _same(a.z_var, b.z_var, 10 * rtol), suffix
        if a.tipper is not None and np.any(np.isfinite(a.tipper)):
            assert b.tipper is not None and _same(a.tipper, b.tipper, rtol), suffix


def _two_freq_tf() -> TransferFunction:
    z = np.array([[[1 + 1j, 10 + 10j], [-10 - 10j, np.nan]], [[0.5 + 0.1j, 5 + 5j], [-5 - 5j, 0.2 - 0.3j]]])
    var = np.where(np.isfinite(z), 0.01, np.nan)
    return TransferFunction("EMPTY", np.array([10.0, 1.0]), z, var)


def test_missing_element_is_written_as_edi_empty_and_read_back_missing(tmp_path: Path) -> None:
    tf = _two_freq_tf()
    path = write_transfer_function(tf, tmp_path / "e.edi")
    text = path.read_text()
    data = text[text.index(">FREQ") :]
    assert not any(word.lower() == "nan" for word in data.split())
    block = text.split(">ZYYR")[1].split(">")[0].split()
    assert float(block[-2]) == 1.0e32  # first frequency's Zyy is empty
    back = read_transfer_function(path)
    assert np.isnan(back.z[0, 1, 1]) and np.isfinite(back.z[1, 1, 1])


def test_frequencies_are_written_descending_and_read_in_either_order(tmp_path: Path) -> None:
    from mt_metadata.transfer_functions.core import TF

    tf = _two_freq_tf()
    path = write_transfer_function(tf, tmp_path / "d.edi")
    written = TF(path)
    written.read()
    assert np.all(np.diff(written.frequency) < 0)
    # write an ascending copy directly with mt_metadata and read it through ours
    ascending = TF()
    ascending.station = "ASC"
    ascending.period = 1.0 / tf.frequency_hz[::-1]
    ascending.impedance = np.nan_to_num(tf.z[::-1])
    ascending.impedance_error = np.nan_to_num(np.sqrt(tf.z_var[::-1]))
    ascending.write(fn=tmp_path / "asc.edi")
    back = read_transfer_function(tmp_path / "asc.edi")
    assert np.array_equal(back.frequency_hz, tf.frequency_hz)
    assert _same(back.z, tf.z, 1e-6)


def test_edi_we_write_reads_back_through_mtpy(tmp_path: Path) -> None:
    from mtpy import MT

    tf = _two_freq_tf()
    path = write_transfer_function(tf, tmp_path / "m.edi")
    mt = MT(path)
    mt.read()
    z = np.asarray(mt.Z.z)
    order = np.argsort(-np.asarray(mt.Z.frequency))
    assert np.allclose(np.asarray(mt.Z.frequency)[order], tf.frequency_hz)
    finite = np.isfinite(tf.z)
    assert np.allclose(z[order][finite], tf.z[finite], rtol=1e-6)


def test_emtf_synthetic_sign_is_converted_explicitly(shared_data: Path) -> None:
    path = shared_data / "amt" / "emtf_synthetic" / "test1.zss"
    raw = read_transfer_function(path)
    ours = read_transfer_function(path, negate_impedance=True)
    assert np.all(np.abs(np.degrees(np.angle(raw.z[:, 0, 1])) + 135) < 10)  # EMTF's -135 deg
    assert np.all((np.degrees(np.angle(ours.z[:, 0, 1])) > 0) & (np.degrees(np.angle(ours.z[:, 0, 1])) < 90))
    ph_yx = np.degrees(np.angle(ours.z[:, 1, 0]))
    assert np.all((ph_yx > -180) & (ph_yx < -90))


def test_real_emtf_zfile_needs_no_sign_change(shared_data: Path) -> None:
    tf = read_transfer_function(shared_data / "amt" / "transfer_functions" / "tf_zmm.zmm")
    assert 0 < np.nanmedian(np.degrees(np.angle(tf.z[:, 0, 1]))) < 90


def test_bad_files_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(TransferFunctionError, match="no such file"):
        read_transfer_function(tmp_path / "absent.edi")
    junk = tmp_path / "junk.edi"
    junk.write_text("this is not an EDI\n")
    with pytest.raises(TransferFunctionError, match=r"junk\.edi"):
        read_transfer_function(junk)
    with pytest.raises(TransferFunctionError, match="cannot write this format"):
        write_transfer_function(_two_freq_tf(), tmp_path / "x.csv")
    empty = _two_freq_tf()
    empty.z[:] = np.nan
    with pytest.raises(TransferFunctionError, match="no estimated frequency"):
        write_transfer_function(empty, tmp_path / "none.edi")
    assert not (tmp_path / "none.edi").exists()
