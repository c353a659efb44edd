"""Atomic writes of secret and public files (``shared.atomic`` with explicit permission bits)."""

from __future__ import annotations

from pathlib import Path

from shared.atomic import write_bytes_atomic


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` atomically with permission bits ``mode`` (0o600 for keys); return the path."""
    return write_bytes_atomic(path, data, mode)
