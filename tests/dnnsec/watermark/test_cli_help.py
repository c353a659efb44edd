"""Every watermark command has --help with examples (CONTRIBUTING: command lines)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from dnnsec.cli import main


@pytest.mark.parametrize("command", [["users"], ["users", "add"], ["users", "list"], ["users", "check"], ["issue"],
                                     ["nulls"], ["calibrate"], ["verify"]])
def test_watermark_commands_have_help_with_examples(command) -> None:
    res = CliRunner().invoke(main, [*command, "--help"])
    assert res.exit_code == 0, res.output
    assert "Examples:" in res.output
