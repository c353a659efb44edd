"""Atomic file writes: write to a temporary file in the target folder, then rename over the target.

A reader never sees a half-written file, and a failed write leaves the old file (or none) in place. This is the
project's one writer: every package writes its outputs through :func:`atomic_paths` / :func:`atomic_path` or the
two helpers built on them.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


@contextlib.contextmanager
def atomic_paths(*targets: str | Path, mode: int | None = None) -> Iterator[list[Path]]:
    """Yield temporary paths beside ``targets``; on success sync and rename each onto its target, else delete them.

    Missing parent folders are created. The temporary files keep the target's suffix (some writers pick the format
    from it). The renames happen only after the body finished without an exception, so a failed write never leaves
    a half-written file under a target name (and an existing target stays untouched). Each file gets permission bits
    ``mode`` (e.g. ``0o600`` for secrets) or, by default, those a plain ``open()`` would give under the umask.

    Examples
    --------
    >>> with atomic_paths("a.mseed", "a.mseed.json") as (data, sidecar):  # doctest: +SKIP
    ...     data.write_bytes(b"..."); sidecar.write_text("{}")
    """
    finals = [Path(t) for t in targets]
    temps: list[Path] = []
    try:
        for final in finals:
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f".part{final.suffix}", dir=final.parent)
            os.close(fd)
            temps.append(Path(name))
        yield list(temps)
        for tmp, final in zip(temps, finals, strict=True):
            if tmp.exists():  # mkstemp creates 0600
                os.chmod(tmp, (0o666 & ~_umask()) if mode is None else mode)
                _fsync(tmp)
            os.replace(tmp, final)
        temps = []
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)


def remove_stale_parts(target: str | Path) -> list[Path]:
    """Delete the temporary files that :func:`atomic_paths` writes beside ``target`` (``.<stem>.*.part<suffix>``,
    and any written through one of them by a nested atomic writer) and that a process killed mid-write left behind.

    Call it only where no other process may be writing ``target`` at the time (e.g. after the one job that writes
    it has finished). Returns the paths deleted.
    """
    final = Path(target)
    if not final.parent.is_dir():
        return []
    stale = [q for q in final.parent.iterdir()
             if q.name.startswith(".") and q.name.lstrip(".").startswith(f"{final.stem}.") and ".part" in q.name
             and q.name.endswith(final.suffix)]
    for q in stale:
        q.unlink(missing_ok=True)
    return stale


@contextlib.contextmanager
def atomic_path(path: str | Path, mode: int | None = None) -> Iterator[Path]:
    """:func:`atomic_paths` for one target: yield its temporary path.

    Examples
    --------
    >>> with atomic_path("out.bin") as tmp:  # doctest: +SKIP
    ...     tmp.write_bytes(b"...")
    """
    with atomic_paths(path, mode=mode) as (tmp,):
        yield tmp


def write_bytes_atomic(path: str | Path, data: bytes, mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` atomically (permission bits ``mode``, see :func:`atomic_paths`); return the path."""
    with atomic_path(path, mode) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically and return the path."""
    return write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())
