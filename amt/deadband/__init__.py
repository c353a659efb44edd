"""Dead-band compensation of AMT transfer functions with detected sferics (Jiang et al., 2023).

Public surface: :func:`compensate` (a station to a compensated :class:`~amt.mt.transfer_function.TransferFunction`),
:class:`CompensationConfig`, :class:`SfericEvents` with :func:`read_events_csv`, :func:`events_from_labels` and
:func:`detect_events`, and :func:`find_dead_band`.
"""

from amt.deadband.compensate import CompensationConfig, compensate
from amt.deadband.edges import find_dead_band
from amt.deadband.events import DeadBandError, SfericEvents, detect_events, events_from_labels, read_events_csv

__all__ = [
    "CompensationConfig",
    "DeadBandError",
    "SfericEvents",
    "compensate",
    "detect_events",
    "events_from_labels",
    "find_dead_band",
    "read_events_csv",
]
