"""Magnetotelluric quantities: the transfer function of a station and what is derived from it.

:class:`TransferFunction` holds impedance and tipper with their variances; the functions give apparent resistivity
and phase, the determinant and the phase tensor. Every function takes the impedance ``z`` (n, 2, 2) in mV/km/nT and,
where errors are wanted, its complex variance ``z_var`` (n, 2, 2), and returns values with standard errors propagated
linearly (:func:`amt.mt.propagation.propagate`). Rotation is :meth:`TransferFunction.rotated` (ZROT).
"""

from amt.mt.impedance import apparent_resistivity, determinant, phase_deg
from amt.mt.phase_tensor import PhaseTensor, phase_tensor
from amt.mt.transfer_function import TransferFunction, TransferFunctionError

__all__ = [
    "PhaseTensor",
    "TransferFunction",
    "TransferFunctionError",
    "apparent_resistivity",
    "determinant",
    "phase_deg",
    "phase_tensor",
]
