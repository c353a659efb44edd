"""Atomic file output: write beside the target, then rename; nothing is left behind on failure."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from amt.record import RecordError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_paths(*targets: str | Path) -> Iterator[list[Path]]:
    """Yield temporary paths beside ``targets``; on success rename each onto its target, else delete them.

    The renames happen only after the body finished without an exception, so a failed write never leaves
    a half-written file under the target name (and an existing target stays untouched).
    """
    finals = [Path(t) for t in targets]
    temps: list[Path] = []
    try:
        for final in finals:
            if not final.parent.is_dir():
                raise RecordError(f"{final}: folder {final.parent} does not exist")
            fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent)
            os.close(fd)
            os.chmod(name, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
            temps.append(Path(name))
        yield temps
        for tmp, final in zip(temps, finals, strict=True):
            os.replace(tmp, final)
        temps = []
    finally:
        for tmp in temps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
