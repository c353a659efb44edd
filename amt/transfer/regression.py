"""Complex linear regression of one output channel on two input channels: OLS, robust, remote reference.

The model is ``y_i = x_i^T b + r_i`` for complex data (one row per window and bin of a band). With a remote
reference ``q_i`` (the remote site's horizontal H), the estimate is ``b = (Q^H W X)^-1 Q^H W y``; without one
``q_i = x_i`` and this is weighted least squares.

Robust estimation is iteratively reweighted least squares in three parts:

1. leverage control: weights from the normalised hat-matrix diagonal ``y_i = n h_i / p`` (a spike on H is a
   leverage point that an M-estimate on residuals alone does not bound; Chave & Thomson 2003, 2004), accumulated
   as a product, updated at the first iteration of the Huber and of the redescending stage and held within each
   (each stage then reweights with its leverage weights fixed). Updated at every iteration instead, the product
   does not converge where H is heavy-tailed (AMT sferics): every cut raises the hat diagonal of the points left,
   and the next layer of the tail is cut. On a 10-minute 24 kHz record with 20 storm sferics/s (the benchmark
   record of ``benchmarks.amt_pipeline``) 15 of the 159 Huber stages ended at the iteration cap, the estimate
   depended on that cap (Zxy at 9.5 kHz off the analytic truth by 1.3, 20 and 43 % at 10, 20 and 40
   iterations) and its estimate took 1.7 x the CPU (15.4 against 8.8 s). Held, the estimate no longer depends on
   the cap outside the dead band's weak signal (``tests/amt/transfer/test_convergence.py``); inside it the
   redescending stage can still move with the cap (Zxy at 1.36 kHz on that record 9, 13 and 60 % off the truth at
   10, 20 and 40 iterations), where the conventional estimate is poor whatever the cap;
2. a Huber M-estimate (``k = 1.5`` robust scale units; Egbert & Booker 1986), the scale re-estimated from the
   median absolute residual at every iteration;
3. a redescending stage with Thomson's weight ``exp(exp(-chi^2)) exp(-exp(chi (u - chi)))``, ``chi`` the
   ``1 - 1/n`` quantile of the Rayleigh distribution of ``|r| / sigma`` (Chave & Thomson 1989), the scale held;
4. re-admission of good leverage points: where the natural signal is impulsive (AMT sferics), the windows that
   carry it are exactly the high-leverage ones, and bounded influence alone would fit the noise between them.
   Cut points that agree with one another are restored and the Huber and Thomson stages rerun with the leverage
   weights held (:func:`_readmit_good_leverage`).

References
----------
Egbert, G. D. and Booker, J. R. (1986), Robust estimation of geomagnetic transfer functions, Geophys. J. R. astr.
Soc. 87, 173-194.
Chave, A. D. and Thomson, D. J. (1989), Some comments on magnetotelluric response function estimation, J.
Geophys. Res. 94, 14215-14225.
Chave, A. D. and Thomson, D. J. (2004), Bounded influence magnetotelluric response function estimation, Geophys.
J. Int. 157, 988-1006.
Gamble, T. D., Goubau, W. M. and Clarke, J. (1979), Magnetotellurics with a remote magnetic reference,
Geophysics 44, 53-68.
Rousseeuw, P. J. and van Zomeren, B. C. (1990), J. Am. Stat. Assoc. 85, 633-639 (good and bad leverage points).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import scipy.special

from amt.errors import AmtError
from amt.transfer import kernels


class RegressionError(AmtError):
    """A regression has no solution (too few data, singular inputs); the message says which."""


@dataclass(frozen=True)
class RobustConfig:
    """Settings of the robust estimator.

    Parameters
    ----------
    huber_k
        Huber threshold in units of the residual scale.
    max_iterations
        Iterations per stage.
    tolerance
        Relative change of the coefficients that ends a stage.
    leverage
        Whether leverage weights are applied.
    redescend
        Whether the Thomson redescending stage follows the Huber stage.
    readmit
        Whether leverage points that agree with one another (impulsive natural sources) are restored after the
        leverage stage (:func:`_readmit_good_leverage`); only with ``leverage``.
    min_tail_count
        The cut-offs of the redescending and leverage weights sit at the ``1 - 1/n`` quantile of the
        Rayleigh and Gamma(p) distributions (Chave & Thomson 2004), with ``n`` at least this many (so that a band
        of a dozen points is not cut at its own median).
    """

    huber_k: float = 1.5
    max_iterations: int = 20
    tolerance: float = 1e-3
    leverage: bool = True
    redescend: bool = True
    min_tail_count: int = 100
    readmit: bool = True


@dataclass
class RegressionResult:
    """Outcome of one regression.

    Attributes
    ----------
    coef
        ``(p,)`` complex coefficients.
    weights
        ``(n,)`` final weights (prior x robust x leverage).
    residuals
        ``(n,)`` complex residuals ``y - X coef``.
    scale
        Robust residual scale ``sigma`` (``E|r|^2 = sigma^2`` for complex Gaussian noise).
    cross_power
        ``Q^H W X``, the ``(p, p)`` weighted input cross-power.
    """

    coef: np.ndarray
    weights: np.ndarray
    residuals: np.ndarray
    scale: float
    cross_power: np.ndarray


BLOCK_ROWS = 1 << 15
"""Rows per block where the band estimator forms products a block at a time: temporaries of about 1 MiB."""


def row_blocks(n: int) -> list[slice]:
    """Consecutive slices of at most :data:`BLOCK_ROWS` rows covering ``range(n)`` (one slice when ``n`` is 0)."""
    return [slice(i, min(i + BLOCK_ROWS, n)) for i in range(0, max(n, 1), BLOCK_ROWS)]


def as_complex(v: np.ndarray) -> np.ndarray:
    """``v`` as a C-contiguous complex array without a copy when it already is one (single or double precision)."""
    v = np.asarray(v)
    return np.ascontiguousarray(v if v.dtype in (np.complex64, np.complex128) else v.astype(complex))


class _Design:
    """The data of one regression and the passes over its points that every weighted solve needs.

    ``y``, ``X`` and ``Q`` are kept as rows of their real and imaginary parts in their own precision
    (:func:`amt.transfer.kernels.rows`: 24 bytes a point for single-site complex64 spectra); every product is
    formed in double precision point by point in a compiled loop (:mod:`amt.transfer.kernels`):
    ``Q^H W X = sum_i w_i conj(q_i) x_i^T`` and ``Q^H W y``, the residual magnitudes ``|y_i - x_i^T c|`` and the hat
    diagonal ``|x_i^T A^-1 conj(q_i)| w_i``. The same sums as the formulas, in another order: equal to rounding
    (tests/amt/transfer/test_fast_regression.py).
    """

    def __init__(self, y: np.ndarray, x: np.ndarray, q: np.ndarray) -> None:
        self.n, self.p = x.shape
        self.hermitian = q is x  # single-site: Q^H W X is Hermitian
        self.d, self.dq = kernels.rows(y, x, None if self.hermitian else q)

    def cross(self, w: np.ndarray) -> np.ndarray:
        """``Q^H W X``, ``(p, p)``."""
        return kernels.weighted_sums(w, self.d, self.dq, self.hermitian)[0]

    def solve(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients and ``Q^H W X`` of the weighted (remote-reference) least-squares problem."""
        return _solved(*kernels.weighted_sums(w, self.d, self.dq, self.hermitian))

    def reweighted_solve(
        self, factor: np.ndarray, w0: np.ndarray, w_lev: np.ndarray, w_rob: np.ndarray, w: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``w_lev *= factor``, the weights ``w = w0 w_lev w_rob`` written into ``w``, and the coefficients and
        ``Q^H W X`` of those (one pass over the points for the weights and the sums).

        Raises
        ------
        RegressionError
            If no more than ``p`` points keep a positive weight.
        """
        return _counted(*kernels.reweighted_sums(factor, w0, w_lev, w_rob, w, self.d, self.dq, self.hermitian), self.p)

    def huber_solve(
        self, mag: np.ndarray, sigma: float, k: float, w0: np.ndarray, w_lev: np.ndarray, w_rob: np.ndarray,
        w: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """Huber's weights ``w_rob = min(1, k sigma / |r|)`` of the residual magnitudes ``mag``, ``w = w0 w_lev w_rob``
        (both written in place), and the coefficients and ``Q^H W X`` of those, in one pass over the points.

        Raises
        ------
        RegressionError
            If no more than ``p`` points keep a positive weight.
        """
        sums = kernels.huber_sums(mag, sigma, k, w0, w_lev, w_rob, w, self.d, self.dq, self.hermitian)
        return _counted(*sums, self.p)

    def combined_solve(
        self, w0: np.ndarray, w_lev: np.ndarray, w_rob: np.ndarray, w: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``w = w0 w_lev w_rob`` written in place, and the coefficients and ``Q^H W X`` of those, in one pass.

        Raises
        ------
        RegressionError
            If no more than ``p`` points keep a positive weight.
        """
        return _counted(*kernels.combined_sums(w0, w_lev, w_rob, w, self.d, self.dq, self.hermitian), self.p)

    def hat_diagonal(
        self, w: np.ndarray, a: np.ndarray, out: np.ndarray | None = None, scale: float = 1.0
    ) -> np.ndarray:
        """``|h_i|`` with ``H = X (Q^H W X)^-1 Q^H W`` (the hat matrix; Hermitian projection when ``Q = X``), times
        ``scale``.

        Written into ``out`` (``(n,)`` float64) when given.
        """
        h = np.empty(self.n) if out is None else out
        kernels.hat_diagonal(self.d, self.dq, _inverse(a), w, scale, h)
        return h

    def residuals(self, c: np.ndarray) -> np.ndarray:
        """``y - X c``, ``(n,)`` complex128."""
        r = np.empty(self.n, complex)
        kernels.residuals(self.d, c, r)
        return r

    def residual_magnitudes(self, c: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``|y - X c|``, written into the ``(n,)`` float64 ``out``."""
        kernels.residual_magnitudes(self.d, c, out)
        return out


def _inverse(a: np.ndarray) -> np.ndarray:
    """``a^-1``, or :class:`RegressionError` when the weighted cross-power is singular."""
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError as exc:
        raise RegressionError("weighted input cross-power is singular (weights left one polarisation?)") from exc


def _solved(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(a^-1 b, a)``, or :class:`RegressionError` when ``a`` is singular."""
    try:
        return np.linalg.solve(a, b), a
    except np.linalg.LinAlgError as exc:
        raise RegressionError("input cross-power is singular (one source polarisation?)") from exc


def _counted(a: np.ndarray, b: np.ndarray, positive: int, p: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_solved`, refused with :class:`RegressionError` unless more than ``p`` weights are positive
    (``positive`` of them)."""
    if positive <= p:
        raise RegressionError("robust weighting left too few data points")
    return _solved(a, b)


def _rayleigh_scale(r: np.ndarray, w: np.ndarray) -> float:
    """``sigma`` from the median of ``|r|`` over points in use (Rayleigh median is ``sigma sqrt(ln 2)``)."""
    return _scale(np.abs(r)[w > 0])


def _scale(mag: np.ndarray) -> float:
    """:func:`_rayleigh_scale` from the residual magnitudes ``|r|`` of the points in use (reordered)."""
    return float(median(mag) / np.sqrt(np.log(2.0))) if mag.size else 0.0


def _scale_in_use(mag: np.ndarray, w0: np.ndarray, w_lev: np.ndarray, work: np.ndarray) -> float:
    """:func:`_rayleigh_scale` from the residual magnitudes ``|r|`` of the points with ``w0 w_lev > 0`` (``work``:
    ``(n,)`` float64 scratch)."""
    m = median_in_use(mag, w0, w_lev, work)
    return 0.0 if m is None else float(m / np.sqrt(np.log(2.0)))


def median(v: np.ndarray) -> float:
    """``np.median`` of a 1-D array, bit for bit (:func:`median_in_use` with every point in use)."""
    ones = np.ones(v.size)
    m = median_in_use(v, ones, ones, np.empty(v.size))
    return np.nan if m is None else m


def median_in_use(v: np.ndarray, w0: np.ndarray, w_lev: np.ndarray, work: np.ndarray) -> float | None:
    """``np.median`` of the values ``v`` of the points with ``w0 w_lev > 0``, bit for bit, by partitioning only
    the values near it (None when no point is in use; ``work``: ``(n,)`` float64 scratch).

    A strided sample of about 1024 of the values in use brackets the middle (its 45 % and 55 % quantiles); one
    compiled pass (:func:`amt.transfer.kernels.bracket_in_use`) counts the values in use and those below the
    bracket and packs those inside it; when the two middle order statistics lie inside the bracket, only the
    values inside it are partitioned (about a tenth of them), else, and for NaN or fewer than 4096 values, all the
    values in use are.
    """
    stride = max(v.size // 1024, 1)
    sample = v[::stride][w0[::stride] * w_lev[::stride] > 0]
    if sample.size >= 256:
        lo, hi = np.quantile(sample, [0.45, 0.55])
        m, below, inside, nan = kernels.bracket_in_use(v, w0, w_lev, lo, hi, work)
        k_lo, k_hi = (m - 1) // 2, m // 2  # ranks of the two middle values (equal when m is odd)
        if m >= 4096 and not nan and below <= k_lo and below + inside > k_hi:
            part = np.partition(work[:inside], [k_lo - below, k_hi - below])
            lo_v, hi_v = part[k_lo - below], part[k_hi - below]
            return float(np.mean([lo_v, hi_v])) if k_lo != k_hi else float(lo_v)
    m = kernels.pack_in_use(v, w0, w_lev, work)
    return float(np.median(work[:m], overwrite_input=True)) if m else None


def thomson_weight(u: np.ndarray, chi: float, out: np.ndarray | None = None) -> np.ndarray:
    """Thomson's redescending weight ``exp(exp(-chi^2)) exp(-exp(chi (u - chi)))`` (1 at ``u = 0``).

    Written into ``out`` when given (which may be ``u`` itself).
    """
    t = kernels.thomson_exponent(u, chi, np.empty(u.shape) if out is None else out)  # chi (u - chi), clipped
    np.exp(t, out=t)
    np.negative(t, out=t)
    np.exp(t, out=t)
    t *= np.exp(np.exp(-(chi**2)))
    return t


def thomson_weight_far(u: np.ndarray, chi: float, scratch: np.ndarray) -> np.ndarray:
    """:func:`thomson_weight` of ``u`` in place (1-D float64), for values mostly far from the cut-off (the leverage
    weights: most points of a band sit at the clip ``chi (u - chi) = -50``): the exponentials are evaluated only
    where the weight is neither ``exp(exp(-chi^2))`` nor 0 to rounding (:func:`amt.transfer.kernels.thomson_far`),
    there by the same operations as :func:`thomson_weight`. ``scratch``: ``(n,)`` int64.
    """
    between = scratch[: kernels.thomson_far(u, chi, u, scratch)]
    t = u[between]
    np.exp(t, out=t)
    np.negative(t, out=t)
    np.exp(t, out=t)
    t *= np.exp(np.exp(-(chi**2)))
    u[between] = t
    return u


def regress(
    y: np.ndarray,
    x: np.ndarray,
    remote: np.ndarray | None = None,
    prior: np.ndarray | None = None,
    robust: RobustConfig | None = RobustConfig(),
) -> RegressionResult:
    """Estimate ``b`` in ``y = X b`` (least squares when ``robust`` is None, else robust IRLS).

    Parameters
    ----------
    y
        ``(n,)`` complex output (e.g. Ex Fourier coefficients in a band).
    x
        ``(n, p)`` complex local inputs (Hx, Hy).
    remote
        ``(n, p)`` complex remote-reference inputs, or None for a single-site estimate.
    prior
        ``(n,)`` non-negative prior weights (window weights); points with weight 0 take no part.
    robust
        Robust settings, or None for (remote-reference) least squares.

    Returns
    -------
    RegressionResult
    """
    n, p = x.shape
    if p != 2:
        raise RegressionError(f"{p} input channels: the estimator regresses on two (Hx, Hy)")
    y, x = as_complex(y), as_complex(x)  # single precision stays so: the products are formed in double
    q = x if remote is None else as_complex(remote)
    w0 = np.ones(n) if prior is None else np.ascontiguousarray(prior, dtype=float)
    if np.count_nonzero(w0 > 0) <= p:
        raise RegressionError(f"{np.count_nonzero(w0 > 0)} data points in use for {p} unknowns")
    design = _Design(y, x, q)
    coef, a = design.solve(w0)
    if robust is None:
        r = design.residuals(coef)
        return RegressionResult(coef, w0, r, _rayleigh_scale(r, w0), a)

    n_use = int(np.count_nonzero(w0 > 0))
    tail = 1.0 / max(n_use, robust.min_tail_count)
    chi_lev = float(scipy.special.gammaincinv(p, 1.0 - tail) / p)  # Gamma(p) quantile
    chi_res = float(np.sqrt(-np.log(tail)))  # Rayleigh: P(u > chi) = exp(-chi^2)
    w_lev = np.ones(n)
    w_rob = np.ones(n)
    # working arrays of n points, reused by every iteration (float64): |r| / sigma, then the hat diagonal in the
    # same array (|r| is spent once the robust weights are made from it), and the weights, whose array is also the
    # median's scratch (the weights are made anew from w0 w_lev w_rob after the scale)
    u, w = np.empty(n), np.empty(n)
    sigma = _scale_in_use(design.residual_magnitudes(coef, u), w0, w_lev, w)

    def step(stage: str, c: np.ndarray, aa: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        nonlocal sigma
        huber = stage == "huber"
        for k in range(robust.max_iterations):
            design.residual_magnitudes(c, u)
            if huber:  # the scale over the points in use, w0 w_lev > 0
                sigma = _scale_in_use(u, w0, w_lev, w)
            if sigma <= 0:
                break
            # w_rob = Huber's min(1, k / u) or Thomson's weight of u = |r| / sigma, w = w0 w_lev w_rob
            if not huber:
                np.divide(u, sigma, out=u)
                thomson_weight(u, chi_res, out=w_rob)
            if not (robust.leverage and k == 0):  # the weights and the weighted sums in one pass
                c_new, aa = (
                    design.huber_solve(u, sigma, robust.huber_k, w0, w_lev, w_rob, w)
                    if huber
                    else design.combined_solve(w0, w_lev, w_rob, w)
                )
            else:  # a stage's start (module notes): the hat diagonal into u as n_eff h / p, w_lev times its weight
                if huber:
                    kernels.huber_weights(u, sigma, robust.huber_k, w0, w_lev, w_rob, w)
                else:
                    kernels.combine(w0, w_lev, w_rob, w)
                n_eff = kernels.counts(w, 1e-12 * w.max())[1]
                h = design.hat_diagonal(w, design.cross(w), out=u, scale=n_eff / p)
                thomson_weight_far(h, chi_lev, w.view(np.int64))  # w is spent until the solve remakes it
                c_new, aa = design.reweighted_solve(u, w0, w_lev, w_rob, w)
            change = np.max(np.abs(c_new - c)) / max(np.max(np.abs(c_new)), 1e-300)
            c = c_new
            if change < robust.tolerance:
                break
        return c, aa, sigma

    def stages() -> tuple[np.ndarray, np.ndarray, float]:
        c, aa, s = step("huber", coef, a)
        if robust.redescend:  # the redescending stage starts from the Huber solution (Chave & Thomson 2004)
            c, aa, s = step("thomson", c, aa)
        return c, aa, s

    coef, a, sigma = stages()
    if robust.leverage and robust.readmit:
        readmitted = _readmit_good_leverage(y, x, q, w0, w_lev, sigma, chi_res, robust)
        if readmitted is not None:
            w_lev[:], w_rob[:] = readmitted, 1.0
            coef, a = design.solve(np.multiply(w0, w_lev, out=w))
            robust = dataclasses.replace(robust, leverage=False)  # the leverage weights are final from here
            coef, a, sigma = stages()
    np.multiply(w0, w_lev, out=w)
    w *= w_rob
    return RegressionResult(coef, w, design.residuals(coef), sigma, a)


def _readmit_good_leverage(
    y: np.ndarray,
    x: np.ndarray,
    q: np.ndarray,
    w0: np.ndarray,
    w_lev: np.ndarray,
    sigma: float,
    chi: float,
    robust: RobustConfig,
) -> np.ndarray | None:
    """Leverage weights with the good leverage points restored, or None when there is nothing to restore.

    A point the leverage stage cut (weight below 1/2) is a *good* leverage point when it agrees with the other
    cut points (Rousseeuw & van Zomeren 1990 separate good from bad leverage points by their robust residual):
    a bounded-influence fit on the cut points alone explains more than half of its output power, and its residual
    under that fit is small on the scale ``sigma`` of the full fit. Impulsive natural sources (sferics) make good
    leverage points: E follows H through the same impedance, so they fit one another. Spikes on H are bad ones:
    E does not follow, so either the subset fit follows the spikes to a near-zero impedance that explains none
    of their output, or it follows the sferics and leaves the spikes a residual of the spike's size. A restored
    point's leverage weight is raised to the Thomson weight of its standardised residual under the subset fit.

    Rousseeuw, P. J. and van Zomeren, B. C. (1990), Unmasking multivariate outliers and leverage points, J. Am.
    Stat. Assoc. 85, 633-639.
    """
    cut = (w_lev < 0.5) & (w0 > 0)
    if np.count_nonzero(cut) <= 4 * x.shape[1] or sigma <= 0:
        return None
    try:  # bounded influence on the cut points alone: the largest of them (spikes among them) are cut again
        sub = regress(y[cut], x[cut], q[cut], w0[cut], dataclasses.replace(robust, readmit=False))
    except RegressionError:
        return None
    r2, y2 = np.abs(sub.residuals) ** 2, np.abs(y[cut]) ** 2
    explained = r2 < 0.5 * y2  # more than half of the point's output power follows from its input
    restored = w_lev.copy()
    restored[cut] = np.where(explained, np.maximum(w_lev[cut], thomson_weight(np.sqrt(r2) / sigma, chi)), w_lev[cut])
    return restored if np.any(restored > w_lev) else None
