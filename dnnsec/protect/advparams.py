"""AdvParams: active DNN IP protection by adversarial perturbation of a few parameters.

Implements the idea of Xue et al., "AdvParams: An Active DNN Intellectual Property Protection Technique via
Adversarial Perturbation Based Parameter Encryption", IEEE Transactions on Emerging Topics in Computing (2023):
a handful of parameters are moved, without retraining, to adversarial values that wreck the model's accuracy;
the positions and original values form the key that restores the model exactly.

Search (gradient-guided and greedy across layers)
-------------------------------------------------
Each step computes the gradient of an accuracy surrogate ``J`` (the mean wrong-class margin
``max_{j != y} z_j - z_y`` of the logits ``z``, capped at ``margin_cap`` so samples already wrong stop counting)
with respect to every parameter. Every free position ``w`` of every layer is scored by the first-order gain
``g (t - w)`` of jumping to its layer's bound ``t`` (the 1st or 99th percentile of that layer's original values,
whichever the gradient sign ``g`` favours), so every perturbed value stays inside its layer's
1st-99th percentile range and is no outlier. The ``candidates`` best-scored positions over all layers are tried
exactly and the one that raises ``J`` most is kept. The search ends after ``n_params`` positions or when no
candidate raises ``J``.

Models other than classifiers
-----------------------------
The search is generic over any ``torch.nn.Module``: a *decisions* adapter maps the model's raw output and the
labels to per-decision logits ``(M, classes)`` and integer targets ``(M,)``, and both ``J`` and the reported
accuracy are computed over those ``M`` decisions. :func:`classifier_decisions` (the default) takes a classifier's
logits ``(N, classes)`` and class indices ``(N,)`` as they are (``M = N``); :func:`binary_segmenter_decisions`
turns a per-sample binary segmenter's single logit per time sample (``(N, 1, T)`` or ``(N, T)``) and its 0/1 labels
``(N, T)`` into two-class logits ``[b, z]`` per sample (``M = N T``; ``b`` is the decision threshold in logit
units, 0 by default), so ``J`` is the capped wrong-side margin of every sample and accuracy is per-sample accuracy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import nn
from tqdm import tqdm

from dnnsec.errors import DnnsecError, ModelError


@dataclass(frozen=True)
class Perturbation:
    """One encrypted position: parameter ``name``, flat ``index``, original and perturbed float32 values."""

    name: str
    index: int
    original: float
    perturbed: float


@dataclass
class SearchResult:
    """Outcome of :func:`search_perturbations`.

    Attributes
    ----------
    perturbations : list of Perturbation
        In the order chosen.
    objective : list of float
        The surrogate ``J`` on the search batch before any perturbation and after each one.
    accuracy : list of float
        Accuracy (fraction of the decisions, e.g. of samples for a segmenter) on the search batch before any
        perturbation and after each one.
    seconds : float
        Wall-clock time of the search, s.
    """

    perturbations: list[Perturbation] = field(default_factory=list)
    objective: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0


#: Maps ``(model output, labels)`` to per-decision logits ``(M, classes)`` and integer targets ``(M,)``.
Decisions = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def classifier_decisions(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A classifier's decisions as they are: logits ``(N, classes)`` and class indices ``(N,)`` (``M = N``)."""
    return logits, y


def binary_segmenter_decisions(logits: torch.Tensor, y: torch.Tensor, threshold_logit: float = 0.0
                               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample decisions of a binary segmenter as two-class logits ``[b, z]`` (``M = N T``).

    Parameters
    ----------
    logits : torch.Tensor
        One logit ``z`` per time sample (logit units), shape ``(N, 1, T)`` or ``(N, T)``.
    y : torch.Tensor
        Labels ``(N, T)`` in {0, 1} (any dtype).
    threshold_logit : float
        The model's decision threshold ``b`` in logit units: a sample is positive when ``z > b``. The default 0
        is probability 0.5 (``[0, z]``); a detector deciding at probability ``p`` uses ``b = log(p / (1 - p))``,
        so that the search attacks the decisions the detector actually makes.

    Returns
    -------
    logits : torch.Tensor
        ``(N T, 2)``: column 0 is ``b``, column 1 is ``z``.
    targets : torch.Tensor
        ``(N T,)`` int64 class indices.
    """
    z = logits.squeeze(1) if logits.ndim == 3 and logits.shape[1] == 1 else logits
    if z.shape != y.shape:
        raise ModelError(f"segmenter output {tuple(logits.shape)} does not match labels {tuple(y.shape)}")
    z = z.reshape(-1)
    return torch.stack([torch.full_like(z, threshold_logit), z], dim=1), y.reshape(-1).long()


def wrong_margin_objective(logits: torch.Tensor, y: torch.Tensor, margin_cap: float) -> torch.Tensor:
    """Mean over samples of ``min(max_{j != y} z_j - z_y, margin_cap)`` (logit units); larger is worse accuracy."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.scatter(1, y[:, None], float("-inf")).amax(1)
    return (others - true).clamp(max=margin_cap).mean()


def _perturbable(model: nn.Module) -> dict[str, nn.Parameter]:
    """The non-empty float32 parameters of ``model`` by name, in ``named_parameters`` order."""
    return {n: p for n, p in model.named_parameters() if p.dtype == torch.float32 and p.numel() > 0}


def percentile_bounds(model: nn.Module, low_pct: float = 1.0, high_pct: float = 99.0
                      ) -> dict[str, tuple[float, float]]:
    """Per-parameter ``(low, high)`` percentiles (parameter units) of each float parameter's values."""
    q = torch.tensor([low_pct / 100.0, high_pct / 100.0], dtype=torch.float64)
    return {name: tuple(torch.quantile(p.detach().double().flatten(), q).tolist())
            for name, p in _perturbable(model).items()}


class _Candidate(NamedTuple):
    """A position tried exactly: the objective and accuracy with it perturbed, and its two values."""

    objective: float
    accuracy: float
    name: str
    index: int
    original: float
    perturbed: float


class _Search:
    """The state of one search: the model's perturbable parameters, their bounds, and the positions taken."""

    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, decisions: Decisions, margin_cap: float,
                 low_pct: float, high_pct: float) -> None:
        self.model, self.x, self.y, self.decisions, self.margin_cap = model, x, y, decisions, margin_cap
        self.params = _perturbable(model)
        if not self.params:
            raise ModelError("model has no float32 parameters to perturb")
        bounds = percentile_bounds(model, low_pct, high_pct)
        self.lo = {n: torch.full_like(p, bounds[n][0]) for n, p in self.params.items()}
        self.hi = {n: torch.full_like(p, bounds[n][1]) for n, p in self.params.items()}
        self.taken = {n: torch.zeros_like(p, dtype=torch.bool) for n, p in self.params.items()}
        self.names = list(self.params)
        self.offsets = torch.tensor([0, *(p.numel() for p in self.params.values())]).cumsum(0).tolist()

    def measure(self) -> tuple[float, float]:
        """The objective ``J`` and the accuracy of the model on the search batch."""
        with torch.no_grad():
            logits, target = self.decisions(self.model(self.x), self.y)
            return (float(wrong_margin_objective(logits, target, self.margin_cap)),
                    float((logits.argmax(1) == target).float().mean()))

    def jump_gains(self) -> tuple[torch.Tensor, torch.Tensor]:
        """First-order gain of moving each position to the layer bound its gradient favours, and that bound.

        Both are flat over all layers in parameter order; taken positions and those already at their bound gain
        ``-inf``.
        """
        self.model.zero_grad(set_to_none=True)
        wrong_margin_objective(*self.decisions(self.model(self.x), self.y), self.margin_cap).backward()
        scores, targets = [], []
        with torch.no_grad():
            for n, p in self.params.items():
                g = p.grad if p.grad is not None else torch.zeros_like(p)
                target = torch.where(g > 0, self.hi[n], self.lo[n])
                gain = g * (target - p)
                gain[self.taken[n] | (target == p)] = float("-inf")
                scores.append(gain.flatten())
                targets.append(target.flatten())
        return torch.cat(scores), torch.cat(targets)

    def position(self, flat: int) -> tuple[str, int]:
        """Parameter name and index within it of the flat position ``flat``."""
        layer = next(i for i in range(len(self.names)) if self.offsets[i] <= flat < self.offsets[i + 1])
        return self.names[layer], flat - self.offsets[layer]

    def best_candidate(self, top: list[int], flat_targets: torch.Tensor) -> _Candidate:
        """Try each flat position of ``top`` at its bound, one at a time, and return the first best by objective."""
        best = None
        with torch.no_grad():
            for flat in top:
                name, index = self.position(flat)
                view = self.params[name].view(-1)
                old = float(view[index])
                view[index] = flat_targets[flat]
                obj, acc = self.measure()
                view[index] = old
                if best is None or obj > best.objective:
                    best = _Candidate(obj, acc, name, index, old, float(flat_targets[flat]))
        assert best is not None
        return best

    def apply(self, c: _Candidate) -> Perturbation:
        """Perturb the candidate's position for good and mark it taken."""
        with torch.no_grad():
            self.params[c.name].view(-1)[c.index] = c.perturbed
        self.taken[c.name].view(-1)[c.index] = True
        return Perturbation(c.name, c.index, c.original, float(self.params[c.name].detach().view(-1)[c.index]))


def search_perturbations(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, n_params: int = 50,
                         candidates: int = 8, margin_cap: float = 4.0, low_pct: float = 1.0,
                         high_pct: float = 99.0, progress: bool = True,
                         decisions: Decisions = classifier_decisions) -> SearchResult:
    """Choose and apply (in place) up to ``n_params`` adversarial parameter perturbations.

    Parameters
    ----------
    model : nn.Module
        Any trained model whose output ``decisions`` understands (by default a classifier returning logits
        of shape (N, classes)); modified in place. It is evaluated in eval mode (batch-norm running
        statistics) and left in eval mode.
    x, y : torch.Tensor
        A search batch of inputs and labels (a few hundred training samples suffice; for a classifier, class
        indices (N,); for a binary segmenter, 0/1 masks (N, T)).
    n_params : int
        Largest number of positions to perturb.
    candidates : int
        Positions per step, ranked by first-order gain, that are evaluated exactly.
    margin_cap : float
        Cap of the wrong-class margin in the objective (logit units): the search keeps pushing the search samples
        until each is wrong by this much, a safety margin for samples it never saw. With 2 the search stopped
        after 7 positions on the CIFAR-10 ResNet-8 of zoo seed 0 (search samples all wrong, test accuracy
        16.7 %); with 4 it took 14 positions and reached 9.5 %.
    low_pct, high_pct : float
        Percentile bounds (per cent) of each layer's original values that perturbed values may reach.
    progress : bool
        Show a tqdm progress bar.
    decisions : callable
        Maps ``(model(x), y)`` to per-decision logits (M, classes) and targets (M,), see :data:`Decisions`;
        :func:`classifier_decisions` (default) or :func:`binary_segmenter_decisions`.

    Returns
    -------
    SearchResult
    """
    if n_params < 1 or candidates < 1:
        raise DnnsecError("n_params and candidates must be at least 1")
    start = time.perf_counter()
    model.eval()
    search = _Search(model, x, y, decisions, margin_cap, low_pct, high_pct)
    current, acc = search.measure()
    result = SearchResult(objective=[current], accuracy=[acc])
    bar = tqdm(total=n_params, desc="encrypting", unit="param", disable=not progress)
    for _ in range(n_params):
        flat_scores, flat_targets = search.jump_gains()
        k = min(candidates, int(torch.isfinite(flat_scores).sum()))
        if k == 0:
            break
        best = search.best_candidate(torch.topk(flat_scores, k).indices.tolist(), flat_targets)
        if best.objective <= current:
            break
        current, acc = best.objective, best.accuracy
        result.perturbations.append(search.apply(best))
        result.objective.append(current)
        result.accuracy.append(acc)
        bar.update(1)
        bar.set_postfix(acc=f"{acc:.3f}")
    bar.close()
    model.zero_grad(set_to_none=True)
    result.seconds = time.perf_counter() - start
    return result
