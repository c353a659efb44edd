"""Classification metrics in NumPy, and the model-level clean accuracy.

Binary conventions: labels and predictions are 0/1 (booleans accepted). When a ratio's denominator is 0
(e.g. precision with no predicted positives) it takes ``zero_division`` (default 0.0), except where both
truth and prediction hold no positives at all: then precision, recall, F1 and IoU are 1.0 (nothing to find,
nothing falsely found). ROC-AUC and PR-AUC are NaN when only one class is present (undefined).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy.stats import rankdata


@dataclass(frozen=True)
class BinaryConfusion:
    """Counts of a binary confusion matrix."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    def as_matrix(self) -> np.ndarray:
        """``[[tn, fp], [fn, tp]]`` (rows: truth 0/1; columns: prediction 0/1)."""
        return np.array([[self.tn, self.fp], [self.fn, self.tp]])


def _binary(a: np.ndarray | Iterable, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype != bool:
        if not np.all(np.isin(arr, (0, 1))):
            raise ValueError(f"{name} must hold only 0/1 or booleans")
        arr = arr.astype(bool)
    return arr.ravel()


def binary_confusion(y_true: np.ndarray, y_pred: np.ndarray) -> BinaryConfusion:
    """Confusion counts of binary predictions against truth (same shape, any number of dimensions)."""
    t, p = _binary(y_true, "y_true"), _binary(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} elements but y_pred has {p.size}")
    return BinaryConfusion(
        tp=int(np.count_nonzero(t & p)),
        fp=int(np.count_nonzero(~t & p)),
        fn=int(np.count_nonzero(t & ~p)),
        tn=int(np.count_nonzero(~t & ~p)),
    )


def _ratio(num: float, den: float, zero_division: float) -> float:
    return num / den if den > 0 else zero_division


def binary_scores(y_true: np.ndarray, y_pred: np.ndarray, zero_division: float = 0.0) -> dict[str, float]:
    """Precision, recall, F1, accuracy and IoU (Jaccard) of binary predictions.

    Returns
    -------
    dict
        ``precision, recall, f1, accuracy, iou`` and the counts ``tp, fp, fn, tn``.
    """
    c = binary_confusion(y_true, y_pred)
    if c.tp + c.fp + c.fn == 0:  # no positives anywhere: perfect agreement on "nothing"
        precision = recall = f1 = iou = 1.0
    else:
        precision = _ratio(c.tp, c.tp + c.fp, zero_division)
        recall = _ratio(c.tp, c.tp + c.fn, zero_division)
        f1 = _ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn, zero_division)
        iou = _ratio(c.tp, c.tp + c.fp + c.fn, zero_division)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": _ratio(c.tp + c.tn, c.total, zero_division),
        "iou": iou,
        **{k: float(v) for k, v in asdict(c).items()},
    }


def _scored(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = _binary(y_true, "y_true")
    s = np.asarray(scores, dtype=np.float64).ravel()
    if t.shape != s.shape:
        raise ValueError(f"y_true has {t.size} elements but scores has {s.size}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores hold non-finite values")
    return t, s


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve by the Mann-Whitney U statistic (ties count one half); NaN if one class."""
    t, s = _scored(y_true, scores)
    n_pos, n_neg = int(t.sum()), int((~t).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[t].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pr_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Average precision: ``sum_n (R_n - R_{n-1}) P_n`` over distinct score thresholds, high to low.

    NaN when there are no positives.
    """
    t, s = _scored(y_true, scores)
    n_pos = int(t.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, t_sorted = s[order], t[order]
    tp = np.cumsum(t_sorted)
    fp = np.cumsum(~t_sorted)
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), len(s_sorted) - 1]  # end of each tie group
    tp, fp = tp[last], fp[last]
    precision = tp / (tp + fp)
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``n_classes x n_classes`` counts; row = true class, column = predicted class."""
    t = np.asarray(y_true).ravel().astype(np.int64)
    p = np.asarray(y_pred).ravel().astype(np.int64)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} elements but y_pred has {p.size}")
    for name, a in (("y_true", t), ("y_pred", p)):
        if a.size and (a.min() < 0 or a.max() >= n_classes):
            raise ValueError(f"{name} holds labels outside 0..{n_classes - 1}")
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def multiclass_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of exact matches (NaN for empty input)."""
    t, p = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} elements but y_pred has {p.size}")
    return float(np.mean(t == p)) if t.size else float("nan")


def per_class_accuracy(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Recall of each class (NaN for classes absent from ``y_true``)."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)


@torch.no_grad()
def predict_classes(
    model: torch.nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]
) -> tuple[np.ndarray, np.ndarray]:
    """Arg-max predictions and true labels of a classifier over finite ``(x, y)`` batches."""
    was_training = model.training
    model.eval()
    preds, labels = [], []
    try:
        for x, y in batches:
            preds.append(model(x).argmax(dim=1).cpu().numpy())
            labels.append(np.asarray(y.cpu().numpy() if isinstance(y, torch.Tensor) else y))
    finally:
        model.train(was_training)
    if not preds:
        raise ValueError("no batches to evaluate")
    return np.concatenate(preds), np.concatenate(labels)


def clean_accuracy(model: torch.nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Clean accuracy (CA): accuracy of ``model`` on benign ``(x, y)`` batches."""
    pred, true = predict_classes(model, batches)
    return multiclass_accuracy(true, pred)
