"""Backdoor instances detected by intentional adversarial perturbation (Xue et al.).

Xue, Wu, Wu, Zhang, Wang and Liu, "Detecting backdoor in deep neural networks via intentional adversarial
perturbations", Information Sciences 634 (2023), arXiv:2105.14259: a backdoor trigger dominates the model's
decision, so a triggered input keeps its (target) label under an adversarial perturbation that changes the label
of clean inputs. An input whose label survives the perturbation is flagged. Two forms:

- :class:`PerturbationDetector` (the one measured against the targets): one universal perturbation per predicted
  class, fitted on clean held-out images to push them out of that class within an L2 budget
  (:func:`fit_class_perturbations`); an input predicted as ``c`` gets ``v[c]`` added and is flagged if it keeps
  ``c`` by a margin above a threshold set at a false-positive rate on other clean held-out images. Two forward
  passes per input.
- :class:`MinimalPerturbationDetector`: a per-input minimal DeepFool-like walk (Moosavi-Dezfooli, Fawzi and
  Frossard, "DeepFool: a simple and accurate method to fool deep neural networks", CVPR 2016) away from the
  predicted label: each step linearises the margin to the runner-up class and steps onto its boundary (times
  ``1 + overshoot``), moving only pixels the [0, 1] box lets move that way, until the label changes; its L2 norm
  is the flip norm, and inputs whose flip norm exceeds the budget (the ``1 - fpr`` quantile of clean held-out
  flip norms) are flagged. Measured on MNIST it fails: the walk finds the trigger itself, and triggered inputs
  flip at smaller norms than clean ones (docs/results.md#backdoor-defences).

L2 norms are in [0, 1] pixel units. Targets: docs/acceptance.md#backdoor-defences.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from dnnsec.defence.classifier import DefenceError, PixelClassifier


@dataclass(frozen=True)
class FlipNorms:
    """Result of :func:`flip_norms`.

    Attributes
    ----------
    norm : torch.Tensor
        float64 (N,): L2 norm (pixel units in [0, 1]) of the perturbation that changed each input's label;
        ``inf`` where none did within the steps or the norm cap.
    steps : torch.Tensor
        int64 (N,): gradient evaluations spent on each input.
    seconds : float
        Wall time of the whole batch (s).
    """

    norm: torch.Tensor
    steps: torch.Tensor
    seconds: float


def _walk(clf: PixelClassifier, x0: torch.Tensor, max_norm: float, steps: int, overshoot: float
          ) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        y0 = clf(x0).argmax(1)
    cur = x0.clone()
    norm = torch.full((len(x0),), math.inf, dtype=torch.float64)
    used = torch.zeros(len(x0), dtype=torch.long)
    active = torch.arange(len(x0))
    for it in range(steps + 1):
        xa = cur[active].clone().requires_grad_(True)
        z = clf(xa)
        y = y0[active]
        dist = (xa.detach() - x0[active]).flatten(1).norm(dim=1).double()
        flipped = z.argmax(1) != y
        norm[active[flipped]] = dist[flipped]
        keep = ~flipped & (dist <= max_norm)
        if it == steps or not bool(keep.any()):
            break
        zy = z.gather(1, y[:, None]).squeeze(1)
        other = z.scatter(1, y[:, None], -math.inf).max(1).values
        margin = other - zy                                  # < 0 while the label holds
        (grad,) = torch.autograd.grad(margin[keep].sum(), xa)
        g = grad[keep]
        xk = xa.detach()[keep]
        g = g.masked_fill(((xk <= 0) & (g < 0)) | ((xk >= 1) & (g > 0)), 0.0)
        gn2 = g.flatten(1).pow(2).sum(1).clamp_min(1e-20).view(-1, *[1] * (g.dim() - 1))
        step = ((-margin[keep].detach()).clamp_min(0) + 1e-4).view_as(gn2) / gn2 * g
        active = active[keep]
        used[active] += 1
        cur[active] = (xk + (1 + overshoot) * step).clamp(0.0, 1.0)
    return norm, used


def flip_norms(clf: PixelClassifier, x: torch.Tensor, max_norm: float = math.inf, steps: int = 50,
               overshoot: float = 0.02, batch_size: int = 256) -> FlipNorms:
    """Minimal-perturbation walk of every input of ``x`` (N, C, H, W in [0, 1]) away from its predicted label.

    Parameters
    ----------
    clf : PixelClassifier
    x : torch.Tensor
        Intensities in [0, 1].
    max_norm : float
        Stop an input's walk once its perturbation's L2 norm (pixel units) exceeds this (its norm is then ``inf``).
    steps : int
        Most gradient steps per input.
    overshoot : float
        Each step goes ``1 + overshoot`` times the linearised distance to the runner-up's boundary.
    batch_size : int

    Returns
    -------
    FlipNorms
    """
    if steps < 1:
        raise DefenceError(f"the perturbation needs at least 1 step, got {steps}")
    t0 = time.perf_counter()
    norms, used = [], []
    for i in range(0, len(x), batch_size):
        n, u = _walk(clf, x[i:i + batch_size].float(), max_norm, steps, overshoot)
        norms.append(n)
        used.append(u)
    empty = torch.empty(0)
    return FlipNorms(torch.cat(norms) if norms else empty.double(), torch.cat(used) if used else empty.long(),
                     time.perf_counter() - t0)


class MinimalPerturbationDetector:
    """Flags inputs whose label no per-input walk within the L2 budget changes (see the module docstring).

    Parameters
    ----------
    clf : PixelClassifier
    steps, overshoot, batch_size
        Of :func:`flip_norms`.
    budget : float, optional
        L2 budget (pixel units in [0, 1]); set by :meth:`calibrate` when not given.
    """

    def __init__(self, clf: PixelClassifier, steps: int = 50, overshoot: float = 0.02, batch_size: int = 256,
                 budget: float | None = None) -> None:
        self.clf, self.steps, self.overshoot, self.batch_size, self.budget = clf, steps, overshoot, batch_size, budget

    def norms(self, x: torch.Tensor, max_norm: float = math.inf) -> FlipNorms:
        """Flip norms of ``x`` (see :func:`flip_norms`)."""
        return flip_norms(self.clf, x, max_norm, self.steps, self.overshoot, self.batch_size)

    def calibrate(self, clean: torch.Tensor, fpr: float = 0.01) -> MinimalPerturbationDetector:
        """Set the budget to the ``1 - fpr`` quantile of the flip norms of clean held-out inputs ``clean``.

        At most a fraction ``fpr`` of ``clean`` has a flip norm above the budget (the next order statistic up is
        taken), so the false-positive rate on ``clean`` is at most ``fpr`` by construction.

        Raises
        ------
        DefenceError
            If ``fpr`` is not in (0, 1), ``clean`` is empty, or more than ``fpr`` of the clean inputs keep their
            label within the steps (more steps are needed).
        """
        if not 0.0 < fpr < 1.0 or len(clean) == 0:
            raise DefenceError(f"calibration needs clean inputs and a false-positive rate in (0, 1), got "
                               f"{len(clean)} inputs and {fpr}")
        norms = self.norms(clean).norm.numpy()
        budget = float(np.quantile(norms, 1.0 - fpr, method="higher"))
        if not math.isfinite(budget):
            raise DefenceError(f"{np.mean(~np.isfinite(norms)):.1%} of the clean inputs keep their label after "
                               f"{self.steps} steps, more than the false-positive rate {fpr}: raise the steps")
        self.budget = budget
        return self

    def flag(self, x: torch.Tensor) -> tuple[torch.Tensor, FlipNorms]:
        """Boolean (N,): inputs whose label survives the budget; and their flip norms (``inf`` past the budget)."""
        if self.budget is None:
            raise DefenceError("the perturbation detector has no budget: calibrate it on clean held-out inputs")
        result = self.norms(x, self.budget)
        return result.norm > self.budget, result


def fit_class_perturbations(clf: PixelClassifier, clean: torch.Tensor, num_classes: int, budget: float,
                            steps: int = 300, lr: float = 0.05, margin: float = 2.0, batch_size: int = 256,
                            seed: int = 0, exclude: torch.Tensor | None = None) -> torch.Tensor:
    """One universal perturbation per predicted class, of L2 norm <= ``budget``, fitted on clean images.

    ``v[c]`` is trained on the clean images the model assigns to class ``c`` to push them out of ``c``: Adam on
    the mean hinge ``max(z_c - max_{k != c} z_k + margin, 0)`` of the logits of ``clip(x + v[c], 0, 1)``, each
    step followed by projection onto the L2 ball of radius ``budget`` (the batch form of universal adversarial
    perturbations: Moosavi-Dezfooli, Fawzi, Fawzi and Frossard, CVPR 2017; Shafahi et al., AAAI 2020). With
    ``exclude`` (int64 (K,)), class ``exclude[c]`` does not count as a way out of ``c`` (the max runs over
    ``k != c, exclude[c]``): ``v[c]`` pushes towards the other classes.

    Returns
    -------
    torch.Tensor
        float32 (K, C, H, W), pixel units in [0, 1]; zero for a class no clean image is assigned to.
    """
    if budget <= 0 or steps < 1 or len(clean) == 0:
        raise DefenceError(f"class perturbations need clean images, a budget > 0 and steps >= 1, got "
                           f"{len(clean)} images, budget {budget}, {steps} steps")
    pred = clf.predict(clean)
    v = torch.zeros(num_classes, *clean.shape[1:], requires_grad=True)
    opt = torch.optim.Adam([v], lr=lr)
    g = torch.Generator().manual_seed(seed)
    for p in clf.parameters():
        p.requires_grad_(False)
    try:
        for _ in range(steps):
            idx = torch.randint(0, len(clean), (min(batch_size, len(clean)),), generator=g)
            c = pred[idx]
            z = clf((clean[idx] + v[c]).clamp(0.0, 1.0))
            zc = z.gather(1, c[:, None]).squeeze(1)
            blocked = z.scatter(1, c[:, None], -math.inf)
            if exclude is not None:
                blocked = blocked.scatter(1, exclude[c][:, None], -math.inf)
            loss = torch.relu(zc - blocked.max(1).values + margin).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                n = v.flatten(1).norm(dim=1).clamp_min(1e-12)
                v.mul_((budget / n).clamp(max=1.0).view(-1, *[1] * (v.dim() - 1)))
    finally:
        for p in clf.parameters():
            p.requires_grad_(True)
    return v.detach()


class PerturbationDetector:
    """Intentional adversarial perturbation with one universal perturbation per predicted class.

    An input predicted as class ``c`` gets the perturbation ``v[c]`` (:func:`fit_class_perturbations`, fitted on
    clean held-out images); the score is the margin of ``c`` over the runner-up on the perturbed input. A clean
    input loses its label (score < 0); a backdoor instance, whose trigger outweighs the perturbation, keeps it.
    Flagged: label unchanged and score above the threshold, the ``1 - fpr`` quantile of the scores of clean
    held-out inputs apart from those the perturbations were fitted on (:meth:`calibrate`), so at most ``fpr`` of
    them is flagged. Costs two forward passes per input (three with the second perturbation of :meth:`fit`; the
    L2 norm reported is the first one's, the second has the same bound).

    Parameters
    ----------
    clf : PixelClassifier
    num_classes : int
    budget : float
        L2 norm bound of every perturbation, pixel units in [0, 1].
    steps, lr, margin, batch_size, seed
        Of :func:`fit_class_perturbations`.
    """

    def __init__(self, clf: PixelClassifier, num_classes: int, budget: float = 3.0, steps: int = 300,
                 lr: float = 0.05, margin: float = 2.0, batch_size: int = 256, seed: int = 0) -> None:
        self.clf, self.num_classes, self.budget = clf, num_classes, budget
        self.fit_args = {"steps": steps, "lr": lr, "margin": margin, "batch_size": batch_size, "seed": seed}
        self.perturbations: torch.Tensor | None = None
        self.threshold: float | None = None
        self.class_thresholds: torch.Tensor | None = None
        self.second: torch.Tensor | None = None
        self.destinations: torch.Tensor | None = None
        self.seconds = 0.0

    def fit(self, clean: torch.Tensor, second: bool = False) -> PerturbationDetector:
        """Fit the class perturbations on clean held-out images ``clean`` (N, C, H, W in [0, 1]).

        With ``second``, each class ``c`` also gets a perturbation that may not push into ``d(c)``, the class the
        first one moves most of the clean images of ``c`` into (its natural destination, read off ``clean``), and
        an input's score is the larger of its two margins. A backdoor instance whose own content is ``d(c)``
        loses the target under ``v[c]`` (the perturbation restores its class), not under the second one.
        """
        self.perturbations = fit_class_perturbations(self.clf, clean, self.num_classes, self.budget,
                                                     **self.fit_args)
        self.second = None
        if second:
            with torch.no_grad():
                pred = self.clf.predict(clean)
                moved = self.clf.predict((clean + self.perturbations[pred]).clamp(0.0, 1.0))
            dest = torch.arange(self.num_classes)
            for c in range(self.num_classes):
                out = moved[(pred == c) & (moved != c)]
                if len(out):
                    dest[c] = torch.bincount(out, minlength=self.num_classes).argmax()
            self.destinations = dest
            self.second = fit_class_perturbations(self.clf, clean, self.num_classes, self.budget, exclude=dest,
                                                  **self.fit_args)
        return self

    @torch.no_grad()
    def scores(self, x: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Margin (logits) of each input's predicted class on its perturbed copy, the L2 norm (pixel units) of the
        perturbation after clipping to [0, 1] (float64 (N,) each), and the predicted class (int64 (N,)). Sets
        :attr:`seconds` (wall time, s)."""
        if self.perturbations is None:
            raise DefenceError("the perturbation detector is not fitted: fit it on clean held-out inputs")
        t0 = time.perf_counter()
        scores, norms, preds = [], [], []
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            c = self.clf(xb).argmax(1)
            xp = (xb + self.perturbations[c]).clamp(0.0, 1.0)
            score = self._margin(self.clf(xp), c)
            if self.second is not None:
                score = torch.maximum(score, self._margin(self.clf((xb + self.second[c]).clamp(0.0, 1.0)), c))
            scores.append(score.double())
            norms.append((xp - xb).flatten(1).norm(dim=1).double())
            preds.append(c)
        self.seconds = time.perf_counter() - t0
        empty = torch.empty(0, dtype=torch.float64)
        return ((torch.cat(scores) if scores else empty), (torch.cat(norms) if norms else empty),
                (torch.cat(preds) if preds else empty.long()))

    @staticmethod
    def _margin(z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return z.gather(1, c[:, None]).squeeze(1) - z.scatter(1, c[:, None], -math.inf).max(1).values

    def score(self, x: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
        """The scores and L2 norms of :meth:`scores`, without the predicted classes."""
        return self.scores(x, batch_size)[:2]

    def calibrate(self, clean: torch.Tensor, fpr: float = 0.01, per_class: bool = False) -> PerturbationDetector:
        """Set the threshold to the ``1 - fpr`` quantile (next order statistic up) of clean held-out scores.

        With ``per_class``, each predicted class ``c`` gets its own threshold, the ``1 - fpr`` quantile of the
        scores of the clean held-out inputs predicted ``c`` (the global one for a class with fewer than
        ``1 / fpr`` of them), so at most ``fpr`` of the clean held-out inputs of every class holding at least
        ``1 / fpr`` of them is flagged (a smaller class has only the global bound); the global
        threshold bounds the rate over all clean inputs only, and a class whose clean inputs resist its
        perturbation can then be flagged far more often.
        """
        if not 0.0 < fpr < 1.0 or len(clean) == 0:
            raise DefenceError(f"calibration needs clean inputs and a false-positive rate in (0, 1), got "
                               f"{len(clean)} inputs and {fpr}")
        s, _, pred = self.scores(clean)
        self.threshold = float(np.quantile(s.numpy(), 1.0 - fpr, method="higher"))
        self.class_thresholds = None
        if per_class:
            thr = torch.full((self.num_classes,), self.threshold, dtype=torch.float64)
            for c in range(self.num_classes):
                sc = s[pred == c].numpy()
                if len(sc) >= math.ceil(1.0 / fpr):
                    thr[c] = float(np.quantile(sc, 1.0 - fpr, method="higher"))
            self.class_thresholds = thr
        return self

    def flag(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Boolean (N,): inputs that keep their label with a margin above the threshold (of their predicted class
        when calibrated ``per_class``); scores; L2 norms."""
        if self.threshold is None:
            raise DefenceError("the perturbation detector has no threshold: calibrate it on clean held-out inputs")
        s, n, pred = self.scores(x)
        thr = self.class_thresholds[pred] if self.class_thresholds is not None else torch.tensor(self.threshold)
        return s > thr.clamp_min(0.0), s, n
