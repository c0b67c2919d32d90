"""``bomerge train``: fine-tune a model and keep the last k checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bomerge.cli.app import Quiet, app, out
from bomerge.errors import BomergeError


@app.command("train")
def train(
    config_path: Annotated[
        Path, typer.Argument(metavar="CONFIG", help="YAML with task: and train:.")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the kept checkpoints.")],
    quiet: Quiet = False,
) -> None:
    """Fine-tune a model on a task and keep the last k checkpoints (SWA candidates); with
    candidates.train_variants, each train variant into its own folder."""
    from bomerge.search.config_names import load_study_config
    from bomerge.search.workbench import resolve_device, run_folder
    from bomerge.train.finetune import finetune

    config = load_study_config(config_path)
    if config.train is None:
        raise BomergeError(f"{config_path}: no 'train' section")
    for variant, settings in config.training_runs():  # candidates.train_variants: --out/NAME
        paths = finetune(config.task, settings, run_folder(out_dir, variant),
                         resolve_device(config.device), not quiet)
        for path in paths:
            out.print(str(path))
