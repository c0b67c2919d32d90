"""The ``bomerge`` entry point: runs the typer app and turns every way it can end into one
exit code and at most one line on stderr."""

from __future__ import annotations

import os
import sys

import typer

from bomerge.cli.app import app, err
from bomerge.errors import BomergeError


def _click_errors() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """Click's usage-error and abort classes: typer ≥ 0.20 raises its own bundled copy of
    click's errors and its own Abort, older typer click's."""
    import click

    usage: list[type] = [click.ClickException]
    try:
        from typer._click.exceptions import ClickException as BundledClickException
    except ImportError:
        pass
    else:
        usage.append(BundledClickException)
    return tuple(usage), (click.exceptions.Abort, typer.Abort)


def main() -> None:
    """Entry point: user errors are one line on stderr, exit code 2 (1 for the unexpected);
    ``BOMERGE_DEBUG=1`` shows tracebacks."""
    debug = bool(os.environ.get("BOMERGE_DEBUG"))
    try:
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except BomergeError as error:
        if debug:
            raise
        err.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted: completed trials are saved; continue with "
                  "`bomerge study resume NAME`", soft_wrap=True)
        sys.exit(130)
    except (typer.Exit, SystemExit) as done:
        sys.exit(getattr(done, "exit_code", None) or getattr(done, "code", 0) or 0)
    except Exception as error:  # noqa: BLE001 - click usage errors and the unexpected
        click_exception, abort = _click_errors()
        if isinstance(error, click_exception):
            error.show()
            sys.exit(error.exit_code)
        if isinstance(error, abort):
            sys.exit(130)
        if debug:
            raise
        err.print(f"[bold red]internal error:[/] {type(error).__name__}: {error} "
                  "(set BOMERGE_DEBUG=1 for a traceback)", highlight=False, soft_wrap=True)
        sys.exit(1)
