"""Training: reproducible from its config through `amt train`, weighted BCE raises recall, bad configs refused."""

import json
import tomllib

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from amt.cli import main
from amt.sferic.evaluation.heldout import HELDOUT_SEED, Cell
from amt.sferic.evaluation.scoring import Scorer
from amt.sferic.inference import SfericDetector
from amt.sferic.sampler import SamplerConfig, SfericSource
from amt.sferic.train import DEFAULT_CONFIG, WIDE_CONFIG, RunConfig, init_path, train
from amt.synth.window import draw_window
from shared.checkpoint import load_checkpoint
from shared.errors import EXIT_ERROR, ConfigError


def _toml(d, path):
    lines = []
    for k, v in d.items():
        if not isinstance(v, dict):
            lines.append(f"{k} = {json.dumps(v)}")
    for k, v in d.items():
        if isinstance(v, dict):
            lines.append(f"[{k}]")
            lines += [f"{kk} = {json.dumps(vv)}" for kk, vv in v.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_amt_train_is_reproducible(tmp_path, tiny_config):
    cfg = _toml(tiny_config, tmp_path / "tiny.toml")
    runner = CliRunner()
    shas = []
    for out in ("a", "b"):
        res = runner.invoke(main, ["train", "--config", str(cfg), "--out", str(tmp_path / out), "--no-progress"])
        assert res.exit_code == 0, res.output
        meta = json.loads((tmp_path / out / "model.json").read_text())
        assert meta["arch"] == "sferic_unet" and meta["extra"]["training"]["steps"] == 30
        shas.append(meta["sha256"])
    assert shas[0] == shas[1]


def test_fine_tuning_starts_from_the_init_weights(tmp_path, tiny_config):
    first, _ = train(RunConfig.from_dict(tiny_config), tmp_path / "a", progress=False)
    tuned = {**tiny_config, "init": str(first), "train": {**tiny_config["train"], "lr": 1e-12, "max_steps": 2}}
    second, _ = train(RunConfig.from_dict(tuned), tmp_path / "b", progress=False)
    a, b = load_checkpoint(first)[0].state_dict(), load_checkpoint(second)[0].state_dict()
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)
    fresh, _ = train(RunConfig.from_dict({**tuned, "init": ""}), tmp_path / "c", progress=False)
    c = load_checkpoint(fresh)[0].state_dict()
    assert not all(torch.allclose(a[k].float(), c[k].float(), atol=1e-6) for k in a)
    wider = {**tuned, "model": {**tiny_config["model"], "widths": [4, 6]}}
    with pytest.raises(ConfigError, match="model config"):
        train(RunConfig.from_dict(wider), tmp_path / "d", progress=False)


def test_shipped_configs_parse():
    wide = RunConfig.load(WIDE_CONFIG)
    assert init_path(wide.init).is_file() and wide.sampler.deadband_fraction > 0


def test_default_config_parses_and_reserved_seeds_are_refused(tiny_config):
    cfg = RunConfig.from_dict(tomllib.loads(DEFAULT_CONFIG.read_text()))
    assert cfg.sampler.channels == ("hx", "hy") and cfg.train.converge_tol > 0
    with pytest.raises(ConfigError, match="reserved"):
        RunConfig.from_dict({**tiny_config, "seed": HELDOUT_SEED})
    with pytest.raises(ConfigError, match="unknown"):
        RunConfig.from_dict({**tiny_config, "colour": "red"})


def test_strong_windows_draw_their_snr_from_the_strong_range():
    rng = np.random.default_rng(0)
    always = SfericSource(SamplerConfig(strong_fraction=1.0, strong_snr_db=(30.0, 50.0)))
    assert all(always.field(rng).snr_db == (30.0, 50.0) for _ in range(5))
    never = SfericSource(SamplerConfig())
    assert all(never.field(rng).snr_db == (-12.0, 20.0) for _ in range(5))
    with pytest.raises(ConfigError, match="strong_fraction"):
        SamplerConfig.from_dict({"strong_fraction": 1.5})
    with pytest.raises(ConfigError, match="synth_fraction"):
        SamplerConfig.from_dict({"synth_fraction": -0.1})
    with pytest.raises(ConfigError, match="distance_km"):
        SamplerConfig.from_dict({"distance_km": [300.0, 25000.0]})


def test_shape_windows_draw_a_training_shape_and_held_out_families_are_refused():
    rng = np.random.default_rng(0)
    shapes = SfericSource(SamplerConfig(shapes=("burst", "tweek"), shape_fraction=1.0))
    assert {shapes.field(rng).sferic_model for _ in range(20)} == {"burst", "tweek"}
    assert all(SfericSource(SamplerConfig()).field(rng).sferic_model == "waveguide" for _ in range(5))
    for bad in (["damped"], ["modes"], ["waveguide"], ["sine"]):
        with pytest.raises(ConfigError, match="held-out"):
            SamplerConfig.from_dict({"shapes": bad, "shape_fraction": 0.3})
    with pytest.raises(ConfigError, match="shape_fraction"):
        SamplerConfig.from_dict({"shape_fraction": 0.3})


def test_windows_of_the_full_synthetic_field_carry_its_labels():
    cfg = SamplerConfig(synth_fraction=1.0, augment=False)
    x, y = SfericSource(cfg)(np.random.default_rng(3))
    # the same stream, replayed: one draw decides the source, then the window is amt.synth's
    rng = np.random.default_rng(3)
    rng.random()
    w = draw_window(cfg.window + cfg.lead_in + cfg.window // 4, 24_000.0, rng)
    assert x.shape == (2, cfg.window) and np.isfinite(x).all()
    assert y.any() and y.mean() < 1.0
    full = w.sferic.astype(np.float32)
    starts = range(cfg.lead_in, len(full) - cfg.window + 1)
    crops = [full[a : a + cfg.window] for a in starts]
    assert any(np.array_equal(y, c) for c in crops)  # its labels, cropped with the data


def test_bad_config_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = [")
    res = CliRunner().invoke(main, ["train", "--config", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == EXIT_ERROR and "error:" in res.output and "bad.toml" in res.output


def _train_and_score(config: dict, cells: list[Cell], out_dir) -> dict[str, float]:
    """Train ``config`` without calibration (threshold 0.5); its positive weight and mean CNN recall over ``cells``."""
    path, summary = train(RunConfig.from_dict({**config, "calibrate": False}), out_dir, progress=False)
    scorer = Scorer(SfericDetector.from_checkpoint(path), methods=("cnn",))
    recall = float(np.mean([scorer.score_cell(c, HELDOUT_SEED)["cnn"]["recall"] for c in cells]))
    return {"pos_weight": summary["pos_weight"], "recall": recall}


def test_small_ablation_weighted_bce_has_higher_recall(tiny_config, tmp_path):
    cells = [Cell(10.0, night=False, n_records=1, seconds=0.5, sferic_rate_hz=20.0)]
    table = {
        "weighted": _train_and_score(tiny_config, cells, tmp_path / "weighted"),
        "unweighted": _train_and_score({**tiny_config, "pos_weight": 1.0}, cells, tmp_path / "unweighted"),
    }
    assert table["weighted"]["pos_weight"] > 10
    assert table["weighted"]["recall"] > table["unweighted"]["recall"]
