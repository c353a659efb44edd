"""The heavy modules of a processing run, imported up front with the garbage collector paused, then frozen.

A run of ``amt process`` imports torch (the sferic CNN) and mt_metadata with pydantic (the EDI writer), some
millions of Python objects that live to the end. Imported part way through the run, they trigger full
collections, each of which traverses every object: on a 10-minute record (``benchmarks.amt_pipeline``) 9 full
collections cost 1.2 s of CPU. Imported with the collector paused and then moved to the permanent generation
(:func:`gc.freeze`, meant for objects that live as long as the process), they are never traversed again: 0.3 s of
collection in all. Nothing is imported that the run would not import anyway.
"""

from __future__ import annotations

import gc
import importlib


def preload(*modules: str) -> None:
    """Import ``modules`` with the collector paused, then freeze every object alive (the collector resumes)."""
    gc.disable()
    try:
        for name in modules:
            importlib.import_module(name)
    finally:
        gc.freeze()
        gc.enable()
