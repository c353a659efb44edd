"""One door for AMT records: :func:`read` any supported format, :func:`write` by suffix.

========================  ==========================================  =====================================
format                    recognised by                               module
========================  ==========================================  =====================================
MTH5                      HDF5 signature (``.h5``, ``.mth5``)          :mod:`amt.io.mth5_file`
miniSEED                  ``.mseed``/``.miniseed``/``.ms`` or bytes    :mod:`amt.io.miniseed` (ObsPy)
SAC                       ``.sac``                                    :mod:`amt.io.miniseed` (ObsPy)
Phoenix MTU-5C            a folder with ``recmeta.json``, ``.td_*``    :mod:`amt.io.phoenix`
EMTF ASCII                ``.asc``                                    :mod:`amt.io.emtf_ascii`
NPZ                       ``.npz`` (zip signature)                    :mod:`amt.io.npz`
========================  ==========================================  =====================================

Every reader returns an :class:`amt.record.Station`; problems in the samples (gaps, overlaps, NaN,
clipping, saturation, mismatched channels) come back as :class:`amt.record.Defect` s on the runs, and a file
that cannot be read at all raises :class:`amt.record.RecordError` naming the file -- never a bare
traceback from NumPy, h5py or ObsPy. Writers are atomic: after a failure no file (or a previous, intact
file) is left under the target name (missing folders are created). To remove the instrument responses a reader
attached, see :func:`amt.calibration.calibrate`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path

from amt.record import RecordError, Station

#: Suffix -> format name for :func:`write`.
WRITE_SUFFIXES: dict[str, str] = {".h5": "mth5", ".mth5": "mth5", ".mseed": "mseed", ".npz": "npz"}

_READ_SUFFIXES: dict[str, str] = {
    ".h5": "mth5",
    ".mth5": "mth5",
    ".hdf5": "mth5",
    ".mseed": "mseed",
    ".miniseed": "mseed",
    ".ms": "mseed",
    ".sac": "sac",
    ".asc": "emtf_ascii",
    ".npz": "npz",
    ".td_24k": "phoenix",
    ".td_150": "phoenix",
    ".td_30": "phoenix",
    ".td_2400": "phoenix",
}


def detect_format(path: str | Path) -> str:
    """Name of the format of ``path`` (see the module table); :class:`RecordError` if unknown."""
    path = Path(path)
    if path.is_dir():
        if (path / "recmeta.json").is_file() or any(path.glob("*.td_*")) or any(path.glob("*/*.td_*")):
            return "phoenix"
        raise RecordError(f"{path}: folder is not a Phoenix recording (no recmeta.json or .td_* files)")
    if not path.is_file():
        raise RecordError(f"{path}: no such file or folder")
    try:
        with path.open("rb") as fh:
            magic = fh.read(8)
    except OSError as exc:
        raise RecordError(f"{path}: unreadable ({exc})") from exc
    if magic.startswith(b"\x89HDF\r\n\x1a\n"):
        return "mth5"
    if magic.startswith(b"PK"):
        return "npz"
    fmt = _READ_SUFFIXES.get(path.suffix.lower())
    if fmt:
        return fmt
    if len(magic) >= 8 and magic[:6].isdigit() and magic[6:7] in b"DRQM":
        return "mseed"
    raise RecordError(
        f"{path}: unknown record format (suffix {path.suffix!r}); supported: "
        f"{', '.join(sorted(set(_READ_SUFFIXES.values())))}"
    )


def read(path: str | Path, format: str | None = None, **kw) -> Station:
    """Read a record of any supported format into a :class:`~amt.record.Station`.

    Parameters
    ----------
    path
        File or (Phoenix) folder.
    format
        Force a format (``"mth5"``, ``"mseed"``, ``"sac"``, ``"phoenix"``, ``"emtf_ascii"``, ``"npz"``);
        detected from the signature and suffix by default.
    **kw
        Passed to the format's reader (e.g. ``sample_rate_hz`` for EMTF ASCII, ``leap_seconds`` or
        ``rates`` for Phoenix, ``station`` where a file holds several stations, ``max_fill_s``).

    Raises
    ------
    RecordError
        If the file is missing, of an unknown format, or damaged beyond reading.
    """
    fmt = format or detect_format(path)
    reader = _reader(fmt, path)
    try:
        inspect.signature(reader).bind(path, **kw)
    except TypeError as exc:  # an option this format's reader does not take
        raise RecordError(f"{path}: {fmt} reader: {exc}") from exc
    return reader(path, **kw)


def _reader(fmt: str, path: str | Path) -> Callable[..., Station]:
    """The reader of format ``fmt``."""
    # each format's module is imported on demand, so `import amt.io` does not load ObsPy's readers, h5py or mth5
    if fmt == "mth5":
        from amt.io.mth5_file import read_mth5

        return read_mth5
    if fmt in ("mseed", "sac"):
        from amt.io.miniseed import read_obspy

        return functools.partial(read_obspy, fmt="MSEED" if fmt == "mseed" else "SAC")
    if fmt == "phoenix":
        from amt.io.phoenix import read_phoenix

        return read_phoenix
    if fmt == "emtf_ascii":
        from amt.io.emtf_ascii import read_emtf_ascii

        return read_emtf_ascii
    if fmt == "npz":
        from amt.io.npz import read_npz

        return read_npz
    raise RecordError(f"{path}: unknown format {fmt!r}")


def write(station: Station, path: str | Path) -> Path:
    """Write ``station`` in the format its suffix names: ``.h5``/``.mth5`` (MTH5), ``.mseed`` (miniSEED plus
    the JSON sidecar ``<file>.json``), ``.npz``. Atomic; returns the path.

    Raises
    ------
    RecordError
        Unknown suffix, or a station that cannot be stored (e.g. duplicate run ids).
    """
    path = Path(path)
    fmt = WRITE_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise RecordError(f"{path}: cannot write suffix {path.suffix!r}; use one of {sorted(WRITE_SUFFIXES)}")
    if not isinstance(station, Station):
        raise RecordError(f"{path}: write() takes an amt.record.Station, got {type(station).__name__}")
    # imported on demand, as in _reader()
    if fmt == "mth5":
        from amt.io.mth5_file import write_mth5

        return write_mth5(station, path)
    if fmt == "mseed":
        from amt.io.miniseed import write_mseed

        return write_mseed(station, path)
    from amt.io.npz import write_npz

    return write_npz(station, path)


__all__ = ["WRITE_SUFFIXES", "detect_format", "read", "write"]
