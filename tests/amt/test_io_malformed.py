"""Damaged input: every reader answers a truncated or corrupted file with a RecordError or a reported
defect -- never a bare traceback from NumPy, h5py, ObsPy or mth5 -- and unknown formats are named."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from obspy import UTCDateTime

import amt.io
from amt.record import ChannelMeta, RecordError, Station, StationRun
from shared.paths import data_root

REC = data_root() / "amt" / "phoenix_mtu5c" / "10128_2021-04-27-032436"
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def small_station() -> Station:
    rng = np.random.default_rng(0)
    chans = ("ex", "ey", "hx", "hy")
    runs = [
        StationRun(
            "S1",
            f"{k:03d}",
            500.0,
            UTCDateTime(2022, 5, 1) + 10 * k,
            {c: rng.standard_normal(300) for c in chans},
            {
                c: ChannelMeta(c, "mV/km" if c[0] == "e" else "nT", dipole_length_m=50.0 if c[0] == "e" else None)
                for c in chans
            },
        )
        for k in range(2)
    ]
    return Station("S1", runs)


_GOOD: dict[str, bytes] = {}


def good(suffix: str) -> bytes:
    """Bytes of a well-formed file (built once; a module cache keeps hypothesis reports short)."""
    if not _GOOD:
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            for s in (".h5", ".mseed", ".npz"):
                _GOOD[s] = amt.io.write(small_station(), Path(d) / f"x{s}").read_bytes()
            _GOOD[".mseed.json"] = (Path(d) / "x.mseed.json").read_bytes()
    return _GOOD[suffix]


def read_or_record_error(path: Path) -> None:
    """Reading must either work (possibly with defects) or raise RecordError; anything else fails."""
    try:
        st = amt.io.read(path)
    except RecordError as exc:
        assert str(path.name) in str(exc) or str(path) in str(exc) or "metadata" in str(exc)
        return
    for run in st.runs:  # a successful read is a consistent record
        assert all(len(run.data[c]) == run.n_samples for c in run.channels)
        run.good_segments()


def _cut(raw: bytes, frac: float) -> bytes:
    return raw[: int(len(raw) * frac)]


def _flip(raw: bytes, positions: list[int], values: list[int]) -> bytes:
    b = bytearray(raw)
    for p, v in zip(positions, values, strict=False):
        b[p % len(b)] = v
    return bytes(b)


@pytest.mark.parametrize("suffix", [".h5", ".mseed", ".npz"])
@FUZZ
@given(frac=st.floats(0.0, 0.999))
def test_truncated_files_fail_clearly(tmp_path, suffix, frac):
    p = tmp_path / f"t{suffix}"
    p.write_bytes(_cut(good(suffix), frac))
    if suffix == ".mseed":
        (tmp_path / "t.mseed.json").write_bytes(good(".mseed.json"))
    read_or_record_error(p)


@pytest.mark.parametrize("suffix", [".h5", ".mseed", ".npz"])
@FUZZ
@given(
    pos=st.lists(st.integers(0, 10**7), min_size=1, max_size=16),
    val=st.lists(st.integers(0, 255), min_size=16, max_size=16),
)
@example(pos=[52], val=[0] * 16)  # miniSEED: blockette 1000's encoding byte 0 (ASCII) turned the samples into text
def test_corrupted_files_fail_clearly(tmp_path, suffix, pos, val):
    p = tmp_path / f"c{suffix}"
    p.write_bytes(_flip(good(suffix), pos, val))
    if suffix == ".mseed":
        (tmp_path / "c.mseed.json").write_bytes(good(".mseed.json"))
    read_or_record_error(p)


@FUZZ
@given(
    frac=st.floats(0.0, 0.999),
    pos=st.lists(st.integers(0, 10**6), max_size=8),
    val=st.lists(st.integers(0, 255), min_size=8, max_size=8),
)
def test_corrupted_sidecar_fails_clearly(tmp_path, frac, pos, val):
    p = tmp_path / "s.mseed"
    p.write_bytes(good(".mseed"))
    side = _flip(_cut(good(".mseed.json"), max(frac, 0.01)), pos, val) if pos else _cut(good(".mseed.json"), frac)
    (tmp_path / "s.mseed.json").write_bytes(side)
    read_or_record_error(p)


@pytest.mark.skipif(not REC.is_dir(), reason=f"Phoenix sample recording not found at {REC}")
@FUZZ
@given(
    which=st.sampled_from(
        ["0/10128_608783F4_0_00000001.td_24k", "1/10128_608783F4_1_00000001.td_150", "recmeta.json", "config.json"]
    ),
    frac=st.floats(0.0, 1.0),
    pos=st.lists(st.integers(0, 3 * 10**6), max_size=12),
    val=st.lists(st.integers(0, 255), min_size=12, max_size=12),
)
def test_damaged_phoenix_recordings_fail_clearly(tmp_path_factory, which, frac, pos, val):
    d = tmp_path_factory.mktemp("ph") / REC.name
    d.mkdir()
    # only the first files of channels 0 and 1: enough to exercise every code path, quick to copy
    for idx in ("0", "1"):
        (d / idx).mkdir()
        for f in (REC / idx).glob("*_00000001.td_*"):
            shutil.copyfile(f, d / idx / f.name)
    for name in ("recmeta.json", "config.json"):
        shutil.copyfile(REC / name, d / name)
    target = d / which
    raw = target.read_bytes()
    target.write_bytes(_flip(_cut(raw, frac), pos, val) if frac > 0.01 and pos else _cut(raw, frac))
    read_or_record_error(d)


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("x.h5", b"\x89HDF\r\n\x1a\n" + b"\0" * 100, "HDF5|MTH5"),
        ("x.npz", b"PK\x03\x04garbage", "npz"),
        ("x.mseed", b"000001D garbage that is not a record", "readable|traces"),
        ("x.sac", b"\0" * 10, "readable"),
        ("x.xyz", b"hello", "unknown record format"),
        ("x.npz", b"", "npz"),
    ],
)
def test_garbage_files_name_the_problem(tmp_path, name, content, match):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(RecordError, match=match):
        amt.io.read(p)


def test_missing_path_is_a_record_error(tmp_path):
    with pytest.raises(RecordError, match="no such file"):
        amt.io.read(tmp_path / "absent.h5")


def test_pickled_npz_is_refused_not_executed(tmp_path):
    p = tmp_path / "p.npz"
    np.savez(p, ex=np.array([object()], dtype=object), sample_rate_hz=1.0)
    with pytest.raises(RecordError):
        amt.io.read(p)


def test_empty_folder_is_not_a_recording(tmp_path):
    with pytest.raises(RecordError, match=r"not a Phoenix recording"):
        amt.io.read(tmp_path)


def test_unknown_reader_keyword_is_a_record_error(tmp_path):
    p = amt.io.write(small_station(), tmp_path / "k.npz")
    with pytest.raises(RecordError, match=r"keyword|argument"):
        amt.io.read(p, no_such_option=1)
