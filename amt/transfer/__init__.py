"""Transfer-function estimation: robust and remote-reference regression of spectra, with errors.

Public surface: :func:`estimate_transfer_function` (one stream), :func:`process_station` (all streams of a
station, merged), :class:`EstimateConfig`, :class:`RobustConfig`, :func:`regress`.
"""

from amt.transfer.estimate import EstimateConfig, estimate_transfer_function
from amt.transfer.regression import RegressionError, RobustConfig, regress
from amt.transfer.station import process_station

__all__ = [
    "EstimateConfig",
    "RegressionError",
    "RobustConfig",
    "estimate_transfer_function",
    "process_station",
    "regress",
]
