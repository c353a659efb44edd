"""Transfer-function estimation: robust and remote-reference regression of spectra, with errors.

Public surface: :func:`estimate_transfer_function` (one stream), :func:`process_station` (all streams of a
station, merged), :func:`estimate_station` (the same from spectra already computed), :class:`EstimateConfig`,
:class:`RobustConfig`, :func:`regress`.
"""

from amt.transfer.estimate import EstimateConfig, estimate_transfer_function
from amt.transfer.regression import RegressionError, RobustConfig, regress
from amt.transfer.station import estimate_station, process_station

__all__ = [
    "EstimateConfig",
    "RegressionError",
    "RobustConfig",
    "estimate_station",
    "estimate_transfer_function",
    "process_station",
    "regress",
]
