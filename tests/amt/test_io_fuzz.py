"""Fuzzing :func:`amt.io.read`: damaged files give a Station or a RecordError, nothing else.

Small valid files of every binary format we read (NPZ, MTH5 and miniSEED written by our writers, and the first
bursts of a real Phoenix ``.td_24k`` file) are truncated, have bytes overwritten and get garbage appended, in random
combinations. Any other exception -- an AttributeError from a bug in a reader as much as a bare error from NumPy,
h5py or ObsPy -- fails the test.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from obspy import UTCDateTime

import amt.io
from amt.record import ChannelMeta, RecordError, Station, StationRun

PHOENIX = Path("amt/phoenix_mtu5c/10128_2021-04-27-032436")
PHOENIX_FILE = "0/10128_608783F4_0_00000001.td_24k"
#: The header and the first two bursts (32-byte sub-header and 48,000 float32 samples each) of PHOENIX_FILE.
PHOENIX_BYTES = 128 + 2 * (32 + 4 * 48000)

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _station() -> Station:
    rng = np.random.default_rng(1)
    chans = ("ex", "ey", "hx", "hy", "hz")
    meta = {c: ChannelMeta.nominal(c, "mV/km" if c[0] == "e" else "nT") for c in chans}
    run = StationRun("F1", "001", 256.0, UTCDateTime(2023, 1, 2), {c: rng.standard_normal(200) for c in chans}, meta)
    return Station("F1", [run])


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> dict[str, Path]:
    """Folder of a valid file per format (suffix -> path); the Phoenix file sits in a copy of its recording."""
    root = tmp_path_factory.mktemp("fuzz-originals")
    out = {s: amt.io.write(_station(), root / f"x{s}") for s in (".npz", ".h5", ".mseed")}
    rec = shared_data / PHOENIX
    if not rec.is_dir():
        pytest.skip(f"Phoenix recording not found at {rec}")
    dst = root / rec.name
    (dst / "0").mkdir(parents=True)
    for name in ("recmeta.json", "config.json"):
        shutil.copyfile(rec / name, dst / name)
    (dst / PHOENIX_FILE).write_bytes((rec / PHOENIX_FILE).read_bytes()[:PHOENIX_BYTES])
    out[".td_24k"] = dst / PHOENIX_FILE
    return out


#: One damage: cut at a fraction of the length, overwrite a byte, or append bytes.
DAMAGE = st.one_of(
    st.tuples(st.just("cut"), st.floats(0.0, 1.0)),
    st.tuples(st.just("set"), st.integers(0, 10**7), st.integers(0, 255)),
    st.tuples(st.just("append"), st.binary(max_size=64)),
)


def damage(raw: bytes, steps: list[tuple]) -> bytes:
    """``raw`` with ``steps`` applied in order."""
    b = bytearray(raw)
    for step in steps:
        if step[0] == "cut":
            del b[int(len(b) * step[1]) :]
        elif step[0] == "set" and b:
            b[step[1] % len(b)] = step[2]
        elif step[0] == "append":
            b.extend(step[1])
    return bytes(b)


@pytest.mark.parametrize("suffix", [".npz", ".h5", ".mseed", ".td_24k"])
@FUZZ
@given(steps=st.lists(DAMAGE, min_size=1, max_size=4))
def test_damaged_files_read_or_raise_record_error(originals: dict[str, Path], suffix: str, steps: list[tuple]):
    src = originals[suffix]
    with tempfile.TemporaryDirectory() as d:
        if suffix == ".td_24k":  # the recording around the file, as the reader needs its recmeta.json
            folder = Path(d) / src.parents[1].name
            shutil.copytree(src.parents[1], folder)
            target = folder / PHOENIX_FILE
        else:
            target = Path(d) / src.name
            if suffix == ".mseed":  # the sidecar stays intact: the samples are fuzzed here
                shutil.copyfile(src.with_name(src.name + ".json"), target.with_name(target.name + ".json"))
        target.write_bytes(damage(src.read_bytes(), steps))
        try:
            station = amt.io.read(target)
        except RecordError as exc:
            assert d in str(exc)  # the message names the file (or its recording folder)
            return
        assert isinstance(station, Station)
        for run in station.runs:
            assert all(len(run.data[c]) == run.n_samples for c in run.channels)
