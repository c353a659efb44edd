import json
import math

import numpy as np
import pytest
import torch

from shared.architectures import register_model
from shared.data import RandomBatches, TensorBatches
from shared.errors import ConfigError, TrainingError
from shared.losses import WeightedBCELoss
from shared.trainer import TrainConfig, Trainer


class Scalar(torch.nn.Module):
    """A single parameter w; the 'loss' is computed from w alone (inputs are ignored)."""

    def __init__(self, w0: float) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(w0))

    def forward(self, x):
        return self.w


def _constant_batches():
    return RandomBatches(lambda rng: (np.zeros(1, np.float32), np.zeros(1, np.float32)), batch_size=1)


def test_stops_by_convergence_on_a_plateau():
    # loss = w^2 + 1 plateaus at 1 once w ~ 0
    cfg = TrainConfig(
        lr=0.1, max_steps=5000, optimizer="sgd", momentum=0.0, converge_tol=1e-4, converge_patience=50, smoothing=0.0
    )
    tr = Trainer(Scalar(3.0), lambda w, y: w**2 + 1.0, cfg, _constant_batches(), progress=False)
    res = tr.fit()
    assert res.stopped_by == "converged"
    assert res.steps < 500
    assert res.losses[-1] == pytest.approx(1.0, abs=1e-4)


def test_keeps_training_while_loss_still_improves():
    # loss = w^2 under SGD shrinks by (1 - 2 lr)^2 per step: relative change per 50-step window
    # is 1 - 0.998^100 = 18 % forever, far above the 1 % tolerance, so only the budget stops it.
    cfg = TrainConfig(
        lr=0.001, max_steps=600, optimizer="sgd", momentum=0.0, converge_tol=0.01, converge_patience=50, smoothing=0.0
    )
    tr = Trainer(Scalar(3.0), lambda w, y: w**2, cfg, _constant_batches(), progress=False)
    res = tr.fit()
    assert res.stopped_by == "max_steps"
    assert res.steps == 600
    ratio = res.losses[-1] / res.losses[-51]
    assert ratio == pytest.approx((1 - 2 * 0.001) ** 100, rel=1e-4)


@register_model("test_dropout_mlp")
def dropout_mlp(n_hidden: int = 16) -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(3, n_hidden),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.2),
        torch.nn.Linear(n_hidden, 1),
        torch.nn.Flatten(0),
    )


def _sample(rng):
    x = rng.normal(size=3).astype(np.float32)
    return x, np.float32(x[0] + 0.5 * x[1] > 0.3)


def _trainer(tmp_path, model=None, log="log.jsonl"):
    torch.manual_seed(0)
    model = model or dropout_mlp()
    cfg = TrainConfig(
        lr=0.01, max_steps=60, schedule="cosine", warmup_steps=5, grad_clip=1.0, converge_tol=0.0, seed=3, log_every=5
    )
    return Trainer(
        model, WeightedBCELoss(2.0), cfg, RandomBatches(_sample, 16, seed=7), log_path=tmp_path / log, progress=False
    )


def test_resume_reproduces_the_identical_loss_sequence(tmp_path):
    straight = _trainer(tmp_path, log="a.jsonl").fit().losses
    first = _trainer(tmp_path, log="b.jsonl")
    part1 = first.fit(until=25)
    assert part1.stopped_by == "paused"
    ckpt = first.save(tmp_path / "run.safetensors", arch="test_dropout_mlp", config={})
    torch.manual_seed(1234)  # a different fresh init must not matter: everything comes from the checkpoint
    resumed = _trainer(tmp_path, model=dropout_mlp(), log="b.jsonl")
    resumed.load(ckpt)
    part2 = resumed.fit()
    assert part1.losses + part2.losses == straight  # bit-identical floats
    lines = [json.loads(x) for x in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines if "loss" in r][-1] == 60


def test_tensor_batches_cover_each_epoch_exactly_once():
    x = torch.arange(10).float().unsqueeze(1)
    tb = TensorBatches(x, torch.arange(10), batch_size=5, seed=1)
    seen = torch.cat([tb.batch(0)[1], tb.batch(1)[1]])
    assert sorted(seen.tolist()) == list(range(10))
    assert torch.equal(tb.batch(3)[1], TensorBatches(x, torch.arange(10), 5, seed=1).batch(3)[1])


def test_nan_loss_is_reported_with_its_step():
    cfg = TrainConfig(lr=0.1, max_steps=10, converge_tol=0.0)
    calls = {"n": 0}

    def loss(w, y):
        calls["n"] += 1
        return w * (math.nan if calls["n"] == 4 else 1.0)

    tr = Trainer(Scalar(1.0), loss, cfg, _constant_batches(), progress=False)
    with pytest.raises(TrainingError, match="loss became nan at step 3"):
        tr.fit()


def test_config_with_unknown_key_names_it():
    with pytest.raises(ConfigError, match=r"unknown key.*'learning_rate'"):
        TrainConfig.from_dict({"lr": 0.1, "max_steps": 10, "learning_rate": 0.1})


def test_config_with_missing_key_names_it():
    with pytest.raises(ConfigError, match=r"missing required key.*'max_steps'"):
        TrainConfig.from_dict({"lr": 0.1})


def test_config_with_bad_value_names_it():
    with pytest.raises(ConfigError, match="optimizer must be one of"):
        TrainConfig.from_dict({"lr": 0.1, "max_steps": 10, "optimizer": "lbfgs"})
