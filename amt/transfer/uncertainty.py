"""Standard errors of regression coefficients: the parametric (sandwich) formula and the jackknife.

*Parametric*: for ``b = A^-1 Q^H W y`` with ``A = Q^H W X`` the covariance is
``C = n / (n - p) * A^-1 (sum_i w_i^2 |r_i|^2 q_i q_i^H) A^-H``, a heteroscedasticity-consistent form of the
regression covariance that reduces to ``sigma^2 (X^H W X)^-1`` for least squares with equal weights. It is
multiplied by the variance inflation that correlation between adjacent bins of a tapered window causes
(:meth:`amt.spectra.Spectra.variance_inflation`).

*Jackknife*: delete one group of data (one window with all its bins, or a run of consecutive windows when there are
more than ``max_groups``), re-solve with the final robust weights held, and take
``(G - 1) / G * sum |b_(g) - mean|^2`` (Efron 1982; used for MT by Thomson & Chave 1991 and
Eisel & Egbert 2001, who found it more reliable than the parametric form under non-Gaussian noise).

Both return the variance of the complex coefficient, ``E|b - b_true|^2``: each of the real and imaginary parts has
half of it. This package writes the jackknife variance into EDI files.

References
----------
Eisel, M. and Egbert, G. D. (2001), On the stability of magnetotelluric transfer function estimates and the
reliability of their variances, Geophys. J. Int. 144, 65-82.
Thomson, D. J. and Chave, A. D. (1991), Jackknifed error estimates for spectra, coherences, and transfer
functions, in Advances in Spectrum Analysis and Array Processing, Prentice Hall, 58-113.
"""

from __future__ import annotations

import numpy as np

from amt.transfer import kernels
from amt.transfer.regression import RegressionResult, as_complex


def parametric_variance(result: RegressionResult, remote_or_x: np.ndarray, inflation: float = 1.0) -> np.ndarray:
    """Variance of each complex coefficient by the sandwich formula, ``(p,)`` real.

    Parameters
    ----------
    result
        A regression result.
    remote_or_x
        ``(n, p)`` the reference inputs ``Q`` used in the regression (local H when single-site).
    inflation
        Factor for correlation between data points (bins of one window).
    """
    p = remote_or_x.shape[1]
    meat, n = kernels.sandwich_meat(result.weights, result.residuals, as_complex(remote_or_x))  # one pass
    ainv = np.linalg.inv(result.cross_power)
    cov = ainv @ meat @ ainv.conj().T
    return np.real(np.diag(cov)) * n / max(n - p, 1) * inflation


def jackknife_variance(
    y: np.ndarray,
    x: np.ndarray,
    q: np.ndarray,
    result: RegressionResult,
    groups: np.ndarray,
    max_groups: int = 200,
) -> np.ndarray:
    """Delete-one-group jackknife variance of each complex coefficient with the final weights held, ``(p,)``.

    Parameters
    ----------
    y, x, q
        Output ``(n,)``, inputs ``(n, p)`` and reference inputs ``(n, p)`` of the regression.
    result
        The regression result whose weights are held.
    groups
        ``(n,)`` integer group label of each point (its window); labels are merged into at most ``max_groups``
        consecutive groups.
    max_groups
        Most groups used.

    Returns
    -------
    numpy.ndarray
        Variances; NaN when fewer than 3 groups carry weight.
    """
    w = result.weights
    use = w > 0
    labels = np.unique(groups[use], return_inverse=True)[1]
    n_labels = labels.max() + 1 if labels.size else 0
    p = x.shape[1]
    if n_labels < 3:
        return np.full(p, np.nan)
    merged = labels * min(max_groups, n_labels) // n_labels
    del labels
    g_count = merged.max() + 1
    sums = kernels.group_sums(merged, w, as_complex(y), as_complex(x), as_complex(q), g_count)  # one pass
    z = sums[:, 0::2] + 1j * sums[:, 1::2]
    a_g, b_g = z[:, :4].reshape(g_count, p, p), z[:, 4:]
    a_all, b_all = a_g.sum(0), b_g.sum(0)
    a_del, b_del = a_all[None] - a_g, b_all[None] - b_g
    det = np.abs(np.linalg.det(a_del))
    ok = det > 1e-12 * np.abs(np.linalg.det(a_all))
    if np.count_nonzero(ok) < 3:
        return np.full(p, np.nan)
    coef = np.linalg.solve(a_del[ok], b_del[ok][..., None])[..., 0]
    g = coef.shape[0]
    dev = coef - coef.mean(axis=0)
    return (g - 1) / g * np.sum(np.abs(dev) ** 2, axis=0)


def group_sums(labels: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """``(n_groups, k)`` sums of the complex rows ``values`` ``(n, k)`` by integer label (one pass per column)."""
    parts = np.ascontiguousarray(values).view(np.float64)
    sums = [np.bincount(labels, weights=parts[:, j], minlength=n_groups) for j in range(parts.shape[1])]
    return np.ascontiguousarray(np.stack(sums, axis=1)).view(complex)


def least_rho_error(coherence: np.ndarray, n_points: np.ndarray) -> np.ndarray:
    """The least relative standard error of rho_a that ``n_points`` independent data of multiple coherence
    ``coherence`` allow any unbiased estimator (dimensionless; rho_a in ohm-m alike).

    For ``E = Z H + e`` with complex Gaussian noise ``e`` on E alone, least squares is efficient (Gauss-Markov) and
    ``E|Z_hat - Z|^2 / |Z|^2 = (1 - gamma^2) / (N gamma^2)`` (Bendat & Piersol 2010, Random Data, sec. 9.3), of
    which the radial half moves ``|Z|``; ``rho_a ~ |Z|^2`` doubles the relative error:
    ``2 sqrt((1 - gamma^2) / (2 N gamma^2))``. Correlated data points (adjacent bins of a tapered window) and noise
    on H only raise it: with the estimator's coherence and point count it is a lower bound. Infinite where the
    coherence is 0 or not finite.
    """
    g2 = np.asarray(coherence, dtype=float) ** 2
    n = np.maximum(np.asarray(n_points, dtype=float), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = 2.0 * np.sqrt((1.0 - g2) / (2.0 * n * g2))
    return np.where(np.isfinite(sd), sd, np.inf)
