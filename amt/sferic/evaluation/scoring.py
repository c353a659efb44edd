"""Scores of the sferic detector against synthetic truth: sample level, event level, per SNR and day/night.

* Sample level: precision, recall, F1, accuracy and IoU of ``p >= threshold`` against the label mask,
  don't-care samples (sferics below -20 dB) excluded (:func:`shared.metrics.binary_scores`).
* Event level: a labelled sferic is *found* when a detected event overlaps its label interval; a detected
  event is *false* when it overlaps no label (events on don't-care sferics are neither). Onset error is the
  start of the first overlapping event minus the label start, in ms.
* The same records are scored for the full CNN, the fast path and the STA/LTA baseline.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from amt.sferic.evaluation.heldout import Cell, records
from amt.sferic.events import to_mask
from amt.sferic.inference import SfericDetector
from amt.sferic.preprocess import highpass, robust_scale
from amt.sferic.sampler import CHANNEL_ROWS
from amt.sferic.stalta import StaLta
from amt.synth.labels import SfericLabel
from amt.synth.records import SynthRecord
from amt.synth.window import draw_window
from shared.metrics import binary_scores
from shared.seeding import stream_rng

METHODS = ("cnn", "fast", "stalta")


def event_scores(events: np.ndarray, labels: Iterable[SfericLabel], rate_hz: float) -> dict[str, float]:
    """Event-level counts and scores of detected ``[start, end)`` ranges against labels.

    Returns
    -------
    dict
        ``hits, misses, false, recall, precision, f1`` and ``onset_errors_ms`` (a list, one per hit).
    """
    labels = list(labels)
    ev = np.asarray(events, dtype=np.int64).reshape(-1, 2)
    hits = misses = 0
    onset: list[float] = []
    used = np.zeros(len(ev), dtype=bool)  # overlaps any label, care or not
    for lab in labels:
        over = (ev[:, 0] < lab.end_index) & (ev[:, 1] > lab.start_index)
        used |= over
        if lab.dont_care:
            continue
        if over.any():
            hits += 1
            onset.append(1e3 * (ev[np.flatnonzero(over)[0], 0] - lab.start_index) / rate_hz)
        else:
            misses += 1
    false = int(np.count_nonzero(~used))
    recall = hits / (hits + misses) if hits + misses else 1.0
    precision = hits / (hits + false) if hits + false else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "hits": hits,
        "misses": misses,
        "false": false,
        "recall": recall,
        "precision": precision,
        "f1": f1,
        "onset_errors_ms": onset,
    }


@dataclass
class Scorer:
    """Scores records with a detector (full CNN and fast path) and, if given, an STA/LTA baseline."""

    detector: SfericDetector
    stalta: StaLta | None = None
    methods: tuple[str, ...] = METHODS

    def ranges(self, rec: SynthRecord) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
        """Per method: detected ranges and (for the CNN paths) the probability trace."""
        rows = [CHANNEL_ROWS[c] for c in self.detector.channels]
        hp = highpass(rec.h[rows], rec.config.rate_hz)
        scale = robust_scale(hp)
        out: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
        for name, fast in (("cnn", False), ("fast", True)):
            if name in self.methods:
                p = self.detector.probability(hp, scale, fast=fast)
                out[name] = (self.detector.events_in(p), p)
        if "stalta" in self.methods:
            if self.stalta is None:
                raise ValueError("scoring the STA/LTA baseline needs its settings")
            out["stalta"] = (self.stalta.events(hp, rec.config.rate_hz), None)
        return out

    def score_cell(self, cell: Cell, seed: int) -> dict[str, dict[str, float]]:
        """Pooled sample- and event-level scores of one cell, per method."""
        pooled: dict[str, dict[str, list]] = {m: {"truth": [], "pred": [], "events": []} for m in self.methods}
        for rec in records(cell, seed):
            truth, care = rec.mask(), rec.care_mask()
            for name, (ev, p) in self.ranges(rec).items():
                pred = (p >= self.detector.threshold) if p is not None else to_mask(ev, rec.n_samples)
                pooled[name]["truth"].append(truth[care])
                pooled[name]["pred"].append(pred[care])
                pooled[name]["events"].append(event_scores(ev, rec.labels, rec.config.rate_hz))
        result = {}
        for name, d in pooled.items():
            s = binary_scores(np.concatenate(d["truth"]), np.concatenate(d["pred"]))
            hits = sum(e["hits"] for e in d["events"])
            misses = sum(e["misses"] for e in d["events"])
            false = sum(e["false"] for e in d["events"])
            onsets = [o for e in d["events"] for o in e["onset_errors_ms"]]
            ev_recall = hits / (hits + misses) if hits + misses else 1.0
            ev_precision = hits / (hits + false) if hits + false else 1.0
            result[name] = {
                **{k: s[k] for k in ("precision", "recall", "f1", "accuracy", "iou")},
                "event_recall": ev_recall,
                "event_precision": ev_precision,
                "event_f1": 2 * ev_recall * ev_precision / (ev_recall + ev_precision) if hits else 0.0,
                "onset_median_abs_ms": float(np.median(np.abs(onsets))) if onsets else float("nan"),
                "n_sferics": hits + misses,
            }
        return result


def score_synth_windows(detector: SfericDetector, n_windows: int, seed: int, seconds: float = 1.0) -> dict[str, float]:
    """Scores of the full CNN on windows of the project's full synthetic field (:func:`amt.synth.window.draw_window`).

    The detector was trained on :mod:`amt.synth.records`; this is a cross-generator check on the labels of
    :mod:`amt.synth.labels` (don't-care samples excluded; event recall over care sferics, overall and at
    SNR >= 0 dB).
    """
    truth, pred, hits, total, hits0, total0, false = [], [], 0, 0, 0, 0, 0
    for k in range(n_windows):
        w = draw_window(round(seconds * detector.rate_hz), detector.rate_hz, stream_rng(seed, k), night=bool(k % 2))
        hp = highpass(w.h, w.rate_hz)
        p = detector.probability(hp, robust_scale(hp))
        ev = detector.events_in(p)
        care = ~w.dont_care
        truth.append(w.sferic[care])
        pred.append((p >= detector.threshold)[care])
        every = event_scores(ev, w.labels, w.rate_hz)
        strong = event_scores(ev, [lab for lab in w.labels if lab.snr_db >= 0], w.rate_hz)
        hits, total, false = hits + every["hits"], total + every["hits"] + every["misses"], false + every["false"]
        hits0, total0 = hits0 + strong["hits"], total0 + strong["hits"] + strong["misses"]
    s = binary_scores(np.concatenate(truth), np.concatenate(pred))
    return {
        **{k: s[k] for k in ("precision", "recall", "f1", "iou")},
        "event_recall": hits / total if total else float("nan"),
        "event_recall_snr_ge_0db": hits0 / total0 if total0 else float("nan"),
        "false_events": false,
        "n_sferics": total,
    }
