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
from bomerge.evaluate import EvalResult, build_batches, build_evaluator
from bomerge.models import check_classifier_head, classifier_skeleton, load_tokenizer
from bomerge.pool import read_state_dict
from bomerge.tasks.data import Example, cap_rows, load_split, read_tsv, split_selection_report
from bomerge.tasks.glue import TaskSpec

Part = Literal["all", "selection", "report"]


@dataclass(frozen=True)
class RowsSpec:
    """Which rows: a split of a data root (or a task folder, or one TSV file), optionally
    the selection or report part of it, capped at ``max_examples``."""

    data: Path | None
    split: str = "dev"
    part: Part = "all"
    selection_fraction: float = 0.5
    max_examples: int | None = None
    hub: bool = False


def load_rows(task: TaskSpec, spec: RowsSpec) -> list[Example]:
    data = spec.data
    if data is not None and data.is_file():
        rows = read_tsv(data, task)
    elif data is not None and (data / f"{spec.split}.tsv").is_file():
        rows = read_tsv(data / f"{spec.split}.tsv", task)
    else:
        if data is not None and not data.is_dir():
            raise BomergeError(f"--data {data}: no such file or folder")
        rows = load_split(task, DataConfig(root=data, hub=spec.hub), spec.split)
    if spec.part != "all":
        selection, report = split_selection_report(rows, task, spec.selection_fraction)
        rows = selection if spec.part == "selection" else report
    if not rows:
        raise BomergeError(f"no rows to evaluate ({spec.split}, part {spec.part})")
    return cap_rows(rows, task, spec.max_examples)  # as the study caps them


def score_model(
    model_dir: Path, task: TaskSpec, rows: list[Example], max_length: int, batch_size: int,
    device: torch.device,
) -> EvalResult:
    """Loss and metrics of the classifier in ``model_dir`` on ``rows``."""
    check_classifier_head(model_dir, task.num_labels, task.name)
    skeleton = classifier_skeleton(model_dir).to(device)
    tokenizer = load_tokenizer(model_dir)
    batches = build_batches(rows, tokenizer, task, max_length, batch_size, device)
    parameters = {name: tensor.to(device) for name, tensor in read_state_dict(model_dir).items()}
    return build_evaluator(skeleton, batches, task).evaluate(parameters)
