"""The heavy modules of a processing run imported with the garbage collector paused, then frozen.

A run of ``amt process`` imports torch (the sferic CNN) and mt_metadata with pydantic (the EDI writer) where it
first needs them (late: the arrays of the conventional estimate are gone by then, so they do not add to its peak
memory), some millions of Python objects that live to the end. Imported as they were, they triggered full
collections, each of which traverses every object: on a 10-minute record (``benchmarks.amt_pipeline``) 9 full
collections cost 1.2 s of CPU. Imported with the collector paused, then, after one collection of the garbage the
import left, moved to the permanent generation (:func:`gc.freeze`, meant for objects that live as long as the
process), they are never traversed again.
"""

from __future__ import annotations

import gc
import importlib
import sys


def preload(*modules: str) -> None:
    """Import ``modules`` with the collector paused, collect once, then freeze every object alive (the collector
    as it was before). Nothing happens where every module is imported already: a process that runs many records
    (a survey worker) freezes once per module, at its first import, not once per record."""
    if all(name in sys.modules for name in modules):
        return
    enabled = gc.isenabled()
    gc.disable()
    try:
        for name in modules:
            importlib.import_module(name)
    finally:
        gc.collect()  # the imports' own garbage goes once, not frozen with them
        gc.freeze()
        if enabled:
            gc.enable()
