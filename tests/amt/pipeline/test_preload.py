"""Heavy imports with the collector paused: the collector as it was afterwards, and nothing done twice."""

from __future__ import annotations

import gc

from amt.pipeline.preload import preload


def test_preload_leaves_the_collector_as_it_was_and_does_nothing_once_imported(monkeypatch) -> None:
    frozen = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(1))
    was = gc.isenabled()
    try:
        gc.disable()
        preload("json.tool")  # not imported by the suite before: imported, frozen, collector left disabled
        assert not gc.isenabled() and frozen == [1]
        gc.enable()
        preload("json.tool")  # already imported: nothing done
        assert gc.isenabled() and frozen == [1]
    finally:
        gc.enable() if was else gc.disable()
