"""``task.name: multi``: cross-task merging, models fine-tuned on different tasks into one
encoder with every task's head.

```yaml
task:
  name: multi
  data: {root: ../shared/data/glue}
  tasks: [sst2, mrpc, cola, stsb, rte]      # or a section: {name: csv, data: {...}}
candidates:
  base: minilm                              # the pretrained model every candidate started from
  paths: [sst2-model, mrpc-model, cola-model, stsb-model, rte-model]
  tasks: [sst2, mrpc, cola, stsb, rte]      # candidate i was fine-tuned on tasks[i]
```

The setting of MaTS (Tam et al. 2024) and Localize-and-Stitch (He et al. 2024): task i is
served by its candidate's head on the merged encoder. Each sub-task keeps its rows, its
selection/report split and its metric; rows carry their task as their head (``head``).
The study sees one ``EvalResult``: ``loss`` the mean of the tasks' mean losses, ``extra``
each task's metric under its name, its loss (``<task>_loss``), its other scores
(``mrpc_f1``) and the mean of the tasks' metrics (``absolute``). With reference scores
(each task's individual model on the same rows, ``with_references``) every task also gets
``<task>_normalised`` = metric / reference, and ``metric`` is their mean — the usual summary
of the field (merged / individual); without, ``metric`` is the absolute mean.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from bomerge.config import DataConfig, StudyConfig, TaskConfig, TinyModelConfig, TrainConfig
from bomerge.errors import BomergeError
from bomerge.tasks.base import (
    Batch,
    EvalResult,
    Example,
    FisherView,
    Scored,
    Task,
    TrainingPlan,
    load_merged,
    run_model,
)
from bomerge.tasks.classifier import SequenceClassificationTask
from bomerge.tasks.multi.model import cross_task_model, encoder_prefix, head_name
from bomerge.tasks.registry import canonical_name, get_task, register

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

NAME = "multi"


@dataclass(frozen=True, eq=False)
class Member:
    """One sub-task: the task and the section it reads its rows with."""

    task: SequenceClassificationTask
    config: TaskConfig


@dataclass(frozen=True, eq=False)
class CrossTask(Task):
    """Several one-head tasks through one merged encoder (see the module docstring)."""

    members: tuple[Member, ...]
    references: Mapping[str, float] | None = None
    name: str = NAME
    metric: str = "average"
    extra_metrics: tuple[str, ...] = ()
    training_modes: tuple[str, ...] = ()
    normalised: bool = True
    statistics: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        shared = frozenset.intersection(*(m.task.statistics for m in self.members))
        object.__setattr__(self, "statistics", shared)
        object.__setattr__(self, "_by_name", {m.task.name: m for m in self.members})

    def member(self, name: str) -> Member:
        return self._by_name[name]

    # ---- configuration --------------------------------------------------------------
    def check_config(self, config: StudyConfig) -> None:
        if config.train is not None:
            raise BomergeError("task 'multi' merges candidates fine-tuned elsewhere; a train: "
                               "section trains one task (train each candidate in its own study)")
        plain = config.model_copy(update={
            "task": config.task.model_copy(update={"tasks": None}),
            "candidates": config.candidates.model_copy(update={"tasks": None}),
            "search": config.search.model_copy(update={"floors": {}})})
        super().check_config(plain)
        for task in config.search.floors:
            if task not in self.heads:
                raise BomergeError(f"search.floors: '{task}' is not a task of this study "
                                   f"(tasks: {', '.join(self.heads)})")
        owners = config.candidates.tasks
        if owners is None:
            raise BomergeError("task 'multi' needs candidates.tasks: the task each candidate "
                               "was fine-tuned on, parallel to the candidates "
                               f"({', '.join(self.heads)})")
        if config.candidates.base is None:
            raise BomergeError("task 'multi' needs candidates.base: the pretrained model every "
                               "candidate was fine-tuned from ('minilm' or a folder)")

    def training_plan(self, train: TrainConfig) -> TrainingPlan:
        raise BomergeError("task 'multi' has no training loop (train each task's candidate "
                           "in a study of that task)")

    # ---- rows -----------------------------------------------------------------------
    @property
    def heads(self) -> tuple[str, ...]:
        return tuple(m.task.name for m in self.members)

    def load_split(self, data: DataConfig, split: str) -> list[Example]:
        rows: list[Example] = []
        for m in self.members:
            rows += [replace(ex, head=m.task.name)
                     for ex in m.task.load_split(m.config.data, split)]
        return rows

    # ---- batches and outputs --------------------------------------------------------
    def batches(self, rows: list[Example], tokenizer: PreTrainedTokenizerBase, max_length: int,
                batch_size: int, device: torch.device | str) -> list[Batch]:
        out: list[Batch] = []
        for head, members in self.rows_by_head(rows).items():
            if not members:
                continue
            positions = torch.tensor([i for i, ex in enumerate(rows) if ex.head == head])
            m = self.member(head)
            for batch in m.task.batches(members, tokenizer, m.config.max_length, batch_size,
                                        device):
                out.append(replace(batch, head=head, order=positions[batch.order]))
        return out

    def forward(self, model: nn.Module, tensors: Any, batch: Batch) -> torch.Tensor:
        inputs = self.member(batch.head).task.model_inputs(batch)
        return run_model(model, tensors, {"task": batch.head, **inputs}).logits.float()

    def loss(self, batch: Batch, outputs: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        return self.member(batch.head).task.loss(batch, outputs, reduction)

    def predictions(self, batch: Batch, outputs: torch.Tensor) -> torch.Tensor:
        return self.member(batch.head).task.predictions(batch, outputs)

    def summarize(self, scored: Scored) -> EvalResult:
        extra: dict[str, float] = {}
        losses, metrics = [], []
        for head in self.heads:
            predicted, gold = scored.of_head(head)
            if not len(gold):
                continue
            alone = Scored(predicted, gold, np.full(len(gold), head, dtype=object),
                           np.arange(len(gold)), {head: scored.loss_sums.get(head, 0.0)})
            result = self.member(head).task.summarize(alone)
            extra[head] = result.metric
            extra[f"{head}_loss"] = result.loss
            extra.update({f"{head}_{k}": v for k, v in result.extra.items()})
            losses.append(result.loss)
            metrics.append(result.metric)
            if self.references is not None:
                extra[f"{head}_normalised"] = result.metric / self.references[head]
        extra["absolute"] = float(np.mean(metrics))
        normalised = [extra[f"{h}_normalised"] for h in self.heads if f"{h}_normalised" in extra]
        return EvalResult(loss=float(np.mean(losses)),
                          metric=float(np.mean(normalised)) if normalised else extra["absolute"],
                          extra=extra, n=len(scored.labels))

    def log_likelihood(self, batch: Batch, outputs: torch.Tensor, sigma: float) -> torch.Tensor:
        return self.member(batch.head).task.log_likelihood(batch, outputs, sigma)

    def fisher_view(self, batch: Batch) -> FisherView:
        view = self.member(batch.head).task.fisher_view(batch)
        head = batch.head

        def row_outputs(call: Callable[[dict[str, Any]], Any], inputs: Any) -> torch.Tensor:
            return view.row_outputs(lambda kwargs: call({**kwargs, "task": head}), inputs)

        return replace(view, row_outputs=row_outputs)

    # ---- heads and models -----------------------------------------------------------
    def new_model(self, encoder: Path, dropout: float | None) -> nn.Module:
        raise BomergeError("task 'multi' is not trained (train each task's candidate alone)")

    def new_tiny_model(self, tokenizer: PreTrainedTokenizerBase, settings: TinyModelConfig,
                       seed: int, dropout: float | None) -> nn.Module:
        raise BomergeError("task 'multi' is not trained (train each task's candidate alone)")

    def skeleton(self, folder: Path, attention: str | None = None) -> nn.Module:
        raise BomergeError("task 'multi' builds its model from one candidate per task "
                           "(score an exported task folder with that task's name)")

    def check_head(self, folder: Path) -> None:
        raise BomergeError(f"{folder}: task 'multi' checks each candidate against its own "
                           "task (candidates.tasks)")

    # ---- candidate sets ---------------------------------------------------------------
    def check_candidates(self, paths: Sequence[Path], owners: Sequence[str] | None) -> None:
        """Exactly one candidate per task, each with its task's head."""
        if owners is None:
            raise BomergeError("task 'multi' needs candidates.tasks (each candidate's task)")
        owners = _tasks(owners)
        if len(owners) != len(paths):
            raise BomergeError(f"candidates.tasks names {len(owners)} tasks for {len(paths)} "
                               "candidates (one task per candidate, in order)")
        for path, owner in zip(paths, owners, strict=True):
            if owner not in self.heads:
                raise BomergeError(f"candidates.tasks: candidate {path} is given task '{owner}', "
                                   f"which is not in task.tasks ({', '.join(self.heads)})")
        for head in self.heads:
            count = owners.count(head)
            if count != 1:
                which = "no candidate" if count == 0 else f"{count} candidates"
                raise BomergeError(f"task '{head}' has {which} in candidates.tasks; cross-task "
                                   "merging takes one candidate per task")
        for path, owner in zip(paths, owners, strict=True):
            self.member(owner).task.check_head(path)

    def unmerged(self, paths: Sequence[Path],
                 owners: Sequence[str] | None) -> Callable[[int, str], str | None]:
        prefix = encoder_prefix(paths[0]) + "."
        tasks = _tasks(owners)

        def kept(index: int, name: str) -> str | None:
            return None if name.startswith(prefix) else head_name(tasks[index], name)

        return kept

    def candidates_skeleton(self, paths: Sequence[Path], owners: Sequence[str] | None,
                            attention: str | None = None) -> nn.Module:
        folders = dict(zip(_tasks(owners), paths, strict=True))
        return cross_task_model({h: folders[h] for h in self.heads}, attention)

    def candidate_rows(self, owners: Sequence[str] | None, index: int) -> str | None:
        return canonical_name(owners[index]) if owners is not None else None

    def with_references(self, references: Mapping[str, float]) -> CrossTask:
        bad = {h: references.get(h) for h in self.heads
               if not (references.get(h) or 0.0) > 0.0}
        if bad:
            head, value = next(iter(bad.items()))
            raise BomergeError(f"task '{head}': its individual model scores {value} on these "
                               "rows; normalised scores (merged / individual) need a positive one")
        return replace(self, references=dict(references))

    def exported_models(self, merged: Mapping[str, torch.Tensor], paths: Sequence[Path],
                        owners: Sequence[str] | None,
                        dtypes: Mapping[str, torch.dtype]) -> dict[str, tuple[nn.Module, Path]]:
        """One ``*ForSequenceClassification`` folder per task: the merged encoder with the
        task's own head."""
        kept = self.unmerged(paths, owners)  # a head tensor's name in the merged model
        models = {}
        for index, (owner, path) in enumerate(zip(_tasks(owners), paths, strict=True)):
            model = self.member(owner).task.skeleton(path)
            models[owner] = (load_merged(model, merged, dtypes, lambda name, index=index: (
                kept(index, name) or name)), path)
        return models


def _tasks(owners: Sequence[str] | None) -> list[str]:
    """``candidates.tasks`` with aliases resolved (``sst-2`` → ``sst2``)."""
    return [canonical_name(owner) for owner in owners or ()]


def _member(entry: str | TaskConfig, parent: TaskConfig) -> Member:
    """A sub-task: a name takes the section's ``max_length``, ``data`` and ``eval``; a
    sub-task section has inherited each of them it does not set when the config was read
    (``TaskConfig``)."""
    config = (TaskConfig(name=entry, max_length=parent.max_length, data=parent.data,
                         eval=parent.eval) if isinstance(entry, str) else entry)
    if config.tasks is not None:
        raise BomergeError(f"task.tasks: sub-task '{config.name}' lists tasks of its own")
    task = get_task(config)
    if not isinstance(task, SequenceClassificationTask):
        raise BomergeError(f"task.tasks: '{config.name}' is not a one-head task (cross-task "
                           "merging takes *ForSequenceClassification tasks: GLUE, csv)")
    return Member(task, config)


def build_cross_task(config: TaskConfig) -> CrossTask:
    if not config.tasks:
        raise BomergeError("task 'multi' needs task.tasks: the tasks whose candidates are "
                           "merged (e.g. [sst2, mrpc, cola, stsb, rte])")
    members = tuple(_member(entry, config) for entry in config.tasks)
    names = [m.task.name for m in members]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise BomergeError(f"task.tasks: '{repeated[0]}' is listed twice")
    if len(members) < 2:
        raise BomergeError("task.tasks: cross-task merging needs at least two tasks")
    return CrossTask(members)


register(NAME, build_cross_task)
