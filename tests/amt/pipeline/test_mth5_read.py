"""Our MTH5 files read with h5py alone equal the same files read through the mth5 package, without importing it."""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pytest

import amt.io
from amt.io import mth5_file
from amt.record import RecordError
from tests.amt.survey.records import write_records


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    return write_records(tmp_path_factory.mktemp("mth5"), 1, duration_s=0.5)[0]


def _through_mth5(path):
    from amt.io import metadata as md

    m = mth5_file._mth5()()
    m.open_mth5(str(path), "r")
    try:
        return mth5_file._read_ours(m, md.loads(mth5_file._metadata_text(path), str(path)), path)
    finally:
        m.close_mth5()


def test_h5py_read_equals_the_mth5_read(record) -> None:
    fast, slow = amt.io.read(record), _through_mth5(record)
    assert [r.run for r in fast.runs] == [r.run for r in slow.runs]
    for a, b in zip(fast.runs, slow.runs, strict=True):
        assert a.start == b.start and a.sample_rate_hz == b.sample_rate_hz and a.meta == b.meta
        assert [str(d) for d in a.defects] == [str(d) for d in b.defects]
        for c in a.channels:
            np.testing.assert_array_equal(a.data[c], b.data[c])


def test_reading_our_file_does_not_import_mth5(record) -> None:
    code = f"import sys, amt.io; amt.io.read({str(record)!r}); print('mth5' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_a_channel_of_the_wrong_shape_is_named(record, tmp_path) -> None:
    bad = tmp_path / "bad.h5"
    bad.write_bytes(record.read_bytes())
    with h5py.File(bad, "a") as f:
        path = "Experiment/Surveys/amt/Stations/T01/001/hx"
        n = f[path].shape[0]
        del f[path]
        f.create_dataset(path, data=np.zeros((n, 2)))
    with pytest.raises(RecordError, match="channel hx is not 1-D"):
        amt.io.read(bad)


def test_the_head_of_a_record_is_the_start_of_the_whole_read(record) -> None:
    whole = amt.io.read(record).runs[0]
    head = mth5_file.read_mth5_head(record, 0.1)
    n = round(0.1 * whole.sample_rate_hz)
    assert head.n_samples == n and head.start == whole.start and head.meta == whole.meta
    for c in whole.channels:
        np.testing.assert_array_equal(head.data[c], whole.data[c][:n])
    assert mth5_file.read_mth5_head(record, 3600.0).n_samples == whole.n_samples  # never past the end
