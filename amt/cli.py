"""The ``amt`` command line: one group, subcommands loaded lazily so start-up stays fast.

Each subcommand lives beside the code it drives (``amt/<area>/cli.py``) and is listed in
:data:`COMMANDS` as ``name -> "module:attribute"``.
"""

from __future__ import annotations

import importlib

import click

#: Subcommand name -> "module:click command" (imported only when used or listed).
COMMANDS: dict[str, str] = {
    "synth": "amt.synth.cli:synth",
    "process": "amt.transfer.cli:process",
    "info": "amt.io.cli:info",
    "train": "amt.sferic.cli:train",
    "detect": "amt.sferic.cli:detect",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def __init__(self, *args, lazy: dict[str, str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._lazy:
            module_name, attr = self._lazy[cmd_name].split(":")
            return getattr(importlib.import_module(module_name), attr)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Examples:\n\n  amt COMMAND --help",
)
@click.version_option(package_name="amt-dnnsec")
def main() -> None:
    """Audio-magnetotelluric processing: read, synthesise, detect sferics, estimate transfer functions."""
