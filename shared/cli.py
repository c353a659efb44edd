"""One way to build a command line: a click group with lazily imported subcommands and one error path.

Both ``amt`` and ``dnnsec`` are :class:`CommandGroup` s: subcommands are named as ``"module:attribute"`` and
imported only when used (``--help`` stays fast), and any :class:`~shared.errors.DomainError` or ``OSError`` raised
by a subcommand is printed as ``error: <message>`` on stderr with exit status :data:`~shared.errors.EXIT_ERROR`,
never as a traceback. Other exceptions are bugs and keep their traceback.
"""

from __future__ import annotations

import importlib
import sys

import click

from shared.errors import EXIT_ERROR, DomainError


class CommandGroup(click.Group):
    """A click group whose subcommands are imported on first use and whose domain errors end in one message.

    Parameters
    ----------
    lazy
        Subcommand name -> ``"module:attribute"`` of a click command or group.
    """

    def __init__(self, *args, lazy: dict[str, str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._lazy:
            module_name, attr = self._lazy[cmd_name].split(":")
            return getattr(importlib.import_module(module_name), attr)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (DomainError, OSError) as exc:
            fail(exc)


def fail(exc: BaseException) -> None:
    """Print ``error: <message>`` on stderr and exit with :data:`~shared.errors.EXIT_ERROR`."""
    click.echo(f"error: {exc}", err=True)
    sys.exit(EXIT_ERROR)
