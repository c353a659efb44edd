"""Training: reproducible from its config through `amt train`, weighted BCE raises recall, bad configs refused."""

import json
import tomllib

import pytest
from click.testing import CliRunner

from amt.cli import main
from amt.sferic.ablation import run
from amt.sferic.heldout import HELDOUT_SEED, Cell
from amt.sferic.train import DEFAULT_CONFIG, RunConfig
from shared.errors import ConfigError


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


def test_default_config_parses_and_reserved_seeds_are_refused(tiny_config):
    cfg = RunConfig.from_dict(tomllib.loads(DEFAULT_CONFIG.read_text()))
    assert cfg.sampler.channels == ("hx", "hy") and cfg.train.converge_tol > 0
    with pytest.raises(ConfigError, match="reserved"):
        RunConfig.from_dict({**tiny_config, "seed": HELDOUT_SEED})
    with pytest.raises(ConfigError, match="unknown"):
        RunConfig.from_dict({**tiny_config, "colour": "red"})


def test_bad_config_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = [")
    res = CliRunner().invoke(main, ["train", "--config", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code != 0 and "bad.toml" in res.output


def test_small_ablation_weighted_bce_has_higher_recall(tiny_config):
    cells = [Cell(10.0, night=False, n_records=1, seconds=0.5, sferic_rate_hz=20.0)]
    table = run(tiny_config, {"weighted": {}, "unweighted": {"pos_weight": 1.0}}, cells)
    assert table["weighted"]["pos_weight"] > 10
    assert table["weighted"]["recall"] > table["unweighted"]["recall"]
