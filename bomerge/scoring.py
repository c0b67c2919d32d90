"""Score any model folder on any split: ``bomerge eval``.

The rows, tokenization, batching and loss are the study evaluator's own, so a merge exported
from a study scores exactly what the study recorded for it on the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from bomerge.config import DataConfig
from bomerge.errors import BomergeError
from bomerge.evaluate import Evaluator
from bomerge.models import load_tokenizer
from bomerge.pool import read_state_dict
from bomerge.progression import RowPlan, planned_batches
from bomerge.tasks import Task
from bomerge.tasks.base import EvalResult, Example

Part = Literal["all", "selection", "report"]


@dataclass(frozen=True)
class RowsSpec:
    """Which rows: a split of a data root (or a task folder, or one data file), optionally
    the selection or report part of it, capped at ``max_examples``."""

    data: Path | None
    split: str = "dev"
    part: Part = "all"
    selection_fraction: float = 0.5
    max_examples: int | None = None
    hub: bool = False


def load_rows(task: Task, spec: RowsSpec, data_config: DataConfig | None = None) -> list[Example]:
    """The rows ``spec`` names: ``spec.data`` as a file of the task, a folder holding
    ``<split>.tsv``, or a data root; without ``spec.data``, ``data_config`` (a study's
    ``task.data``) says where the task's rows are."""
    data = spec.data
    if data is not None and data.is_file():
        rows = task.read_file(data)
    elif data is not None and (data / f"{spec.split}.tsv").is_file():
        rows = task.read_file(data / f"{spec.split}.tsv")
    else:
        if data is not None and not data.is_dir():
            raise BomergeError(f"--data {data}: no such file or folder")
        where = (data_config if data_config is not None and data is None
                 else DataConfig(root=data, hub=spec.hub))
        rows = task.load_split(where, spec.split)
    if spec.part != "all":
        selection, report = task.split_selection_report(rows, spec.selection_fraction)
        rows = selection if spec.part == "selection" else report
    if not rows:
        raise BomergeError(f"no rows to evaluate ({spec.split}, part {spec.part})")
    return task.cap_rows(rows, spec.max_examples)  # as the study caps them


def score_model(
    model_dir: Path, task: Task, rows: list[Example], max_length: int, batch_size: int,
    device: torch.device, plan: RowPlan | None = None,
) -> EvalResult:
    """Loss and metrics of the model in ``model_dir`` on ``rows`` (batched in the chunks of
    ``plan``, a study's selection order, when given: as the study scored them)."""
    task.check_head(model_dir)
    skeleton = task.skeleton(model_dir).to(device)
    tokenizer = load_tokenizer(model_dir)
    batches, ends = planned_batches(task, rows, plan, tokenizer, max_length, batch_size, device)
    parameters = {name: tensor.to(device) for name, tensor in read_state_dict(model_dir).items()}
    return Evaluator(skeleton, batches, task, chunk_ends=ends).evaluate(parameters)
