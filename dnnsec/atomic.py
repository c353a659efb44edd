"""Atomic writes of secret files: ``shared.atomic`` with the file mode set before the rename."""

from __future__ import annotations

import os
from pathlib import Path

from shared.atomic import atomic_path


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` atomically with permission bits ``mode`` (0o600 for keys); return the path."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
    return Path(path)
