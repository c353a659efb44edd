"""The README's dnnsec commands run as written, from keygen to verify, on a small MNIST model.

Every ``dnnsec`` line of the README's dnnsec block is run in a fresh folder, in order, through the installed entry
point's group (click's CliRunner). ``model.safetensors`` there is "any classifier checkpoint": here a 784-64-10 MLP
trained briefly on MNIST, standing in for the zoo CNN that ``dnnsec zoo build`` (the one line skipped: it trains
for minutes and is tested in tests/dnnsec/test_zoo.py) would print. Registry, keyring and cache live in the
folder through their environment variables, as a user would set them.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file
from torch import nn
from torch.nn import functional as F

from dnnsec.cli import main
from dnnsec.zoo.data import load_mnist
from shared.architectures import register_model
from shared.checkpoint import save_checkpoint
from shared.data import TensorBatches
from shared.errors import EXIT_OK
from shared.trainer import Trainer

README = Path(__file__).resolve().parents[2] / "README.md"


@register_model("readme_test_mlp")
def build_readme_test_mlp(num_classes: int = 10, hidden: int = 64) -> nn.Module:
    """784-``hidden``-K MLP whose class scores come from ``fc`` (the layer the watermark widens)."""
    model = nn.Sequential()
    model.add_module("flatten", nn.Flatten())
    model.add_module("hidden", nn.Linear(784, hidden))
    model.add_module("relu", nn.ReLU())
    model.add_module("fc", nn.Linear(hidden, num_classes))
    return model


def readme_commands() -> list[list[str]]:
    """The ``dnnsec`` command lines of the README's dnnsec block (comments dropped), as argument lists."""
    text = README.read_text()
    section = text[text.index("### `dnnsec`"):]
    block = section[section.index("```bash\n") + 8 : section.index("```", section.index("```bash\n") + 8)]
    commands = []
    for line in block.splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line.startswith("dnnsec "):
            commands.append(shlex.split(line)[1:])
    return commands


def test_the_readme_block_is_found() -> None:
    names = [c[0] for c in readme_commands()]
    assert names[:2] == ["zoo", "keygen"] and names[-1] == "verify" and len(names) >= 8


@pytest.mark.slow
def test_readme_dnnsec_commands_run_as_written(tmp_path, monkeypatch, shared_data) -> None:
    monkeypatch.chdir(tmp_path)
    for var, sub in (("DNNSEC_REGISTRY", "registry/registry.sqlite"), ("DNNSEC_KEYRING", "keyring"),
                     ("AMT_DNNSEC_CACHE", "cache")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.delenv("DNNSEC_KEY_PASSWORD", raising=False)
    monkeypatch.delenv("DNNSEC_SIGN_KEY_PASSWORD", raising=False)
    train = load_mnist("train")
    torch.manual_seed(0)
    model = build_readme_test_mlp()
    Trainer(model, F.cross_entropy, {"lr": 3e-3, "max_steps": 300, "converge_tol": 0.0},
            TensorBatches(train.x[:6000], train.y[:6000], 64), progress=False).fit()
    save_checkpoint(tmp_path / "model.safetensors", model.eval(), arch="readme_test_mlp", config={},
                    extra={"dataset": "mnist"})
    runner = CliRunner()
    for args in readme_commands():
        if args[:2] == ["zoo", "build"]:
            continue
        res = runner.invoke(main, args, catch_exceptions=False)
        assert res.exit_code == EXIT_OK, f"dnnsec {shlex.join(args)}\n{res.output}"
    # what the commands promised: the restored model equals the original, and the copy is traced to bob
    restored, original = load_file(tmp_path / "restored.safetensors"), load_file(tmp_path / "model.safetensors")
    assert restored.keys() == original.keys()
    assert all(torch.equal(restored[k], original[k]) for k in original)
    verdict = runner.invoke(main, ["verify", "bob.safetensors", "--json"], catch_exceptions=False)
    assert verdict.exit_code == EXIT_OK
    doc = json.loads(verdict.output[verdict.output.index("{"):])
    assert doc["owned"] and doc["user"] == "bob", doc
