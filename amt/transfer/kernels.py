"""Compiled per-point loops of the robust regression (:mod:`amt.transfer.regression`) on two inputs.

Every iteration of the robust estimator visits every data point of a band a few times: the residual magnitudes,
the weighted input cross-power ``Q^H W X`` with ``Q^H W y``, and, with leverage control, the hat diagonal. Written
as NumPy expressions on complex arrays each of these is several passes over arrays of ``n`` points (``n`` up to
millions on a 10-minute 24 kHz record) with complex128 temporaries; here each is one loop compiled by numba (Lam,
Pitrou and Seibert 2015) in real arithmetic, vectorised by the compiler, keeping no per-point temporaries. The
weight functions themselves (Huber's, Thomson's double exponential) stay NumPy expressions, whose vectorised
``exp`` is several times faster than a compiled loop's call per point.

The data of a regression are kept as rows (:func:`rows`): ``Re x_0, Im x_0, Re x_1, Im x_1, Re y, Im y`` in the
coefficients' own precision (float32 for complex64 spectra; every product is formed in float64), and the reference
``q`` alike (four rows; the first four rows of ``x`` when single-site). One row per part keeps each loop's loads
contiguous, which is what lets the compiler vectorise them. Two inputs (``p = 2``: Hx and Hy, for the impedance
and the tipper alike): the 2 x 2 products are written out.

The arithmetic is that of the formulas in :mod:`amt.transfer.regression`, point by point in double precision.
Sums over points are accumulated a block of :data:`SUM_BLOCK` points at a time, the order of the additions within
a block left to the compiler (numba's ``fastmath={"reassoc"}``: vector lanes), then the blocks summed: the same
sums in another order, equal to rounding. The compiled code is cached beside this module (numba's ``cache=True``):
the first run on a machine compiles it (seconds), later runs load it.

Reference
---------
Lam, S. K., Pitrou, A. and Seibert, S. (2015), Numba: a LLVM-based Python JIT compiler, Proc. Second Workshop on
the LLVM Compiler Infrastructure in HPC, 1-6.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uintp

SUM_BLOCK = 1024
"""Points summed into one partial sum before it is added to the total."""

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}


def rows(y: np.ndarray, x: np.ndarray, q: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The rows of a regression's data: ``(6, n)`` of ``x`` and ``y`` and ``(4, n)`` of ``q`` (a view of the first
    four of ``x`` when ``q`` is None), in the wider of the inputs' real precisions."""
    dtype = np.result_type(y.real.dtype, x.real.dtype)
    d = np.empty((6, len(y)), dtype)
    d[0:4:2], d[1:4:2], d[4], d[5] = x.real.T, x.imag.T, y.real, y.imag
    if q is None:
        return d, d[:4]
    dq = np.empty((4, len(y)), q.real.dtype)
    dq[0::2], dq[1::2] = q.real.T, q.imag.T
    return d, dq


@njit(**_JIT)
def _residual(d: np.ndarray, i: int, c: np.ndarray) -> tuple[float, float]:
    """Real and imaginary parts of ``y_i - x_i^T c`` from the rows ``d`` (:func:`rows`)."""
    x0r, x0i = np.float64(d[0, i]), np.float64(d[1, i])
    x1r, x1i = np.float64(d[2, i]), np.float64(d[3, i])
    c0r, c0i, c1r, c1i = c[0].real, c[0].imag, c[1].real, c[1].imag
    rr = np.float64(d[4, i]) - ((x0r * c0r - x0i * c0i) + (x1r * c1r - x1i * c1i))
    ri = np.float64(d[5, i]) - ((x0r * c0i + x0i * c0r) + (x1r * c1i + x1i * c1r))
    return rr, ri


@njit(**_JIT)
def residual_magnitudes(d: np.ndarray, c: np.ndarray, out: np.ndarray) -> None:
    """``out[i] = |y_i - x_i^T c|`` from the rows ``d``."""
    for i in range(d.shape[1]):
        rr, ri = _residual(d, i, c)
        out[i] = np.sqrt(rr * rr + ri * ri)


@njit(**_JIT)
def residuals(d: np.ndarray, c: np.ndarray, out: np.ndarray) -> None:
    """``out[i] = y_i - x_i^T c`` (complex128) from the rows ``d``."""
    for i in range(d.shape[1]):
        rr, ri = _residual(d, i, c)
        out[i] = rr + 1j * ri


@njit(**_JIT)
def pack_in_use(values: np.ndarray, w0: np.ndarray, w_lev: np.ndarray, out: np.ndarray) -> int:
    """The ``values`` of the points with ``w0 w_lev > 0``, packed into the front of ``out``; returns their count."""
    k = 0
    for i in range(values.size):  # branch-free: every value stored, the count moved only for those in use
        out[k] = values[i]
        k += w0[i] * w_lev[i] > 0
    return k


@njit(**_JIT)
def bracket_in_use(
    values: np.ndarray, w0: np.ndarray, w_lev: np.ndarray, lo: float, hi: float, out: np.ndarray
) -> tuple[int, int, int, bool]:
    """Over the points with ``w0 w_lev > 0``: their count, how many values are below ``lo``, the values in
    ``[lo, hi]`` packed into the front of ``out`` and their count, and whether any value is NaN."""
    m = below = inside = 0
    nan = False
    for i in range(values.size):  # branch-free (the comparisons are unpredictable): counts moved by the tests
        v = values[i]
        use = w0[i] * w_lev[i] > 0
        m += use
        below += use & (v < lo)  # bitwise on the tests: "and" would branch
        out[inside] = v
        inside += use & (v >= lo) & (v <= hi)
        nan |= use & (v != v)
    return m, below, inside, nan


@njit(**_JIT)
def thomson_exponent(u: np.ndarray, chi: float, out: np.ndarray) -> np.ndarray:
    """``out = chi (u - chi)`` clipped to +-50 (NaN kept), the exponent of Thomson's weight."""
    for i in range(u.size):
        t = (u[i] - chi) * chi
        t = t if not t < -50.0 else -50.0
        out[i] = t if not t > 50.0 else 50.0
    return out


@njit(**_JIT)
def thomson_far(u: np.ndarray, chi: float, out: np.ndarray, index: np.ndarray) -> int:
    """Thomson's weight ``exp(exp(-chi^2)) exp(-exp(t))``, ``t = chi (u - chi)`` clipped to +-50, where it needs no
    exponential: where ``t < -41.6`` the inner ``exp(t) < 2^-60`` and the weight is ``exp(exp(-chi^2))`` to
    within that (at most one unit in the last place from the formula), where ``t > 6.62`` the outer exponential
    underflows to 0 exactly. Elsewhere ``out`` gets ``t`` and the point's index is packed into ``index``; returns
    how many were (``out`` may be ``u``)."""
    scale = np.exp(np.exp(-(chi * chi)))
    k = 0
    for i in range(u.size):  # branches: the points between are few, so they are predicted
        t = (u[i] - chi) * chi
        if t < -41.6:
            out[i] = scale
        elif t > 6.62:
            out[i] = 0.0
        else:  # NaN too
            t = t if not t < -50.0 else -50.0
            out[i] = t if not t > 50.0 else 50.0
            index[k] = i
            k += 1
    return k


@njit(**_JIT)
def counts(w: np.ndarray, threshold: float) -> tuple[int, int]:
    """``(#(w > 0), #(w > threshold))``."""
    positive = above = 0
    for i in range(w.size):
        positive += w[i] > 0
        above += w[i] > threshold
    return positive, above


@njit(**_JIT)
def huber_weights(
    u: np.ndarray, sigma: float, k: float, w0: np.ndarray, w_lev: np.ndarray, w_rob: np.ndarray, w: np.ndarray
) -> None:
    """``u /= sigma``, Huber's weight ``w_rob = min(1, k / max(u, 1e-300))`` (NaN kept, as NumPy's ``maximum`` and
    ``minimum``) and ``w = w0 w_lev w_rob``."""
    for i in range(u.size):
        v = u[i] / sigma
        u[i] = v
        r = k / (v if not v < 1e-300 else 1e-300)
        r = r if not r > 1.0 else 1.0
        w_rob[i] = r
        w[i] = w0[i] * w_lev[i] * r


@njit(**_JIT)
def combine(w0: np.ndarray, w_lev: np.ndarray, w_rob: np.ndarray, w: np.ndarray) -> None:
    """``w = w0 w_lev w_rob``."""
    for i in range(w.size):
        w[i] = w0[i] * w_lev[i] * w_rob[i]


_GIVEN, _REWEIGHT, _HUBER, _COMBINE = 0, 1, 2, 3
"""How :func:`_sums` makes the weights it sums with: as given, the leverage update, Huber's, their product."""


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _sums(
    w: np.ndarray, d: np.ndarray, dq: np.ndarray, hermitian: bool, mode: int, factor: np.ndarray,
    w0: np.ndarray, w_lev: np.ndarray, w_rob: np.ndarray, sigma: float, k: float,
) -> tuple[np.ndarray, np.ndarray, int]:  # fmt: skip
    """The loop of :func:`weighted_sums`, :func:`reweighted_sums`, :func:`huber_sums` and :func:`combined_sums`
    (``mode``), with the count of positive weights; with ``hermitian`` (single-site: ``q = x``) ``Q^H W X`` is
    Hermitian and only its upper triangle is summed (``A10 = conj(A01)``, real diagonal)."""
    n = d.shape[1]
    a = np.zeros(12)  # Re, Im of A00, A01, A10, A11, b0, b1
    positive = 0
    for start in range(0, n, SUM_BLOCK):
        s00r = s00i = s01r = s01i = s10r = s10i = s11r = s11i = b0r = b0i = b1r = b1i = 0.0
        for j in range(min(SUM_BLOCK, n - start)):
            i = uintp(start + j)  # unsigned: no negative-index wraparound, so that the loop vectorises
            if mode == _REWEIGHT:  # loop-invariant: the compiler makes one loop of each mode
                w_lev[i] *= factor[i]
                w[i] = w0[i] * w_lev[i] * w_rob[i]
            elif mode == _HUBER:  # as huber_weights, factor holding |r| (left as it is)
                v = factor[i] / sigma
                r = k / (v if not v < 1e-300 else 1e-300)
                r = r if not r > 1.0 else 1.0
                w_rob[i] = r
                w[i] = w0[i] * w_lev[i] * r
            elif mode == _COMBINE:
                w[i] = w0[i] * w_lev[i] * w_rob[i]
            wi = w[i]
            positive += wi > 0
            # conj(q_j) w = (qr, -qi) w; times x_k: (qr xr + qi xi) + i (qr xi - qi xr)
            q0r, q0i = wi * np.float64(dq[0, i]), wi * np.float64(dq[1, i])
            q1r, q1i = wi * np.float64(dq[2, i]), wi * np.float64(dq[3, i])
            x0r, x0i = np.float64(d[0, i]), np.float64(d[1, i])
            x1r, x1i = np.float64(d[2, i]), np.float64(d[3, i])
            yr, yi = np.float64(d[4, i]), np.float64(d[5, i])
            s00r += q0r * x0r + q0i * x0i
            s01r += q0r * x1r + q0i * x1i
            s01i += q0r * x1i - q0i * x1r
            s11r += q1r * x1r + q1i * x1i
            if not hermitian:  # loop-invariant: the compiler makes one loop of each
                s00i += q0r * x0i - q0i * x0r
                s10r += q1r * x0r + q1i * x0i
                s10i += q1r * x0i - q1i * x0r
                s11i += q1r * x1i - q1i * x1r
            b0r += q0r * yr + q0i * yi
            b0i += q0r * yi - q0i * yr
            b1r += q1r * yr + q1i * yi
            b1i += q1r * yi - q1i * yr
        if hermitian:
            s10r, s10i = s01r, -s01i
        for k, s in enumerate((s00r, s00i, s01r, s01i, s10r, s10i, s11r, s11i, b0r, b0i, b1r, b1i)):
            a[k] += s
    z = a[0::2] + 1j * a[1::2]
    return z[:4].copy().reshape(2, 2), z[4:].copy(), positive


@njit(**_JIT)
def weighted_sums(w: np.ndarray, d: np.ndarray, dq: np.ndarray, hermitian: bool) -> tuple[np.ndarray, np.ndarray]:
    """``Q^H W X`` ``(2, 2)`` and ``Q^H W y`` ``(2,)`` (complex128) from the rows ``d`` and ``dq`` (``hermitian``:
    ``dq`` is ``d[:4]``, single-site)."""
    a, b, _ = _sums(w, d, dq, hermitian, _GIVEN, w, w, w, w, 1.0, 1.0)
    return a, b


@njit(**_JIT)
def reweighted_sums(
    factor: np.ndarray, w0: np.ndarray, w_lev: np.ndarray, w_rob: np.ndarray, w: np.ndarray, d: np.ndarray,
    dq: np.ndarray, hermitian: bool,
) -> tuple[np.ndarray, np.ndarray, int]:  # fmt: skip
    """``w_lev *= factor`` and ``w = w0 w_lev w_rob`` written in place, and :func:`weighted_sums` of the new ``w``
    with the number of its positive weights, in one pass."""
    return _sums(w, d, dq, hermitian, _REWEIGHT, factor, w0, w_lev, w_rob, 1.0, 1.0)


@njit(**_JIT)
def huber_sums(
    mag: np.ndarray, sigma: float, k: float, w0: np.ndarray, w_lev: np.ndarray, w_rob: np.ndarray, w: np.ndarray,
    d: np.ndarray, dq: np.ndarray, hermitian: bool,
) -> tuple[np.ndarray, np.ndarray, int]:  # fmt: skip
    """:func:`huber_weights` of the residual magnitudes ``mag`` (``w_rob`` and ``w`` written; ``mag`` left as it
    is) and :func:`weighted_sums` of the new ``w`` with the number of its positive weights, in one pass."""
    return _sums(w, d, dq, hermitian, _HUBER, mag, w0, w_lev, w_rob, sigma, k)


@njit(**_JIT)
def combined_sums(
    w0: np.ndarray, w_lev: np.ndarray, w_rob: np.ndarray, w: np.ndarray, d: np.ndarray, dq: np.ndarray,
    hermitian: bool,
) -> tuple[np.ndarray, np.ndarray, int]:  # fmt: skip
    """``w = w0 w_lev w_rob`` written in place and :func:`weighted_sums` of it with the number of its positive
    weights, in one pass."""
    return _sums(w, d, dq, hermitian, _COMBINE, w, w0, w_lev, w_rob, 1.0, 1.0)


@njit(**_JIT)
def hat_diagonal(
    d: np.ndarray, dq: np.ndarray, inverse: np.ndarray, w: np.ndarray, scale: float, out: np.ndarray
) -> None:
    """``out[i] = |x_i^T A^-1 conj(q_i)| w_i scale``: the diagonal of the hat matrix ``X A^-1 Q^H W`` (``inverse``
    is ``A^-1``) times ``scale``, from the rows ``d`` and ``dq``."""
    m00r, m00i, m01r, m01i = inverse[0, 0].real, inverse[0, 0].imag, inverse[0, 1].real, inverse[0, 1].imag
    m10r, m10i, m11r, m11i = inverse[1, 0].real, inverse[1, 0].imag, inverse[1, 1].real, inverse[1, 1].imag
    for i in range(d.shape[1]):
        # t = A^-1 conj(q_i), conj(q) = (qr, -qi)
        q0r, q0i = np.float64(dq[0, i]), -np.float64(dq[1, i])
        q1r, q1i = np.float64(dq[2, i]), -np.float64(dq[3, i])
        t0r = (m00r * q0r - m00i * q0i) + (m01r * q1r - m01i * q1i)
        t0i = (m00r * q0i + m00i * q0r) + (m01r * q1i + m01i * q1r)
        t1r = (m10r * q0r - m10i * q0i) + (m11r * q1r - m11i * q1i)
        t1i = (m10r * q0i + m10i * q0r) + (m11r * q1i + m11i * q1r)
        x0r, x0i = np.float64(d[0, i]), np.float64(d[1, i])
        x1r, x1i = np.float64(d[2, i]), np.float64(d[3, i])
        sr = (x0r * t0r - x0i * t0i) + (x1r * t1r - x1i * t1i)
        si = (x0r * t0i + x0i * t0r) + (x1r * t1i + x1i * t1r)
        out[i] = np.sqrt(sr * sr + si * si) * w[i] * scale


@njit(**_JIT)
def group_sums(
    labels: np.ndarray, w: np.ndarray, y: np.ndarray, x: np.ndarray, q: np.ndarray, n_groups: int
) -> np.ndarray:
    """Per group, ``sum w_i conj(q_i) x_i^T`` and ``sum w_i conj(q_i) y_i`` over the points with ``w_i > 0``
    (``labels`` holds the group of each of those, in order), from the complex ``y`` ``(n,)``, ``x`` and ``q``
    ``(n, 2)`` as given (the loop scatters into the groups and does not vectorise: no rows needed):
    ``(n_groups, 12)`` real, the real and imaginary parts of ``A00, A01, A10, A11, b0, b1`` as in
    :func:`weighted_sums`."""
    out = np.zeros((n_groups, 12))
    k = 0
    for i in range(x.shape[0]):
        wi = w[i]
        if not wi > 0:
            continue
        g = out[labels[k]]
        k += 1
        x0r, x0i = np.float64(x[i, 0].real), np.float64(x[i, 0].imag)
        x1r, x1i = np.float64(x[i, 1].real), np.float64(x[i, 1].imag)
        yr, yi = np.float64(y[i].real), np.float64(y[i].imag)
        for j in range(2):  # row j of A and b: conj(q_j) w times x_0, x_1 and y
            qr, qi = wi * np.float64(q[i, j].real), wi * np.float64(q[i, j].imag)
            g[4 * j] += qr * x0r + qi * x0i
            g[4 * j + 1] += qr * x0i - qi * x0r
            g[4 * j + 2] += qr * x1r + qi * x1i
            g[4 * j + 3] += qr * x1i - qi * x1r
            g[8 + 2 * j] += qr * yr + qi * yi
            g[9 + 2 * j] += qr * yi - qi * yr
    return out


@njit(**_JIT)
def sandwich_meat(w: np.ndarray, r: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, int]:
    """``sum_i g_i^* g_i^T`` with ``g_i = w_i |r_i| conj(q_i)`` over the points with ``w_i > 0`` (the middle of the
    sandwich covariance), ``(2, 2)`` complex128, and the number of those points; ``q`` complex ``(n, 2)`` as
    given."""
    m00 = m11 = 0.0
    m01 = 0j
    used = 0
    for i in range(q.shape[0]):
        if not w[i] > 0:
            continue
        used += 1
        s = w[i] * np.sqrt(r[i].real * r[i].real + r[i].imag * r[i].imag)  # |r|, without hypot's call
        g0, g1 = s * np.conj(np.complex128(q[i, 0])), s * np.conj(np.complex128(q[i, 1]))
        m00 += g0.real * g0.real + g0.imag * g0.imag
        m01 += g0 * np.conj(g1)
        m11 += g1.real * g1.real + g1.imag * g1.imag
    meat = np.empty((2, 2), np.complex128)  # Hermitian
    meat[0, 0], meat[0, 1], meat[1, 0], meat[1, 1] = m00, m01, np.conj(m01), m11
    return meat, used
