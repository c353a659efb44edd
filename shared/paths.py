"""Where data and caches live.

* ``data_root()``: the read-only real data beside the checkout (``SHARED_DATA`` overrides;
  default ``<repo>/../shared/data``).
* ``cache_root()``: trained baselines and other regenerable artefacts, outside git
  (``AMT_DNNSEC_CACHE`` overrides; default ``~/.cache/amt-dnnsec``).
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent


def data_root() -> Path:
    """Folder of the shared real data sets (may not exist; callers check)."""
    env = os.environ.get("SHARED_DATA")
    return Path(env).expanduser().resolve() if env else (_REPO.parent / "shared" / "data").resolve()


def cache_root() -> Path:
    """Folder for cached, regenerable artefacts (created on demand)."""
    env = os.environ.get("AMT_DNNSEC_CACHE")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "amt-dnnsec"
    root.mkdir(parents=True, exist_ok=True)
    return root
