"""Noise-bias-free impedance from sferic windows: their cross-powers less those of the quiet windows between them.

Per window ``w`` of a band (bins ``k``) with reference ``R`` (the local H, or a remote H) the cross-powers are

    A_w = sum_k H_k R_k^H    (2 x 2, nT^2)       B_w = sum_k E_k R_k^H    (2 x 2, mV/km nT).

In a quiet window (no sferic) H holds the natural background ``S`` and the instrument noise ``N``:
``<A_q> = S + N`` and ``<B_q> = Z S`` (the noise on E and H is uncorrelated with everything else). A sferic window
adds the sferic's power ``S_w``: ``<A_w> = S_w + S + N``, ``<B_w> = Z (S_w + S)``. Subtracting the quiet means
removes both the noise and the background, so with window weights ``v_w`` (sum ``V``)

    Z = (sum_w v_w B_w - V <B_q>) (sum_w v_w A_w - V <A_q>)^-1

is free of the downward bias that noise on H puts into the least-squares estimate ``(sum B)(sum A)^-1`` (the
noise-bias correction of spectral estimates: Bendat & Piersol 2010, sec. 9.1.3, subtracting a noise auto-power
measured separately; here the quiet windows measure it). With a remote reference the noise terms vanish in
expectation already and the subtraction only removes the background.

Weights should not follow the noise of the band's own bins (windows picked for a high H power in the band also hold
more noise than the quiet mean, which the subtraction would not remove), so :func:`broadband_fraction` measures
each window's H signal fraction over two octaves around the band, the band's own bins left out.

Errors are the delete-one-group jackknife over consecutive windows (quiet and sferic alike), as
:func:`amt.transfer.uncertainty.jackknife_variance`.

References
----------
Bendat, J. S. and Piersol, A. G. (2010), Random Data: Analysis and Measurement Procedures, 4th ed., Wiley.
Thomson, D. J. and Chave, A. D. (1991), Jackknifed error estimates for spectra, coherences, and transfer
functions, in Advances in Spectrum Analysis and Array Processing, Prentice Hall, 58-113.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from amt.spectra import Spectra
from amt.spectra.store import release
from amt.transfer.uncertainty import group_sums

INPUTS = ("hx", "hy")
OUTPUTS = ("ex", "ey")
_BLOCK = 4096  # windows summed at a time (bin_power, h_power, cross_powers)


@dataclass
class DifferenceEstimate:
    """Impedance of one band from weighted sferic windows less the quiet windows.

    Attributes
    ----------
    z, z_var
        ``(2, 2)`` impedance (mV/km/nT) and its jackknife variance; NaN when not estimable.
    condition_number
        2-norm condition number of the corrected H cross-power (the denominator).
    signal_fraction
        Weighted mean over the windows used of the H signal fraction in the band's own bins,
        ``1 - tr <A_q> / tr A_w`` (0 when a window holds no more than a quiet one).
    n_windows
        Windows with positive weight.
    frequency_hz
        Where the estimate belongs: the geometric mean of the band's bin frequencies weighted by the corrected H
        power of each bin, ``sum_w v_w |H_wk|^2 - V <|H_qk|^2>`` (as :func:`amt.transfer.estimate_transfer_function`
        reports the power-weighted bin frequency); NaN when not estimable.
    """

    z: np.ndarray
    z_var: np.ndarray
    condition_number: float
    signal_fraction: float
    n_windows: int
    frequency_hz: float = np.nan


def cross_powers(s: Spectra, bins: np.ndarray, ref: Spectra | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-window cross-powers ``A`` (H with R) and ``B`` (E with R) over ``bins``, each ``(n_windows, 2, 2)``.

    ``ref`` gives R (a remote's spectra, window-matched to ``s``), default the local H. Formed ``_BLOCK`` windows
    at a time (each window's sums are its own).
    """
    dtype = np.result_type(s.coefficients.dtype, (ref or s).coefficients.dtype)
    a = np.empty((s.n_windows, 2, 2), dtype)
    b = np.empty((s.n_windows, 2, 2), dtype)
    for i in range(0, s.n_windows, _BLOCK):
        j = min(i + _BLOCK, s.n_windows)
        h = np.stack([s.channel(c)[i:j, bins] for c in INPUTS], axis=1)  # win, 2, bin
        e = np.stack([s.channel(c)[i:j, bins] for c in OUTPUTS], axis=1)
        r = h if ref is None else np.stack([ref.channel(c)[i:j, bins] for c in INPUTS], axis=1)
        a[i:j] = np.einsum("wik,wjk->wij", h, r.conj())
        b[i:j] = np.einsum("wik,wjk->wij", e, r.conj())
        release(s.coefficients)  # a file-backed level keeps only the block in use resident (amt.spectra.store)
        if ref is not None:
            release(ref.coefficients)
    return a, b


def _power_blocks(s: Spectra, bins: np.ndarray) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(i, j, |Hx|^2 + |Hy|^2)`` over ``bins`` of windows ``i:j``, ``_BLOCK`` windows at a time."""
    hx, hy = s.channel("hx"), s.channel("hy")
    for i in range(0, s.n_windows, _BLOCK):
        j = min(i + _BLOCK, s.n_windows)
        power = np.abs(hx[i:j, bins]) ** 2 + np.abs(hy[i:j, bins]) ** 2
        release(s.coefficients)
        yield i, j, power


def _power_dtype(s: Spectra) -> np.dtype:
    return np.result_type(s.coefficients.real.dtype, np.float32)


def bin_power(s: Spectra, bins: np.ndarray) -> np.ndarray:
    """Horizontal H power of each window and bin, ``|Hx|^2 + |Hy|^2`` (nT^2/Hz), ``(n_windows, len(bins))``."""
    out = np.empty((s.n_windows, len(bins)), dtype=_power_dtype(s))
    for i, j, p in _power_blocks(s, bins):
        out[i:j] = p
    return out


def h_power(s: Spectra, bins: np.ndarray) -> np.ndarray:
    """Horizontal H power of each window over ``bins``, ``sum |Hx|^2 + |Hy|^2`` (nT^2/Hz summed over bins).

    Summed ``_BLOCK`` windows at a time (each window's sum is its own): a wide range of bins of every window is
    not copied at once.
    """
    out = np.empty(s.n_windows, dtype=_power_dtype(s))
    for i, j, p in _power_blocks(s, bins):
        out[i:j] = p.sum(axis=1)
    return out


def broadband_fraction(
    s: Spectra, bins: np.ndarray, frequency_hz: float, quiet: np.ndarray, octaves: float = 1.0, guard: int = 2
) -> np.ndarray:
    """Per window, the H signal fraction ``max(0, 1 - P_q / P_w)`` over ``frequency_hz * 2^[-octaves, octaves]``.

    ``P_w`` is the window's H power in that range less the band's own ``bins`` and ``guard`` bins either side
    (adjacent bins of a tapered window share noise), and ``P_q`` its median over the ``quiet`` windows: the
    weights then do not follow the noise of the band itself (module notes). Spectra keeping only some bins
    (:meth:`amt.spectra.Spectra.with_bins`) give the same fractions if they keep every bin of that range.
    """
    f = s.freqs_hz
    idx = s.bin_numbers()  # guard counted in bins of the window, also where the spectra keep only some bins
    near = (idx >= idx[bins].min() - guard) & (idx <= idx[bins].max() + guard)
    wide = np.flatnonzero((f >= frequency_hz / 2**octaves) & (f <= frequency_hz * 2**octaves) & (f > 0) & ~near)
    if len(wide) == 0:
        wide = np.flatnonzero((f >= frequency_hz / 2**octaves) & (f <= frequency_hz * 2**octaves) & (f > 0))
    p = h_power(s, wide)
    floor = float(np.median(p[quiet])) if np.any(quiet) else float(np.median(p))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, np.clip(1.0 - floor / p, 0.0, 1.0), 0.0)


def _solve(sb: np.ndarray, sa: np.ndarray) -> np.ndarray:
    """``sb @ inv(sa)`` for stacks of 2 x 2 matrices (``Z A = B``)."""
    return np.swapaxes(np.linalg.solve(np.swapaxes(sa, -1, -2), np.swapaxes(sb, -1, -2)), -1, -2)


def difference_estimate(
    a: np.ndarray,
    b: np.ndarray,
    weights: np.ndarray,
    quiet: np.ndarray,
    bin_power: np.ndarray | None = None,
    freqs_hz: np.ndarray | None = None,
    max_groups: int = 200,
) -> DifferenceEstimate:
    """The quiet-subtracted weighted impedance of one band (module notes) with its jackknife variance.

    Parameters
    ----------
    a, b
        Per-window cross-powers (:func:`cross_powers`), ``(n, 2, 2)``.
    weights
        ``(n,)`` non-negative weights of the sferic windows (0 for the others).
    quiet
        ``(n,)`` bool, the quiet windows (no sferic) whose means are subtracted.
    bin_power, freqs_hz
        ``(n, n_bins)`` H power of each window and bin and the bins' frequencies (Hz), for ``frequency_hz``.
    max_groups
        Most jackknife groups (consecutive windows are merged).
    """
    nan = DifferenceEstimate(np.full((2, 2), np.nan + 0j), np.full((2, 2), np.nan), np.nan, np.nan, 0)
    v = np.asarray(weights, dtype=float)
    used = v > 0
    nan.n_windows = int(np.count_nonzero(used))
    n_q = int(np.count_nonzero(quiet))
    if nan.n_windows < 3 or n_q < 3:
        return nan
    # the windows that take part, in time order, cut into at most max_groups consecutive groups
    part = np.flatnonzero(used | quiet)
    group = np.arange(len(part)) * min(max_groups, len(part)) // len(part)
    g_count = int(group.max()) + 1
    vq = quiet[part].astype(float)
    vw = v[part]

    def sums(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        return group_sums(group, (w[:, None, None] * x[part]).reshape(-1, 4), g_count).reshape(g_count, 2, 2)

    sa_g, sb_g, qa_g, qb_g = sums(a, vw), sums(b, vw), sums(a, vq), sums(b, vq)
    vs_g = np.bincount(group, vw, g_count)
    nq_g = np.bincount(group, vq, g_count)
    sa, sb, qa, qb, vs, nq = sa_g.sum(0), sb_g.sum(0), qa_g.sum(0), qb_g.sum(0), vs_g.sum(), nq_g.sum()
    den = sa - vs * qa / nq
    num = sb - vs * qb / nq
    sv = np.linalg.svd(den, compute_uv=False)
    cond = float(sv[0] / sv[-1]) if sv[-1] > 0 else np.inf
    if not np.isfinite(cond):
        nan.condition_number = cond
        return nan
    z = _solve(num, den)
    # delete-one-group jackknife
    keep_q = nq - nq_g
    ok = (keep_q > 0) & (vs - vs_g > 0)
    den_g = (sa - sa_g) - ((vs - vs_g) / np.where(ok, keep_q, 1.0))[:, None, None] * (qa - qa_g)
    num_g = (sb - sb_g) - ((vs - vs_g) / np.where(ok, keep_q, 1.0))[:, None, None] * (qb - qb_g)
    det = np.abs(np.linalg.det(den_g))
    ok &= det > 1e-12 * np.abs(np.linalg.det(den))
    if np.count_nonzero(ok) < 3:
        z_var = np.full((2, 2), np.nan)
    else:
        zg = _solve(num_g[ok], den_g[ok])
        g = zg.shape[0]
        z_var = (g - 1) / g * np.sum(np.abs(zg - zg.mean(axis=0)) ** 2, axis=0)
    tr_q = float(np.real(np.trace(qa))) / nq
    tr_w = np.real(np.trace(a[used], axis1=1, axis2=2))
    ratio = np.divide(tr_q, tr_w, out=np.full(tr_w.shape, np.inf), where=tr_w > 0)
    frac = np.clip(1.0 - ratio, 0.0, 1.0)
    sig = float(np.sum(v[used] * frac) / np.sum(v[used]))
    f_hz = np.nan
    if bin_power is not None and freqs_hz is not None:
        pb = np.maximum(v @ bin_power - vs * bin_power[quiet].mean(axis=0), 0.0)
        f_hz = float(np.exp(np.sum(pb * np.log(freqs_hz)) / np.sum(pb))) if np.sum(pb) > 0 else np.nan
    return DifferenceEstimate(z, z_var, cond, sig, nan.n_windows, f_hz)
