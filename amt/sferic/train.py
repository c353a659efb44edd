"""Train the sferic CNN on freshly generated windows with weighted BCE until the loss converges.

The paper's strategy (Jiang et al., 2023): no fixed training set; every step draws new random windows
(:class:`amt.sferic.sampler.SfericSource` through :class:`shared.data.RandomBatches`), the loss is binary
cross-entropy with positives up-weighted by ``n_negative / n_positive`` (:class:`shared.losses.WeightedBCELoss`,
measured on pilot batches unless fixed), and :class:`shared.trainer.Trainer` stops when the smoothed loss
converges. Afterwards two thresholds are chosen on the validation sets
(:data:`amt.sferic.evaluation.heldout.VALIDATION_SEED`) and stored with the weights: the sample threshold (best
sample F1) and the trigger-on level of events, set for a stated false-alarm rate on sferic-free records of the
training families, with the calibration of event probabilities fitted on training-family records
(:func:`amt.sferic.evaluation.families.fit_trigger_and_calibration`; :func:`recalibrate` redoes this for a
checkpoint).

A run is a pure function of its config file: same config, same weights (single-threaded CPU).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from amt.sferic.evaluation.families import TriggerFit, fit_trigger_and_calibration
from amt.sferic.evaluation.heldout import VALIDATION_SEED, Cell, check_training_seed, records
from amt.sferic.inference import SfericDetector
from amt.sferic.model import count_parameters, macs_per_sample
from amt.sferic.preprocess import normalise
from amt.sferic.sampler import CHANNEL_ROWS, SamplerConfig, SfericSource
from amt.sferic.stitch import predict_proba
from amt.synth.labels import SfericLabel
from shared.architectures import build_model
from shared.checkpoint import load_checkpoint, load_into, save_checkpoint
from shared.data import RandomBatches
from shared.errors import ConfigError
from shared.losses import WeightedBCELoss, pos_weight_from_labels
from shared.metrics import binary_scores
from shared.seeding import seed_everything, stream_rng
from shared.trainer import TrainConfig, Trainer

ARCH = "sferic_unet"
#: Default training config shipped with the package.
DEFAULT_CONFIG = Path(__file__).parent / "configs" / "default.toml"
#: The wide-family fine-tuning config (the shipped weights' recipe when they come from it).
WIDE_CONFIG = Path(__file__).parent / "configs" / "wide.toml"
#: Root of the repository (relative ``init`` paths start here).
REPO_ROOT = Path(__file__).resolve().parents[2]
_SECTIONS = {"seed", "batch_size", "pos_weight", "model", "sampler", "train"}
_OPTIONAL = {"pilot_batches": 8, "calibrate": True, "init": ""}
#: Candidate probability thresholds of the validation calibration.
_GRID = (*np.round(np.arange(0.05, 0.96, 0.05), 2).tolist(), 0.97, 0.98, 0.99, 0.995, 0.998, 0.999)


@dataclass(frozen=True)
class RunConfig:
    """A parsed training config (see ``configs/default.toml`` for every key)."""

    seed: int
    batch_size: int
    pos_weight: float | str
    model: dict[str, Any]
    sampler: SamplerConfig
    train: TrainConfig
    pilot_batches: int = 8
    calibrate: bool = True
    init: str = ""

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config") -> RunConfig:
        unknown = sorted(set(d) - _SECTIONS - set(_OPTIONAL))
        missing = sorted(_SECTIONS - set(d))
        if unknown or missing:
            raise ConfigError(f"{source}: unknown keys {unknown}, missing keys {missing}")
        pw = d["pos_weight"]
        if not (pw == "auto" or (isinstance(pw, int | float) and pw > 0)):
            raise ConfigError(f"{source}: pos_weight must be 'auto' or a positive number, got {pw!r}")
        sampler = SamplerConfig.from_dict(d["sampler"], f"{source} [sampler]")
        model = dict(d["model"])
        if model.get("in_channels", 2) != len(sampler.channels):
            raise ConfigError(f"{source}: model in_channels must equal the {len(sampler.channels)} sampler channels")
        check_training_seed(int(d["seed"]))
        return cls(
            seed=int(d["seed"]),
            batch_size=int(d["batch_size"]),
            pos_weight=pw,
            model=model,
            sampler=sampler,
            train=TrainConfig.from_dict({**d["train"], "seed": int(d["seed"])}, f"{source} [train]"),
            pilot_batches=int(d.get("pilot_batches", _OPTIONAL["pilot_batches"])),
            calibrate=bool(d.get("calibrate", _OPTIONAL["calibrate"])),
            init=str(d.get("init", _OPTIONAL["init"])),
        )

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        """Read a TOML config, with errors naming the file."""
        path = Path(path)
        try:
            return cls.from_dict(tomllib.loads(path.read_text()), str(path))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from exc

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "batch_size": self.batch_size,
            "pilot_batches": self.pilot_batches,
            "calibrate": self.calibrate,
            **({"init": self.init} if self.init else {}),
            "pos_weight": self.pos_weight,
            "model": self.model,
            "sampler": self.sampler.to_dict(),
            "train": {k: v for k, v in self.train.to_dict().items() if k != "seed"},
        }


def init_path(init: str) -> Path:
    """A config's ``init`` checkpoint: absolute, or relative to the repository root."""
    path = Path(init)
    return path if path.is_absolute() else REPO_ROOT / path


def measure_pos_weight(source: SfericSource, batch_size: int, n_batches: int, seed: int) -> float:
    """``n_negative / n_positive`` over ``n_batches`` pilot batches (streams unused by training)."""
    ys = [source(stream_rng(seed, 99, k))[1] for k in range(n_batches * batch_size)]
    return pos_weight_from_labels(np.concatenate(ys))


def validation_probabilities(
    model: torch.nn.Module, channels: tuple[str, ...], cells: list[Cell], seed: int = VALIDATION_SEED
) -> list[tuple[Cell, np.ndarray, np.ndarray, np.ndarray, list[SfericLabel]]]:
    """``(cell, prob, truth, care, labels)`` per record of ``cells`` (probability from the stitched CNN)."""
    rows = [CHANNEL_ROWS[c] for c in channels]
    out = []
    for cell in cells:
        for rec in records(cell, seed):
            x, _ = normalise(rec.h[rows], rec.config.rate_hz)
            out.append((cell, predict_proba(model, x), rec.mask(), rec.care_mask(), list(rec.labels)))
    return out


def choose_threshold(scored: list[tuple[Cell, np.ndarray, np.ndarray, np.ndarray, list[SfericLabel]]]) -> float:
    """The probability threshold maximising the mean sample-level F1 over the validation records."""
    best, best_f1 = 0.5, -1.0
    for t in _GRID:
        f1 = np.mean([binary_scores(y[c], p[c] >= t)["f1"] for _, p, y, c, _ in scored])
        if f1 > best_f1:
            best, best_f1 = float(t), float(f1)
    return best


def validation_cells() -> list[Cell]:
    """Day and night at -10, -5, 0, 5 and 10 dB, two 2-s records each."""
    return [Cell(s, n, n_records=2) for s in (-10.0, -5.0, 0.0, 5.0, 10.0) for n in (False, True)]


def train(config: RunConfig, out_dir: str | Path, progress: bool = True) -> tuple[Path, dict[str, Any]]:
    """Train a model as ``config`` says; write ``model.safetensors`` (+ JSON) and ``train_log.jsonl``.

    Returns
    -------
    (path, summary)
        The checkpoint path and a JSON-able summary (steps, stop reason, loss, pos_weight, threshold).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    seed_everything(config.seed)
    model = build_model(ARCH, config.model)
    if config.init:  # fine-tuning: start from a checkpoint of the same architecture and model config
        start, meta = load_checkpoint(init_path(config.init), expected_arch=ARCH)
        if meta["config"] != config.model:
            raise ConfigError(f"init {config.init}: model config {meta['config']} differs from {config.model}")
        load_into(model, start.state_dict(), config.init)
    source = SfericSource(config.sampler)
    pw = config.pos_weight
    pos_weight = (
        measure_pos_weight(source, config.batch_size, config.pilot_batches, config.seed) if pw == "auto" else float(pw)
    )
    log = out / "train_log.jsonl"
    log.unlink(missing_ok=True)
    trainer = Trainer(
        model,
        WeightedBCELoss(pos_weight),
        config.train,
        RandomBatches(source, config.batch_size, seed=config.seed),
        log_path=log,
        progress=progress,
    )
    result = trainer.fit()
    model.eval()
    threshold, event_threshold, calibration = 0.5, 0.5, {}
    if config.calibrate:
        scored = validation_probabilities(model, config.sampler.channels, validation_cells())
        threshold = choose_threshold(scored)
        fit = fit_trigger_and_calibration(
            SfericDetector(model, config.sampler.channels, threshold=threshold), VALIDATION_SEED
        )
        event_threshold = fit.trigger
        calibration = _calibration_extra(fit)
    summary = {
        "steps": result.steps,
        "stopped_by": result.stopped_by,
        "smoothed_loss": result.smoothed_loss,
        "seconds": result.seconds,
        "pos_weight": pos_weight,
        "threshold": threshold,
        "event_threshold": event_threshold,
        "parameters": count_parameters(model),
        "macs_per_sample": macs_per_sample(model),
    }
    path = save_checkpoint(
        out / "model.safetensors",
        model,
        arch=ARCH,
        config=config.model,
        extra={
            "channels": list(config.sampler.channels),
            "rate_hz": 24_000.0,
            "threshold": threshold,
            "event_threshold": event_threshold,
            "training": summary,
            "run_config": config.to_dict(),
            **calibration,
        },
    )
    return path, summary


def _calibration_extra(fit: TriggerFit) -> dict[str, Any]:
    return {
        "calibration": fit.calibration.to_dict(),
        "false_alarm": {
            "trigger": fit.trigger,
            "false_per_min_on_training_noise": fit.false_per_min_at_trigger,
            "noise_minutes": fit.noise_minutes,
            "calibration_candidates": fit.n_candidates,
        },
    }


def recalibrate(path: str | Path, out: str | Path) -> TriggerFit:
    """Set a checkpoint's event trigger for the stated false-alarm rate and fit its calibration; write to ``out``.

    The sample threshold and the weights stay; the trigger and the calibration are chosen on validation records of
    the training families (:func:`amt.sferic.evaluation.families.fit_trigger_and_calibration`).
    """
    torch.set_num_threads(1)
    model, meta = load_checkpoint(path, expected_arch=ARCH)
    extra = dict(meta.get("extra", {}))
    det = SfericDetector.from_model(model, extra)
    fit = fit_trigger_and_calibration(det, VALIDATION_SEED)
    extra.update(event_threshold=fit.trigger, **_calibration_extra(fit))
    save_checkpoint(out, model, arch=ARCH, config=meta["config"], extra=extra)
    return fit
