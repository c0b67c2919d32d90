"""The typer application, its ``study`` sub-app, the consoles and the option types that
several commands share.

Commands live in one module per group (``study``, ``baseline``, ``evaluate``, ``train``) and
register themselves on ``app`` / ``study_app`` when ``bomerge.cli`` imports them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console

if TYPE_CHECKING:
    from bomerge.search.study.lock import Holder
    from bomerge.search.study.store import StudyStore

app = typer.Typer(
    help="Bayesian-optimisation-driven model-merge tuner for BERT-style models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
study_app = typer.Typer(help="Run, resume and inspect merge studies.", no_args_is_help=True)
app.add_typer(study_app, name="study")


def _console(stderr: bool = False) -> Console:
    """A rich console that keeps tables readable when not printing to a terminal."""
    console = Console(stderr=stderr)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        # Piped into a file or a CI log, rich would squeeze tables into 80 columns and cut
        # the numbers; a wide page keeps every column readable.
        console.width = 200
    return console


out = _console()
err = _console(stderr=True)


def warn_takeover(store: StudyStore) -> Callable[[Holder], None]:
    """What a writer of ``store`` prints on stderr when it takes over the lock left by a
    dead process (``baseline`` uses it too)."""

    def warn(previous: Holder) -> None:
        err.print(f"[yellow]took over the lock of study '{store.name}' left by "
                  f"{previous.describe()}, which is no longer running[/]", soft_wrap=True)

    return warn


StudiesDir = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional on 3.11
    typer.Option(
        "--studies-dir", help="Folder of studies (default: $BOMERGE_STUDIES_DIR or ./studies)."
    ),
]
# For the commands that take a CONFIG: its explicit ``studies_dir`` key comes before the
# environment variable (bomerge.search.study.store.resolve_studies_dir).
ConfigStudiesDir = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--studies-dir", help="Folder of studies (default: the config's studies_dir, "
                                       "else $BOMERGE_STUDIES_DIR, else ./studies)."),
]
Trials = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option("--trials", min=0, help="Search trials to add beyond those done."),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
Executor = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--executor", help="local | in_turn | overlapped | ray: where search trials run "
                           "(default: the config's)."
    ),
]
AllowChanged = Annotated[
    bool,
    typer.Option("--allow-changed-candidates",
                 help="Accept candidate weights that changed since the study recorded them."),
]
StudyName = Annotated[str, typer.Argument(help="Study name (or its folder).")]
ConfigPath = Annotated[Path, typer.Argument(metavar="CONFIG", help="Study YAML file.")]
