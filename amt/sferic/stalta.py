"""The baseline: obspy's recursive STA/LTA on the horizontal magnetic magnitude, with tuned thresholds.

The characteristic function is ObsPy's C recursive STA/LTA (Withers et al., 1998, BSSA 88(1), 95-106)
of ``|H_h| = sqrt(hx^2 + hy^2)`` after the same 500 Hz high-pass the CNN sees; it squares its input, so
it averages horizontal energy. Events are its trigger-on/trigger-off runs
(:func:`amt.sferic.events.hysteresis`). :func:`tune` picks the window lengths and thresholds that
maximise the mean sample-level F1 on the validation sets, so the comparison with the CNN is fair.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from obspy.signal.trigger import recursive_sta_lta

from amt.sferic.events import hysteresis, to_mask
from amt.sferic.preprocess import horizontal_magnitude
from shared.metrics import binary_scores


@dataclass(frozen=True)
class StaLta:
    """STA/LTA settings: window lengths in s, trigger-on and trigger-off ratios."""

    sta_s: float = 1e-3
    lta_s: float = 20e-3
    on: float = 3.0
    off: float = 1.5

    def cft(self, hp: np.ndarray, rate_hz: float) -> np.ndarray:
        """Characteristic function of high-passed ``(>= 2, n)`` channels (rows 0, 1: Hx, Hy)."""
        mag = horizontal_magnitude(hp)
        nsta = max(round(self.sta_s * rate_hz), 1)
        nlta = max(round(self.lta_s * rate_hz), nsta + 1)
        return recursive_sta_lta(mag, nsta, nlta)

    def events(self, hp: np.ndarray, rate_hz: float) -> np.ndarray:
        """Event ranges ``[start, end)`` in samples; the first LTA window (warm-up) never triggers."""
        cft = self.cft(hp, rate_hz)
        cft[: round(self.lta_s * rate_hz)] = 0.0
        return hysteresis(cft, self.on, self.off)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def tune(
    records: Sequence[tuple[np.ndarray, float, np.ndarray, np.ndarray]],
    sta_s: Sequence[float] = (0.5e-3, 1e-3, 2e-3),
    lta_s: Sequence[float] = (10e-3, 20e-3, 50e-3),
    on: Sequence[float] = (1.5, 2.0, 3.0, 4.0, 6.0),
    off: Sequence[float] = (0.8, 1.0, 1.5, 2.0),
) -> tuple[StaLta, float]:
    """Grid-search STA/LTA settings on labelled records.

    Parameters
    ----------
    records
        ``(hp, rate_hz, truth, care)``: high-passed channels, rate in Hz, label mask and care mask.
    sta_s, lta_s, on, off
        Candidate values.

    Returns
    -------
    (StaLta, float)
        The settings with the best mean sample-level F1, and that F1.
    """
    best, best_f1 = StaLta(), -1.0
    for s, lt in itertools.product(sta_s, lta_s):
        base = StaLta(s, lt)
        cfts = []
        for hp, rate, _, _ in records:
            c = base.cft(hp, rate)
            c[: round(lt * rate)] = 0.0
            cfts.append(c)
        for a, b in itertools.product(on, off):
            if b > a:
                continue
            f1 = np.mean(
                [
                    binary_scores(y[k], to_mask(hysteresis(c, a, b), len(c))[k])["f1"]
                    for c, (_, _, y, k) in zip(cfts, records, strict=True)
                ]
            )
            if f1 > best_f1:
                best, best_f1 = StaLta(s, lt, a, b), float(f1)
    return best, best_f1
