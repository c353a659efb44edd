"""A small, exact-resuming trainer for PyTorch models.

* Optimiser (Adam, AdamW or SGD) and learning-rate schedule (constant, cosine, step; optional linear
  warm-up) from a :class:`TrainConfig` whose keys are checked.
* Runs until the smoothed training loss converges (:mod:`shared.convergence`) or ``max_steps`` ends.
* Gradient clipping, validation hooks, a tqdm progress bar and a JSON-lines log of loss and metrics.
* Deterministic: batch ``k`` comes from step-indexed data (:mod:`shared.data`) and the torch RNG is re-seeded
  from ``(seed, k)`` each step, so :meth:`Trainer.save` / :meth:`Trainer.load` resume a run exactly (same
  losses, bit for bit).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from shared.checkpoint import OPTIMIZER_PREFIX, load_into, load_state, save_checkpoint
from shared.convergence import ConvergenceMonitor
from shared.data import Batch
from shared.errors import CheckpointError, ConfigError, TrainingError
from shared.seeding import torch_seed_for

_OPTIMIZERS = ("adam", "adamw", "sgd")
_SCHEDULES = ("constant", "cosine", "step")


@dataclass(frozen=True)
class TrainConfig:
    """Training settings. ``lr`` and ``max_steps`` are required; every other key has a default.

    Attributes
    ----------
    lr : float
        Peak learning rate.
    max_steps : int
        Step budget; training ends here if the loss has not converged.
    optimizer : str
        ``adam``, ``adamw`` or ``sgd``.
    momentum, weight_decay : float
        SGD momentum; L2 (Adam/SGD) or decoupled (AdamW) weight decay.
    schedule : str
        ``constant``, ``cosine`` (to 0 at ``max_steps``) or ``step`` (x ``gamma`` every ``step_size``).
    step_size, gamma, warmup_steps
        Step-schedule period and factor; linear warm-up length.
    grad_clip : float or None
        Clip the global gradient norm to this value.
    converge_tol, converge_patience, smoothing, min_steps
        Convergence rule (see :class:`shared.convergence.ConvergenceMonitor`); ``converge_tol = 0``
        disables early stopping.
    seed : int
        Seed of the per-step torch RNG (dropout etc.).
    log_every, val_every : int
        Steps between log lines and between validation calls (0: never validate).
    """

    lr: float
    max_steps: int
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "constant"
    step_size: int = 1000
    gamma: float = 0.1
    warmup_steps: int = 0
    grad_clip: float | None = None
    converge_tol: float = 1e-3
    converge_patience: int = 200
    smoothing: float = 0.98
    min_steps: int = 0
    seed: int = 0
    log_every: int = 10
    val_every: int = 0

    def __post_init__(self) -> None:
        checks = [
            (self.lr > 0 and math.isfinite(self.lr), f"lr must be positive, got {self.lr}"),
            (self.max_steps >= 1, f"max_steps must be >= 1, got {self.max_steps}"),
            (self.optimizer in _OPTIMIZERS, f"optimizer must be one of {_OPTIMIZERS}, got {self.optimizer!r}"),
            (self.schedule in _SCHEDULES, f"schedule must be one of {_SCHEDULES}, got {self.schedule!r}"),
            (self.grad_clip is None or self.grad_clip > 0, f"grad_clip must be positive, got {self.grad_clip}"),
            (self.converge_tol >= 0, f"converge_tol must be >= 0, got {self.converge_tol}"),
            (self.converge_patience >= 1, f"converge_patience must be >= 1, got {self.converge_patience}"),
            (0 <= self.smoothing < 1, f"smoothing must lie in [0, 1), got {self.smoothing}"),
            (self.log_every >= 1, f"log_every must be >= 1, got {self.log_every}"),
            (self.val_every >= 0, f"val_every must be >= 0, got {self.val_every}"),
            (self.step_size >= 1, f"step_size must be >= 1, got {self.step_size}"),
            (self.warmup_steps >= 0, f"warmup_steps must be >= 0, got {self.warmup_steps}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ConfigError(f"training config: {msg}")

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "training config") -> TrainConfig:
        """Build from a dict (e.g. parsed TOML/JSON), refusing unknown and missing keys."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(fields))
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {unknown}; known keys: {sorted(fields)}")
        required = [n for n, f in fields.items() if f.default is dataclasses.MISSING]
        missing = [k for k in required if k not in d]
        if missing:
            raise ConfigError(f"{source}: missing required key(s) {missing}")
        try:
            return cls(**d)
        except TypeError as exc:
            raise ConfigError(f"{source}: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TrainResult:
    """What a :meth:`Trainer.fit` call did."""

    steps: int
    stopped_by: str  # "converged", "max_steps" or "paused"
    losses: list[float] = field(default_factory=list)
    smoothed_loss: float = float("nan")
    validation: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def _make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("model has no trainable parameters")
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def lr_factor(cfg: TrainConfig, step: int) -> float:
    """Learning-rate multiplier at ``step`` (0-based) for the configured schedule."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "cosine":
        span = max(cfg.max_steps - cfg.warmup_steps, 1)
        progress = min(max(step - cfg.warmup_steps, 0) / span, 1.0)
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if cfg.schedule == "step":
        return cfg.gamma ** (step // cfg.step_size)
    return 1.0


class Trainer:
    """Train ``model`` on step-indexed batches until convergence or the step budget.

    Parameters
    ----------
    model
        The network.
    loss_fn
        ``loss_fn(output, target) -> scalar tensor``.
    config
        :class:`TrainConfig` or a dict for :meth:`TrainConfig.from_dict`.
    batches
        An object with ``batch(step) -> (x, y)`` (exact resume), or any iterable of ``(x, y)``.
    val_fn
        Optional ``val_fn(model) -> dict`` of metrics, called every ``val_every`` steps (model in eval
        mode, no grad).
    log_path
        Optional JSON-lines log; one line per ``log_every`` steps and per validation.
    progress
        Show a tqdm progress bar.
    forward
        Optional ``forward(model, x) -> output`` (default ``model(x)``).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        loss_fn: Callable[[Any, torch.Tensor], torch.Tensor],
        config: TrainConfig | dict[str, Any],
        batches: Any,
        val_fn: Callable[[torch.nn.Module], dict[str, Any]] | None = None,
        log_path: str | Path | None = None,
        progress: bool = True,
        forward: Callable[[torch.nn.Module, Any], Any] | None = None,
    ) -> None:
        self.config = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
        self.model, self.loss_fn, self.batches = model, loss_fn, batches
        self.val_fn, self.progress = val_fn, progress
        self.log_path = Path(log_path) if log_path is not None else None
        self.forward = forward or (lambda m, x: m(x))
        self.optimizer = _make_optimizer(model, self.config)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: lr_factor(self.config, s))
        cfg = self.config
        self.monitor = ConvergenceMonitor(
            tol=cfg.converge_tol, patience=cfg.converge_patience, smoothing=cfg.smoothing, min_steps=cfg.min_steps
        )
        self.step = 0
        self._iter: Iterator[Batch] | None = None

    # -- data ----------------------------------------------------------------------------------------------
    def _batch(self, step: int) -> Batch:
        if hasattr(self.batches, "batch"):
            return self.batches.batch(step)
        if self._iter is None:
            if not isinstance(self.batches, Iterable):
                raise TrainingError(f"batches must have batch(step) or be iterable, got {type(self.batches).__name__}")
            self._iter = iter(self.batches)
        try:
            return next(self._iter)
        except StopIteration as exc:
            raise TrainingError(f"data ran out at step {step}; give an infinite or step-indexed source") from exc

    def _log(self, record: dict[str, Any]) -> None:
        if self.log_path is None:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")

    # -- training ------------------------------------------------------------------------------------------
    def fit(self, until: int | None = None) -> TrainResult:
        """Train from the current step until convergence, ``max_steps`` or step ``until``; return what happened.

        ``until`` pauses a run early (e.g. to checkpoint it); a paused run reports ``stopped_by="paused"``.
        """
        cfg = self.config
        end = cfg.max_steps if until is None else min(until, cfg.max_steps)
        result = TrainResult(steps=self.step, stopped_by="max_steps")
        t0 = time.perf_counter()
        bar = tqdm(total=cfg.max_steps, initial=self.step, disable=not self.progress, desc="train", unit="step")
        try:
            while self.step < end:
                step = self.step
                x, y = self._batch(step)
                torch.manual_seed(torch_seed_for(cfg.seed, 2, step))
                self.model.train()
                self.optimizer.zero_grad(set_to_none=True)
                loss = self.loss_fn(self.forward(self.model, x), y)
                value = float(loss.detach())
                if not math.isfinite(value):
                    last = f"{result.losses[-1]:.6g}" if result.losses else "none"
                    raise TrainingError(
                        f"loss became {value} at step {step} (last finite loss {last}); lower the learning "
                        "rate, clip gradients or check the data for NaNs"
                    )
                loss.backward()
                grad_norm = None
                if cfg.grad_clip is not None:
                    grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip))
                self.optimizer.step()
                self.scheduler.step()
                self.step = step + 1
                smoothed = self.monitor.update(value)
                result.losses.append(value)
                if self.step % cfg.log_every == 0 or self.step == cfg.max_steps:
                    rec = {
                        "step": self.step,
                        "loss": value,
                        "smoothed_loss": smoothed,
                        "lr": self.scheduler.get_last_lr()[0],
                    }
                    if grad_norm is not None:
                        rec["grad_norm"] = grad_norm
                    self._log(rec)
                    bar.set_postfix(loss=f"{smoothed:.4g}")
                bar.update(1)
                if self.val_fn is not None and cfg.val_every and self.step % cfg.val_every == 0:
                    result.validation.append(self.validate())
                if cfg.converge_tol > 0 and self.monitor.converged:
                    result.stopped_by = "converged"
                    break
        finally:
            bar.close()
        if result.stopped_by == "max_steps" and self.step < cfg.max_steps:
            result.stopped_by = "paused"
        result.steps = self.step
        result.smoothed_loss = self.monitor.smoothed
        result.seconds = time.perf_counter() - t0
        self._log({"step": self.step, "stopped_by": result.stopped_by, "smoothed_loss": result.smoothed_loss})
        return result

    @torch.no_grad()
    def validate(self) -> dict[str, Any]:
        """Run the validation hook now and log its metrics."""
        if self.val_fn is None:
            return {}
        was = self.model.training
        self.model.eval()
        try:
            metrics = dict(self.val_fn(self.model))
        finally:
            self.model.train(was)
        record = {"step": self.step, **{f"val_{k}": v for k, v in metrics.items()}}
        self._log(record)
        return record

    # -- save and resume -----------------------------------------------------------------------------------
    def save(self, path: str | Path, *, arch: str, config: dict[str, Any], extra: dict | None = None) -> Path:
        """Write a training checkpoint (weights, optimiser, scheduler, convergence state) atomically."""
        opt_state = self.optimizer.state_dict()
        tensors: dict[str, torch.Tensor] = {}
        scalar_state: dict[str, dict[str, Any]] = {}
        for pid, st in opt_state["state"].items():
            for k, v in st.items():
                if isinstance(v, torch.Tensor):
                    tensors[f"{OPTIMIZER_PREFIX}{pid}/{k}"] = v
                else:
                    scalar_state.setdefault(str(pid), {})[k] = v
        training_state = {
            "step": self.step,
            "train_config": self.config.to_dict(),
            "optimizer_param_groups": opt_state["param_groups"],
            "optimizer_scalars": scalar_state,
            "scheduler": {k: v for k, v in self.scheduler.state_dict().items() if k != "lr_lambdas"},
            "monitor": self.monitor.state(),
        }
        return save_checkpoint(
            path,
            self.model,
            arch=arch,
            config=config,
            training_state=training_state,
            extra=extra,
            extra_tensors=tensors,
        )

    def load(self, path: str | Path) -> None:
        """Restore weights and training state saved by :meth:`save` (same architecture and config)."""
        state, extra, meta = load_state(path)
        ts = meta.get("training_state")
        if not ts:
            raise CheckpointError(f"{path}: holds weights only, no training state to resume from")
        if ts["train_config"] != self.config.to_dict():
            diff = sorted(k for k, v in ts["train_config"].items() if self.config.to_dict().get(k) != v)
            raise CheckpointError(f"{path}: saved with a different training config (keys {diff})")
        load_into(self.model, state, source=str(path))
        opt_state: dict[str, Any] = {"state": {}, "param_groups": ts["optimizer_param_groups"]}
        for name, tensor in extra.items():
            pid, key = name[len(OPTIMIZER_PREFIX) :].split("/", 1)
            opt_state["state"].setdefault(int(pid), {})[key] = tensor
        for pid, scalars in ts["optimizer_scalars"].items():
            opt_state["state"].setdefault(int(pid), {}).update(scalars)
        self.optimizer.load_state_dict(opt_state)
        self.scheduler.load_state_dict({**ts["scheduler"], "lr_lambdas": [None]})
        self.monitor.load_state(ts["monitor"])
        self.step = int(ts["step"])
