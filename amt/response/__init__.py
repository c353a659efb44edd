"""Quantities derived from a transfer function: apparent resistivity and phase, determinant, phase tensor.

Every function takes the impedance ``z`` (n, 2, 2) in mV/km/nT and, where errors are wanted, its complex variance
``z_var`` (n, 2, 2), and returns values with standard errors propagated linearly
(:func:`amt.response.propagation.propagate`). Rotation is :meth:`amt.tf.TransferFunction.rotated` (ZROT).
"""

from amt.response.impedance import apparent_resistivity, determinant, phase_deg
from amt.response.phase_tensor import PhaseTensor, phase_tensor

__all__ = ["PhaseTensor", "apparent_resistivity", "determinant", "phase_deg", "phase_tensor"]
