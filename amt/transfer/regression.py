"""Complex linear regression of one output channel on two input channels: OLS, robust, remote reference.

The model is ``y_i = x_i^T b + r_i`` for complex data (one row per window and bin of a band). With a remote
reference ``q_i`` (the remote site's horizontal H), the estimate is ``b = (Q^H W X)^-1 Q^H W y``; without one
``q_i = x_i`` and this is weighted least squares.

Robust estimation is iteratively reweighted least squares in three parts:

1. leverage control: weights from the normalised hat-matrix diagonal ``y_i = n h_i / p`` (a spike on H is a
   leverage point that an M-estimate on residuals alone does not bound; Chave & Thomson 2003, 2004), accumulated
   as a product over iterations;
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
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.special

from amt.errors import AmtError


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
"""Rows per block where a regression's products are formed a block at a time: temporaries of about 1 MiB."""

KEEP_ROWS = 1 << 17
"""Regressions of at most this many points keep their per-point products (12 MiB at most), larger ones stream."""


def row_blocks(n: int) -> list[slice]:
    """Consecutive slices of at most :data:`BLOCK_ROWS` rows covering ``range(n)`` (one slice when ``n`` is 0)."""
    return [slice(i, min(i + BLOCK_ROWS, n)) for i in range(0, max(n, 1), BLOCK_ROWS)]


def as_complex(v: np.ndarray) -> np.ndarray:
    """``v`` as a complex array without a copy when it already is one (single or double precision)."""
    v = np.asarray(v)
    return v if v.dtype in (np.complex64, np.complex128) else v.astype(complex)


class _Design:
    """The weighted sums over the data points that every weighted solve of one regression needs.

    ``y``, ``X`` and ``Q`` are kept as given (single-precision spectra stay single precision, no complex128 copy);
    every product is formed in complex128. Up to :data:`KEEP_ROWS` points the per-point products are kept: row
    ``i`` of ``qx`` is ``conj(q_i) x_i^T`` flattened and row ``i`` of ``qy`` is ``conj(q_i) y_i``, so that
    ``Q^H W X = sum_i w_i qx_i`` and ``Q^H W y = sum_i w_i qy_i`` are real-weighted sums over the rows (one BLAS
    matrix-vector product on the real view), and the hat diagonal ``x_i^T A^-1 conj(q_i)`` is the product of ``qx``
    with the transposed inverse of the ``p x p`` matrix ``A``. Larger regressions keep no products: the real and
    imaginary parts of ``X``, ``y`` (and ``Q``) are kept as rows in the inputs' precision (24 bytes a point for
    single-site complex64 spectra), widened to float64 a block of :data:`BLOCK_ROWS` points at a time, and every
    sum is a real BLAS matrix product per block, ``(rows of Q) W (rows of [X y])^T``, from which the complex sums
    follow (:func:`_conj_product`); the hat diagonal is ``sum_k x_ik t_ik`` with ``t_i = A^-1 conj(q_i)``. The same
    sums in another order: equal to rounding (tests/amt/transfer/test_fast_regression.py).
    """

    def __init__(self, y: np.ndarray, x: np.ndarray, q: np.ndarray) -> None:
        self.n, self.p = x.shape
        self.y, self.x, self.q = y, x, q
        self.blocks = row_blocks(self.n)
        self.qx = self.qy = None
        if self.n <= KEEP_ROWS:
            qc, xc = q.astype(complex).conj(), x.astype(complex)
            self.qx = (qc[:, :, None] * xc[:, None, :]).reshape(self.n, self.p * self.p)
            self.qy = qc * y.astype(complex)[:, None]
            return
        # streamed: the real and imaginary parts as rows, in the inputs' own precision (float32 from complex64)
        p2 = 2 * self.p
        self._rows = np.empty((p2 + 2, self.n), x.real.dtype)
        self._rows[0:p2:2], self._rows[1:p2:2], self._rows[p2], self._rows[p2 + 1] = x.real.T, x.imag.T, y.real, y.imag
        self._q_rows = None
        self._fx = np.empty((p2 + 2, BLOCK_ROWS))
        if q is not x:
            self._q_rows = np.empty((p2, self.n), q.real.dtype)
            self._q_rows[0::2], self._q_rows[1::2] = q.real.T, q.imag.T
            self._fq = np.empty((p2, BLOCK_ROWS))

    def _floats(self, s: slice) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``Re x_0, Im x_0, ..., Re x_p-1, Im x_p-1, Re y, Im y`` of one block and the ``2p`` rows of
        ``q`` alike, float64 ``(2p + 2, rows)`` and ``(2p, rows)`` (buffers reused by the next block)."""
        rows, p2 = s.stop - s.start, 2 * self.p
        fx = self._fx[:, :rows]
        fx[...] = self._rows[:, s]
        if self._q_rows is None:
            return fx, fx[:p2]
        fq = self._fq[:, :rows]
        fq[...] = self._q_rows[:, s]
        return fx, fq

    def _weighted(self, w: np.ndarray, with_y: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """``Q^H W X`` ``(p, p)`` and, with ``with_y``, ``Q^H W y`` ``(p,)``."""
        if self.qx is not None:
            a = (w @ self.qx.view(np.float64)).view(complex).reshape(self.p, self.p)
            return a, (w @ self.qy.view(np.float64)).view(complex) if with_y else None
        g = 0.0
        for s in self.blocks:
            fx, fq = self._floats(s)
            g = g + (fq * w[s]) @ fx.T
        return self._from_real_sums(g, with_y)

    def _from_real_sums(self, g: np.ndarray, with_y: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """``Q^H W X`` and ``Q^H W y`` from ``g[2j + e, 2k + f] = sum_i w_i (re, im)_e(q_ij) (re, im)_f(x_ik)``
        (``y`` as column ``p``)."""
        a = _conj_product(g[:, : 2 * self.p])
        return a, _conj_product(g[:, 2 * self.p :])[:, 0] if with_y else None

    def cross(self, w: np.ndarray) -> np.ndarray:
        """``Q^H W X``, ``(p, p)``."""
        return self._weighted(w, False)[0]

    def solve(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients and ``Q^H W X`` of the weighted (remote-reference) least-squares problem."""
        return _solved(*self._weighted(w, True))

    def hat_diagonal(self, w: np.ndarray, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``|h_i|`` with ``H = X (Q^H W X)^-1 Q^H W`` (the hat matrix; Hermitian projection when ``Q = X``).

        Written into ``out`` (``(n,)`` float64) when given.
        """
        h = np.empty(self.n) if out is None else out
        if self.qx is not None:
            np.abs(self.qx @ _inverse(a).T.reshape(-1), out=h)
            h *= w
            return h
        self._hat_pass(w, a, h, None)
        return h

    def reweighted_solve(
        self, w: np.ndarray, a: np.ndarray, h: np.ndarray, reweight: Callable[[slice], None]
    ) -> tuple[np.ndarray, np.ndarray]:
        """The hat diagonal of the weights ``w`` (``a`` their ``Q^H W X``) into ``h``, new weights from it, and the
        solve with those.

        ``reweight(s)`` writes the new weights ``w[s]`` from ``h[s]`` in place, point by point; streamed, the hat
        diagonal and the sums of the new solve take one pass over the data.

        Raises
        ------
        RegressionError
            If no more than ``p`` points keep a positive weight.
        """
        if self.qx is not None:
            self.hat_diagonal(w, a, out=h)
            reweight(slice(0, self.n))
            _check_in_use(w, self.p)
            return self.solve(w)
        g = self._hat_pass(w, a, h, reweight)
        _check_in_use(w, self.p)
        return _solved(*self._from_real_sums(g, True))

    def _hat_pass(
        self, w: np.ndarray, a: np.ndarray, h: np.ndarray, reweight: Callable[[slice], None] | None
    ) -> np.ndarray | None:
        """Streamed hat diagonal into ``h``; with ``reweight``, also the real sums of the reweighted solve."""
        # h_i = sum_k x_ik t_ik with t = A^-1 conj(q_i); the rows of lm give (Re t_k, -Im t_k) from those of q
        lm = _hat_rows(_inverse(a))
        p2, g = 2 * self.p, 0.0
        for s in self.blocks:
            fx, fq = self._floats(s)
            t = lm @ fq
            re = t * fx[:p2]
            im = fx[1:p2:2] * t[0::2]
            im -= fx[0:p2:2] * t[1::2]
            hr, hi = re.sum(axis=0), im.sum(axis=0)
            hr *= hr
            hi *= hi
            hs = np.sqrt(np.add(hr, hi, out=h[s]), out=h[s])
            hs *= w[s]
            if reweight is not None:
                reweight(s)
                g = g + (fq * w[s]) @ fx.T
        return g if reweight is not None else None

    def residuals(self, c: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``y - X c``, ``(n,)`` complex128 (into ``out`` when given)."""
        r = np.empty(self.n, complex) if out is None else out
        for s in self.blocks:
            np.matmul(self.x[s].astype(complex), c, out=r[s])
            np.subtract(self.y[s], r[s], out=r[s])
        return r

    def residual_magnitudes(self, c: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``|y - X c|``, written into the ``(n,)`` float64 ``out``."""
        if self.qx is not None:
            r = self.x.astype(complex) @ c
            np.subtract(self.y, r, out=r)
            return np.abs(r, out=out)
        cm = np.zeros((2, 2 * self.p))  # rows: Re and Im of X c from the rows of _floats
        cm[0, 0::2], cm[0, 1::2], cm[1, 0::2], cm[1, 1::2] = c.real, -c.imag, c.imag, c.real
        p2 = 2 * self.p
        for s in self.blocks:
            fx, _ = self._floats(s)
            xc = cm @ fx[:p2]
            np.subtract(fx[p2:], xc, out=xc)
            xc *= xc
            np.sqrt(np.add(xc[0], xc[1], out=out[s]), out=out[s])
        return out


def _conj_product(g: np.ndarray) -> np.ndarray:
    """``sum w conj(q_j) v_k`` ``(p, m)`` from the real sums ``g[2j + e, 2k + f]`` of ``(re, im)`` parts."""
    return (g[0::2, 0::2] + g[1::2, 1::2]) + 1j * (g[0::2, 1::2] - g[1::2, 0::2])


def _hat_rows(m: np.ndarray) -> np.ndarray:
    """``(2p, 2p)`` real rows that map the ``(Re, Im)`` rows of ``q`` to the rows ``Re t_k, -Im t_k`` of
    ``t = m conj(q)``: ``sum_k x_k t_k`` then has real part ``sum_k Re x_k Re t_k + Im x_k (-Im t_k)``."""
    p = m.shape[0]
    out = np.zeros((2 * p, 2 * p))
    out[0::2, 0::2], out[0::2, 1::2] = m.real, m.imag  # Re t_k = Mr qr + Mi qi
    out[1::2, 0::2], out[1::2, 1::2] = -m.imag, m.real  # -Im t_k = -(Mi qr - Mr qi)
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


def _check_in_use(w: np.ndarray, p: int) -> None:
    """:class:`RegressionError` unless more than ``p`` weights are positive."""
    if np.count_nonzero(w > 0) <= p:
        raise RegressionError("robust weighting left too few data points")


def _rayleigh_scale(r: np.ndarray, w: np.ndarray) -> float:
    """``sigma`` from the median of ``|r|`` over points in use (Rayleigh median is ``sigma sqrt(ln 2)``)."""
    return _scale_of_magnitudes(np.abs(r), w)


def _scale_of_magnitudes(mag: np.ndarray, w: np.ndarray) -> float:
    """:func:`_rayleigh_scale` from the residual magnitudes ``|r|``."""
    mag = mag[w > 0]  # a copy: the median may reorder it
    return float(median(mag) / np.sqrt(np.log(2.0))) if mag.size else 0.0


def median(v: np.ndarray) -> float:
    """``np.median`` of a 1-D array, bit for bit, by partitioning only the values near it; ``v`` may be reordered.

    A strided sample of about 1024 values brackets the middle (its 45 % and 55 % quantiles); when the two middle
    order statistics of ``v`` lie inside the bracket (checked by counting), only the values inside it are
    partitioned (about a tenth of them), else, and for NaN or short arrays, the whole array is.
    """
    n = v.size
    if n < 4096 or np.isnan(v.sum()):
        return float(np.median(v, overwrite_input=True))
    k_lo, k_hi = (n - 1) // 2, n // 2  # ranks of the two middle values (equal when n is odd)
    lo, hi = np.quantile(v[:: n // 1024], [0.45, 0.55])
    below = int(np.count_nonzero(v < lo))
    inside = v[(v >= lo) & (v <= hi)]
    if not below <= k_lo or not below + inside.size > k_hi:
        return float(np.median(v, overwrite_input=True))
    part = np.partition(inside, [k_lo - below, k_hi - below])
    return float(np.mean(part[[k_lo - below, k_hi - below]])) if k_lo != k_hi else float(part[k_lo - below])


def thomson_weight(u: np.ndarray, chi: float, out: np.ndarray | None = None) -> np.ndarray:
    """Thomson's redescending weight ``exp(exp(-chi^2)) exp(-exp(chi (u - chi)))`` (1 at ``u = 0``).

    Written into ``out`` when given (which may be ``u`` itself).
    """
    t = np.subtract(u, chi, out=out)
    t *= chi
    np.clip(t, -50, 50, out=t)
    np.exp(t, out=t)
    np.negative(t, out=t)
    np.exp(t, out=t)
    t *= np.exp(np.exp(-(chi**2)))
    return t


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
    y, x = as_complex(y), as_complex(x)  # single precision stays so: the products widen block by block
    q = x if remote is None else as_complex(remote)
    w0 = np.ones(n) if prior is None else np.asarray(prior, dtype=float)
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
    # same array (|r| is spent once the robust weights are made from it), and the weights
    u, w = np.empty(n), np.empty(n)
    h = u
    sigma = _scale_of_magnitudes(design.residual_magnitudes(coef, out=u), w0)
    unit_prior = bool(np.all(w0 == 1.0))

    def times_prior(v: np.ndarray, out: np.ndarray | None = None, at: slice = slice(None)) -> np.ndarray:
        """``w0 v`` (points ``at``), into ``out[at]`` when given."""
        if out is not None:
            out = out[at]
        if not unit_prior:
            return np.multiply(w0[at], v[at], out=out)
        if out is None:  # 1 * v is v exactly: skip the pass
            return v[at]
        out[...] = v[at]
        return out

    def step(stage: str, c: np.ndarray, aa: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        nonlocal w_lev, w_rob, sigma, u, w, h
        for _ in range(robust.max_iterations):
            design.residual_magnitudes(c, out=u)
            w_now = times_prior(w_lev)
            if stage == "huber":
                sigma = _scale_of_magnitudes(u, w_now)
            if sigma <= 0:
                break
            u /= sigma
            if stage == "huber":
                np.maximum(u, 1e-300, out=w_rob)
                np.divide(robust.huber_k, w_rob, out=w_rob)
                np.minimum(w_rob, 1.0, out=w_rob)
            else:
                thomson_weight(u, chi_res, out=w_rob)
            np.multiply(w_now, w_rob, out=w)
            del w_now
            if robust.leverage:
                n_eff = np.count_nonzero(w > 1e-12 * w.max())

                def reweight(s: slice, n_eff: int = n_eff) -> None:  # point by point: leverage weights from h
                    hs = h[s]
                    hs *= n_eff
                    hs /= p
                    w_lev[s] *= thomson_weight(hs, chi_lev, out=hs)
                    times_prior(w_lev, out=w, at=s)
                    w[s] *= w_rob[s]

                c_new, aa = design.reweighted_solve(w, design.cross(w), h, reweight)
            else:
                _check_in_use(w, p)
                c_new, aa = design.solve(w)
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
            w_lev, w_rob = readmitted, np.ones(n)
            coef, a = design.solve(times_prior(w_lev, out=w))
            robust = dataclasses.replace(robust, leverage=False)  # the leverage weights are final from here
            coef, a, sigma = stages()
    times_prior(w_lev, out=w)
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
