"""The user's side: detect sferics and process a record with the protected sferic model issued to them.

The user holds the package (``sferic.dnnpkg``), their own key file and the owner's public key, pinned out of band
in a keyring folder (``--keyring``, else ``$DNNSEC_KEYRING``, default ``~/.config/dnnsec/owners``). The script runs
exactly what the user would type::

    amt detect RECORD --out OUT/events.csv --model PACKAGE --key KEYFILE
    amt process RECORD --out OUT/ --model PACKAGE --key KEYFILE

Both verify the package against the pinned owner key and decrypt it in memory (:mod:`amt.sferic.protected`);
no plain weights are written. A missing key, another user's key or a tampered package ends in a one-line refusal.

Run ``python -m field_examples.sferic_user RECORD --model PACKAGE --key KEYFILE --out DIR`` (``--help``).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from amt.cli import main as amt


@click.command(
    epilog="Example:\n\n  python -m field_examples.sferic_user site.h5 --model outputs/sferic-owner/issued/ann/"
    "sferic.dnnpkg --key outputs/sferic-owner/issued/ann/ann.key --keyring outputs/sferic-owner/keyring "
    "--out outputs/ann"
)
@click.argument("record", type=click.Path(exists=True, path_type=Path))
@click.option("--model", "package", required=True, type=click.Path(exists=True, path_type=Path),
              help="The protected package issued to you.")
@click.option("--key", "key", required=True, type=click.Path(exists=True, path_type=Path), help="Your key file.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output folder.")
@click.option("--keyring", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder holding the owner's pinned public key <owner>.pub (default: $DNNSEC_KEYRING).")
@click.option("--process/--no-process", "run_process", default=True, show_default=True,
              help="Also estimate the transfer function with the protected model's detections (amt process).")
def main(record: Path, package: Path, key: Path, out: Path, keyring: Path | None, run_process: bool) -> None:
    """Detect sferics in RECORD (and process it) with the protected PACKAGE opened by KEY."""
    if keyring is not None:
        os.environ["DNNSEC_KEYRING"] = str(keyring)
    out.mkdir(parents=True, exist_ok=True)
    model = ["--model", str(package), "--key", str(key)]
    commands = [["detect", str(record), "--out", str(out / "events.csv"), *model]]
    if run_process:
        commands.append(["process", str(record), "--out", str(out), *model])
    for args in commands:
        click.echo(f"$ amt {' '.join(args)}")
        _run(args)


def _run(args: list[str]) -> None:
    """Run one ``amt`` command as the shell would; a refusal (exit status 2) ends the script with it."""
    try:
        amt.main(args=args, prog_name="amt")
    except SystemExit as exc:
        if exc.code:
            raise


if __name__ == "__main__":
    main()
