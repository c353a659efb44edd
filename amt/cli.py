"""The ``amt`` command line: one group, subcommands loaded lazily so start-up stays fast.

Each subcommand lives beside the code it drives (``amt/<area>/cli.py``) and is listed in
:data:`COMMANDS` as ``name -> "module:attribute"``. Errors on bad input end in one line and exit status 2
(:mod:`shared.cli`).
"""

from __future__ import annotations

import click

from shared.cli import CommandGroup

#: Subcommand name -> "module:click command" (imported only when used or listed).
COMMANDS: dict[str, str] = {
    "synth": "amt.synth.cli:synth",
    "process": "amt.pipeline.cli:process",
    "info": "amt.io.cli:info",
    "train": "amt.sferic.cli:train",
    "detect": "amt.sferic.cli:detect",
    "report": "amt.report.cli:report",
    "survey": "amt.survey.cli:survey",
}


@click.group(
    cls=CommandGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Examples:\n\n  amt COMMAND --help",
)
@click.version_option(package_name="amt-dnnsec")
def main() -> None:
    """Audio-magnetotelluric processing: read, synthesise, detect sferics, estimate transfer functions."""
