"""Linear error propagation from a complex 2x2 impedance to derived quantities.

The impedance's eight real parts are taken as independent, each with variance ``z_var / 2`` (``z_var`` being the
variance of the complex element, as in EDI files). The Jacobian is evaluated by central differences with a step
of ``1e-6 |Z|``; a derived quantity's standard error is ``sqrt(sum_k (d q / d p_k)^2 var_k)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def propagate(
    func: Callable[[np.ndarray], np.ndarray], z: np.ndarray, z_var: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Value and standard error of ``func(z)`` for ``z`` (n, 2, 2) complex with complex variance ``z_var``.

    ``func`` maps (n, 2, 2) complex to an array whose first axis is n (any trailing shape). Angles in the output
    should not wrap across the step (they are differentiated numerically).
    """
    value = func(z)
    var = np.zeros(value.shape)
    scale = np.max(np.abs(z), axis=(1, 2))
    step = np.where(scale > 0, scale * 1e-6, 1e-12)
    for i in range(2):
        for j in range(2):
            for unit in (1.0, 1j):
                dz = np.zeros_like(z)
                dz[:, i, j] = unit * step
                d = (func(z + dz) - func(z - dz)) / (2 * step.reshape((-1,) + (1,) * (value.ndim - 1)))
                v = (z_var[:, i, j] / 2).reshape((-1,) + (1,) * (value.ndim - 1))
                var = var + d**2 * v
    return value, np.sqrt(var)
