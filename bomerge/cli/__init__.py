"""The ``bomerge`` command line: ``app`` (the typer application) and ``main`` (the console
entry point, ``bomerge.cli:main``).

One module per command group; importing them here registers their commands on ``app``, in
the order ``bomerge --help`` lists them.
"""

from __future__ import annotations

from bomerge.cli import baseline, evaluate, study, train  # noqa: F401 - registers the commands
from bomerge.cli.app import app
from bomerge.cli.main import main

__all__ = ["app", "main"]
