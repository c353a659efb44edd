"""Stop training when the smoothed training loss stops changing.

The rule of the sferic paper (Jiang et al., 2023: training "stops when the loss converges"), made precise:
the loss is smoothed by a bias-corrected exponential moving average ``s_t`` (smoothing ``beta``), and the
run has converged at step ``t`` when ``|s_t - s_{t-P}| / |s_{t-P}| < tol`` for the patience window ``P``
(and at least ``min_steps`` steps were taken). A loss still falling by more than ``tol`` per window keeps
training going until the step budget ends.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ConvergenceMonitor:
    """Tracks the smoothed loss and decides convergence.

    Parameters
    ----------
    tol
        Relative change of the smoothed loss over ``patience`` steps below which training has converged.
    patience
        Window length ``P`` in steps.
    smoothing
        EMA factor ``beta`` in [0, 1); 0 disables smoothing.
    min_steps
        Never converge before this many steps.
    """

    tol: float
    patience: int
    smoothing: float = 0.98
    min_steps: int = 0
    _ema: float = 0.0
    _count: int = 0
    _history: deque = field(default_factory=deque)

    def update(self, loss: float) -> float:
        """Add one step's loss; return the smoothed loss."""
        self._count += 1
        self._ema = self.smoothing * self._ema + (1.0 - self.smoothing) * float(loss)
        smoothed = self._ema / (1.0 - self.smoothing**self._count)
        self._history.append(smoothed)
        while len(self._history) > self.patience + 1:
            self._history.popleft()
        return smoothed

    @property
    def smoothed(self) -> float:
        return self._history[-1] if self._history else float("nan")

    @property
    def relative_change(self) -> float:
        """``|s_t - s_{t-P}| / |s_{t-P}|`` (NaN until ``P + 1`` values exist)."""
        if len(self._history) < self.patience + 1:
            return float("nan")
        old, new = self._history[0], self._history[-1]
        return abs(new - old) / max(abs(old), 1e-12)

    @property
    def converged(self) -> bool:
        rel = self.relative_change
        return self._count >= self.min_steps and rel == rel and rel < self.tol

    def state(self) -> dict[str, Any]:
        """JSON-serialisable state (floats round-trip exactly through JSON)."""
        return {"ema": self._ema, "count": self._count, "history": list(self._history)}

    def load_state(self, state: dict[str, Any]) -> None:
        self._ema = float(state["ema"])
        self._count = int(state["count"])
        self._history = deque(float(v) for v in state["history"])
