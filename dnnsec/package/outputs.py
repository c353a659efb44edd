"""Output paths that never replace what cannot be recovered: refuse existing files unless forced, never an input.

Every command that writes keys, packages or models checks its outputs here first, before any work: an output that
already exists is refused unless the caller passes ``force`` (``--force``), and an output that is the same file as
one of the inputs (after resolving links and relative parts) or as another output is refused even then. Names that
become paths (an owner name in the keyring) must be plain names (:func:`check_plain_name`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from dnnsec.errors import DnnsecError

#: A name that becomes one path component: letters, digits, ``_ . -``, no leading dot, at most 64 characters.
PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


class OutputError(DnnsecError):
    """An output would replace an existing file without ``--force``, or an input, or a name is not a plain name."""


def check_plain_name(name: object, what: str) -> str:
    """Return ``name`` if it is a plain name (:data:`PLAIN_NAME`, no ``..``); else OutputError naming ``what``."""
    if not isinstance(name, str) or not PLAIN_NAME.fullmatch(name) or ".." in name:
        raise OutputError(f"{what} {name!r:.80} is not a plain name (letters, digits, '_', '.', '-'; no leading "
                          "dot, no '..', no path separators, at most 64 characters)")
    return name


def _same(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_outputs(outputs: Iterable[str | os.PathLike], inputs: Iterable[str | os.PathLike | None] = (), *,
                  force: bool = False) -> None:
    """Refuse outputs that exist (unless ``force``), that are folders, or that are an input or another output.

    Raises
    ------
    OutputError
        Naming the output and the reason.
    """
    outs = [Path(o) for o in outputs]
    ins = [Path(i) for i in inputs if i is not None]
    for n, out in enumerate(outs):
        for other in ins:
            if _same(out, other):
                raise OutputError(f"{out}: output is the input file {other}; refusing to overwrite an input "
                                  "(even with --force)")
        for other in outs[:n]:
            if _same(out, other):
                raise OutputError(f"{out}: the same file is given for two outputs ({other})")
        if out.is_dir():
            raise OutputError(f"{out}: output is a folder")
        if (out.exists() or out.is_symlink()) and not force:
            raise OutputError(f"{out}: exists; refusing to overwrite it (pass --force to replace it)")
