"""Dead-band compensation of AMT transfer functions, decided by the data at every frequency (Jiang et al., 2023).

Public surface: :func:`compensate` (a station to a :class:`CompensationResult`: per frequency the conventional
estimate or the estimate from sferic windows less the quiet windows, whichever the data show good, else flagged;
:mod:`amt.deadband.compensate`), :class:`CompensationConfig`, :func:`detect_events` and :func:`events_from_labels`
(sferic events as an :class:`amt.sferic.catalogue.SfericEventTable`; events CSVs are read by
:func:`amt.sferic.catalogue.read_events_csv`), and :func:`find_dead_band` (the power notch, a diagnostic).
"""

from amt.deadband.compensate import CompensationConfig, CompensationResult, compensate
from amt.deadband.edges import find_dead_band
from amt.deadband.events import DeadBandError, detect_events, events_from_labels

__all__ = [
    "CompensationConfig",
    "CompensationResult",
    "DeadBandError",
    "compensate",
    "detect_events",
    "events_from_labels",
    "find_dead_band",
]
