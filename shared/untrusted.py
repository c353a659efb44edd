"""Reading files a user may have been handed: within a size bound, as JSON, with errors naming the file.

Untrusted input is bounded before use: a file is read only up to its size limit (a larger one is refused without
reading the rest), and JSON is parsed from those bytes with decoding, syntax and nesting errors turned into the
caller's domain error. Field-by-field checks stay with each format.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.errors import DomainError


def read_bounded(path: Path, max_bytes: int, error: type[DomainError], what: str) -> bytes:
    """The bytes of ``path``, refused with ``error`` if unreadable or larger than ``max_bytes``.

    Parameters
    ----------
    path
        File to read.
    max_bytes
        Largest size accepted, in bytes.
    error
        Domain error raised, with a message naming ``path`` and ``what`` the file should be.
    what
        What the file is, for the message (e.g. ``"key file"``).
    """
    try:
        with path.open("rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror})") from exc
    if len(raw) > max_bytes:
        raise error(f"{path}: larger than {max_bytes} bytes; not a {what}")
    return raw


def parse_json(raw: bytes, source: str | Path, error: type[DomainError], what: str) -> Any:
    """``raw`` parsed as UTF-8 JSON, or ``error`` naming ``source`` and saying it is not a JSON ``what``."""
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise error(f"{source}: not a JSON {what} ({exc})") from None
