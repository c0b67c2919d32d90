"""What a task is: everything that differs between tasks, behind one interface.

A ``Task`` owns how its rows are read and split, how they become batches, its head (a new
model, the evaluation skeleton, the check of a candidate's head), the outputs of a batch, the
loss, the log-likelihood that Fisher and K-FAC statistics differentiate, its metric(s) and
which statistics its heads support. The evaluator, the statistics, training, the study and
the report call this interface and never ask which task they hold. A new task is one module
(or package) in ``bomerge/tasks/`` that subclasses ``Task`` and calls
``bomerge.tasks.registry.register``.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from bomerge.config import DataConfig
from bomerge.errors import BomergeError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from bomerge.config import StudyConfig, TinyModelConfig, TrainConfig


@dataclass(frozen=True)
class Example:
    """One row: one text (single-sentence tasks) or two (pair tasks) and its label;
    ``head`` names the head a row belongs to when a task has several."""

    text_a: str
    text_b: str | None
    label: float
    head: str | None = None


@dataclass(frozen=True)
class Batch:
    """One padded batch on the device: ``input_ids``, ``token_type_ids`` and
    ``attention_mask`` are ``(B, L)`` int64; ``labels`` is ``(B,)``; ``order`` is the
    ``(B,)`` position of each row in the original example list; ``head`` names the head
    (the task's own name for a one-head task)."""

    input_ids: torch.Tensor
    token_type_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    order: torch.Tensor
    head: str = ""

    def to(self, device: torch.device | str) -> Batch:
        """The batch with every tensor but ``order`` on ``device`` (``order`` indexes host
        arrays)."""
        moved = {f.name: getattr(self, f.name).to(device) for f in fields(self)
                 if f.name != "order" and isinstance(getattr(self, f.name), torch.Tensor)}
        return replace(self, **moved)


@dataclass(frozen=True)
class EvalResult:
    """Mean loss, the study's metric, every other recorded score, and the row count."""

    loss: float
    metric: float
    extra: dict[str, float]
    n: int


@dataclass(frozen=True)
class Scored:
    """What an evaluation pass collected: ``predictions`` and ``labels`` ``(N,)`` float64 in
    the original row order, each row's head in ``heads`` ``(N,)``, the row positions in the
    order the batches ran ``batch_order`` ``(N,)`` (per-head metrics are computed in that
    order, so their floating-point sums do not depend on how rows were interleaved), and
    the summed loss per head."""

    predictions: np.ndarray
    labels: np.ndarray
    heads: np.ndarray
    batch_order: np.ndarray
    loss_sums: dict[str, float]

    def of_head(self, head: str) -> tuple[np.ndarray, np.ndarray]:
        """``(predictions, labels)`` of one head's rows, in batch order."""
        rows = self.batch_order[self.heads[self.batch_order] == head]
        return self.predictions[rows], self.labels[rows]


@dataclass(frozen=True)
class TrainingPlan:
    """What a fine-tuning run trains: the loop (``train.mode``), the heads (``train.tasks``)
    and their loss weights (``train.task_weights``)."""

    mode: str
    heads: tuple[str, ...]
    weights: tuple[float, ...]


@dataclass(frozen=True)
class FisherView:
    """How per-example gradients run through one statistics batch.

    ``sequences`` holds ``(input_ids, token_type_ids, attention_mask)``, each ``(B, L_s)``,
    per sentence the model encodes separately (one for cross-encoders, two for
    bi-encoders). ``row_outputs(call, inputs)`` gives the ``(C,)`` outputs of one row whose
    squared gradients the Fisher weights: log-probabilities of the classes, or the Gaussian
    mean μ when ``gaussian``. ``call(kwargs)`` runs the model; ``inputs`` has, per sentence,
    ``(ids (L,), vectors (L, H) or None, token types (L,), mask (L,))``.
    """

    sequences: tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor], ...]
    classes: int
    gaussian: bool
    row_outputs: Callable[[Callable[[dict[str, Any]], Any], tuple[tuple[Any, ...], ...]],
                          torch.Tensor]


DATA_ROOT_ENV = "BOMERGE_DATA_ROOT"
FISHER = "fisher"
KFAC = "kfac"
LOSS = "loss"
ALL_STATISTICS = frozenset({FISHER, KFAC, LOSS})


class Task(ABC):
    """A task bomerge can merge models for.

    Rows, batches and scores of a task with several heads carry the head they belong to
    (``Example.head``, ``Batch.head``: the head's name); a one-head task's only head has the
    task's name.

    Class attributes:
        metric: the study's scalar metric (higher is better).
        extra_metrics: further scores recorded beside it.
        statistics: the statistics its heads define: ``fisher`` (diagonal Fisher),
            ``kfac`` (per-linear-layer input/gradient Gram matrices) and ``loss`` (gradients
            of the loss, for learned masks).
        training_modes: the fine-tuning loops (``train.mode``) it can be trained with, the
            default first.
        data_keys: the ``task.data`` keys it reads; setting any other is refused.
    """

    name: str
    metric: str
    extra_metrics: tuple[str, ...] = ()
    statistics: frozenset[str] = ALL_STATISTICS
    training_modes: tuple[str, ...] = ("shuffled",)
    data_keys: tuple[str, ...] = ("root", "hub")
    #: Whether the task's metric is normalised by reference scores (``with_references``).
    normalised: bool = False

    # ---- configuration --------------------------------------------------------------
    def unread_data_keys(self, data: DataConfig) -> list[str]:
        """The keys of ``data`` set away from their defaults that this task does not read."""
        return [key for key, info in type(data).model_fields.items()
                if key not in self.data_keys and getattr(data, key) != info.default]

    def check_config(self, config: StudyConfig) -> None:
        """Refuse settings this task cannot honour (raise ``BomergeError`` naming the key)."""
        if unread := self.unread_data_keys(config.task.data):
            raise BomergeError(f"task.data.{unread[0]} is not read by task '{self.name}' (it "
                               f"reads {', '.join(self.data_keys)})")
        for _, train in config.training_runs():
            self.training_plan(train)
        objectives = config.search.objectives
        if objectives in ("per_task", "average") and not self.head_metrics:
            raise BomergeError(f"search.objectives '{objectives}' needs a task with one metric "
                               f"per head (task '{self.name}' has one head)")
        if config.task.tasks is not None:
            raise BomergeError(f"task.tasks lists the sub-tasks of task 'multi' (cross-task "
                               f"merging), not of task '{self.name}'")
        if config.candidates.tasks is not None:
            raise BomergeError(f"candidates.tasks names each candidate's task for task 'multi' "
                               f"(cross-task merging), not for task '{self.name}'")
        if config.search.floors and not self.normalised:
            raise BomergeError(f"search.floors bound normalised per-task scores, which task "
                               f"'{self.name}' does not have (use task 'multi')")

    def training_plan(self, train: TrainConfig) -> TrainingPlan:
        """The loop, heads and weights ``train`` asks for (default: the task's first mode,
        every head, weight 1); refuses a mode, head or weight list this task cannot take."""
        mode = train.mode or self.training_modes[0]
        if mode not in self.training_modes:
            raise BomergeError(f"train.mode '{mode}' is not a training mode of task "
                               f"'{self.name}' (its modes: {', '.join(self.training_modes)})")
        if len(self.heads) < 2:
            for key in ("tasks", "task_weights"):
                if getattr(train, key) is not None:
                    raise BomergeError(f"train.{key} applies to tasks with several heads "
                                       f"(task '{self.name}' has one)")
        heads = tuple(train.tasks) if train.tasks else self.heads
        for head in heads:
            if head not in self.heads:
                raise BomergeError(f"task '{self.name}' has no sub-task '{head}' "
                                   f"(known: {', '.join(self.heads)})")
        weights = tuple(train.task_weights) if train.task_weights else (1.0,) * len(heads)
        if len(weights) != len(heads):
            raise BomergeError(f"train.task_weights has {len(weights)} values for the "
                               f"{len(heads)} sub-tasks {list(heads)}")
        return TrainingPlan(mode, heads, weights)

    # ---- rows -----------------------------------------------------------------------
    @property
    def heads(self) -> tuple[str, ...]:
        """The heads' names, in order (one-head tasks: the task's own name)."""
        return (self.name,)

    @property
    def head_metrics(self) -> tuple[str, ...]:
        """The per-head metrics a several-head task records beside its scalar metric (and
        ``search.objectives: per_task`` optimises); empty for one-head tasks."""
        return self.heads if len(self.heads) > 1 else ()

    @abstractmethod
    def load_split(self, data: DataConfig, split: str) -> list[Example]:
        """Rows of ``split`` ('train' or 'dev'); ``BomergeError`` names the file at fault."""

    def read_file(self, path: Path) -> list[Example]:
        """Rows of one data file of this task (``bomerge eval --data FILE``)."""
        raise BomergeError(f"task '{self.name}' reads its rows from task.data, not from one "
                           f"file ({path})")

    def rows_by_head(self, rows: list[Example]) -> dict[str, list[Example]]:
        if len(self.heads) == 1:
            return {self.name: rows}
        return {h: [ex for ex in rows if ex.head == h] for h in self.heads}

    def split_selection_report(self, rows: list[Example],
                               fraction: float) -> tuple[list[Example], list[Example]]:
        """Split rows into (selection, report), per head, by a hash of each row's position
        among its head's rows: the same rows and fraction always give the same split, the
        parts are disjoint and together hold every row."""
        selection: list[Example] = []
        report: list[Example] = []
        for head, members in self.rows_by_head(rows).items():
            n_select = round(fraction * len(members))
            order = sorted(range(len(members)), key=lambda i: hashed(f"bomerge-eval-v1:{head}", i))
            chosen = set(order[:n_select])
            selection += [ex for i, ex in enumerate(members) if i in chosen]
            report += [ex for i, ex in enumerate(members) if i not in chosen]
        return selection, report

    def cap_rows(self, rows: list[Example], limit: int | None) -> list[Example]:
        """The first ``limit`` rows of each head (all when None), so a large head cannot
        crowd out the others."""
        if not limit:
            return rows
        return [ex for members in self.rows_by_head(rows).values() for ex in members[:limit]]

    # ---- batches and outputs --------------------------------------------------------
    def encode(self, rows: list[Example], tokenizer: PreTrainedTokenizerBase,
               max_length: int) -> Any:
        """Rows tokenized once for the ``shuffled`` training loop, which cuts them into
        batches with ``collate`` in a new order every epoch."""
        raise BomergeError(f"task '{self.name}' has no 'shuffled' training mode")

    def collate(self, encoded: Any, rows: list[int]) -> Batch:
        """A training batch of the encoded ``rows`` (positions), padded to its longest."""
        raise BomergeError(f"task '{self.name}' has no 'shuffled' training mode")

    @abstractmethod
    def batches(self, rows: list[Example], tokenizer: PreTrainedTokenizerBase, max_length: int,
                batch_size: int, device: torch.device | str) -> list[Batch]:
        """Rows tokenized once, sorted by length and padded per batch to its longest row."""

    @abstractmethod
    def forward(self, model: nn.Module, tensors: Any, batch: Batch) -> torch.Tensor:
        """Float32 outputs of ``batch``; ``tensors`` (a mapping, or a tuple of mappings, of
        parameters and buffers) replace the model's own, or None to run the model as is."""

    @abstractmethod
    def loss(self, batch: Batch, outputs: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """The training/evaluation loss of ``outputs`` against ``batch.labels``."""

    @abstractmethod
    def predictions(self, batch: Batch, outputs: torch.Tensor) -> torch.Tensor:
        """``(B,)`` predictions the metrics read (class index or score)."""

    @abstractmethod
    def summarize(self, scored: Scored) -> EvalResult:
        """Mean loss, metric and extra scores of one evaluation pass."""

    @abstractmethod
    def log_likelihood(self, batch: Batch, outputs: torch.Tensor, sigma: float) -> torch.Tensor:
        """Σ_b log p(y_b | x_b) of the true labels (Gaussian N(μ, σ²) for regression)."""

    @abstractmethod
    def fisher_view(self, batch: Batch) -> FisherView:
        """How Fisher statistics run one row of ``batch`` through the model."""

    # ---- heads and models -----------------------------------------------------------
    @abstractmethod
    def new_model(self, encoder: Path, dropout: float | None) -> nn.Module:
        """A pretrained encoder with freshly initialised head(s) (from the torch seed)."""

    @abstractmethod
    def new_tiny_model(self, tokenizer: PreTrainedTokenizerBase, settings: TinyModelConfig,
                       seed: int, dropout: float | None) -> nn.Module:
        """A randomly initialised tiny BERT with this task's head(s), seeded by ``seed``."""

    @abstractmethod
    def skeleton(self, folder: Path, attention: str | None = None) -> nn.Module:
        """The architecture of a saved model with throw-away weights, in eval mode;
        ``attention`` picks an attention implementation ('eager' for ``torch.func``)."""

    @abstractmethod
    def check_head(self, folder: Path) -> None:
        """Refuse, reading only ``config.json``, a model whose head is not this task's."""

    # ---- candidate sets ---------------------------------------------------------------
    # A study's K candidates make one model. For a one-model task they are K versions of
    # it; a cross-task merge (task ``multi``) says which task each was fine-tuned on
    # (``owners``, from ``candidates.tasks``) and keeps every candidate's head.
    def check_candidates(self, paths: Sequence[Path], owners: Sequence[str] | None) -> None:
        """Refuse, from ``config.json`` files only, candidates whose heads are not this
        task's (and ``owners`` for a task that does not take them)."""
        if owners is not None:
            raise BomergeError(f"candidates.tasks applies to task 'multi', not '{self.name}'")
        for path in paths:
            self.check_head(path)

    def unmerged(self, paths: Sequence[Path],
                 owners: Sequence[str] | None) -> Callable[[int, str], str | None] | None:
        """Which of candidate i's tensors stay out of the merge, and their names in the
        merged model (``CandidatePool.load``); None: every tensor is merged."""
        return None

    def candidates_skeleton(self, paths: Sequence[Path], owners: Sequence[str] | None,
                            attention: str | None = None) -> nn.Module:
        """The merged model's architecture (``skeleton`` of the first candidate)."""
        return self.skeleton(paths[0], attention)

    def candidate_rows(self, owners: Sequence[str] | None, index: int) -> str | None:
        """The head whose statistics rows candidate ``index``'s statistics use (None: all
        rows; a cross-task candidate uses its own task's)."""
        return None

    def with_references(self, references: Mapping[str, float]) -> Task:
        """The task scoring each head relative to a reference score (normalised tasks)."""
        raise BomergeError(f"task '{self.name}' has no normalised scores")

    def exported_models(self, merged: Mapping[str, torch.Tensor], paths: Sequence[Path],
                        owners: Sequence[str] | None,
                        dtypes: Mapping[str, torch.dtype]) -> dict[str, tuple[nn.Module, Path]]:
        """The model(s) a merge is written as, with the merged tensors loaded, each with
        the candidate folder its tokenizer comes from: ``{"": ...}`` for one model."""
        return {"": (load_merged(self.skeleton(paths[0]), merged, dtypes), paths[0])}


def load_merged(model: nn.Module, merged: Mapping[str, torch.Tensor],
                dtypes: Mapping[str, torch.dtype], rename: Callable[[str], str] | None = None,
                ) -> nn.Module:
    """``model`` with the merged tensors loaded (each in its candidates' dtype); its tensor
    ``name`` is taken from ``merged[rename(name)]`` when ``rename`` is given."""
    state = model.state_dict()
    source = {name: rename(name) if rename else name for name in state}
    missing = [name for name, key in source.items() if key not in merged]
    if missing:
        raise BomergeError(f"the merge lacks tensors the model needs: {missing[:5]}")
    model.load_state_dict({
        name: merged[key].detach().to("cpu", dtypes.get(key, merged[key].dtype))
        for name, key in source.items()
    })
    return model


def run_model(model: nn.Module, tensors: Any, kwargs: dict[str, Any]) -> Any:
    """``model(**kwargs)``, with ``tensors`` swapped in for its parameters when given."""
    if tensors is None:
        return model(**kwargs)
    return functional_call(model, tensors, args=(), kwargs=kwargs, strict=False)


def additive_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """``(L,)`` 0/1 mask → ``(1, 1, 1, L)`` additive mask; the model then needs no
    data-dependent mask preprocessing, which ``torch.func.vmap`` cannot trace."""
    blocked = (1.0 - attention_mask.float()) * torch.finfo(torch.float32).min
    return blocked[None, None, None, :]


def data_root(data: DataConfig) -> Path | None:
    """``$BOMERGE_DATA_ROOT`` if set, else ``task.data.root``."""
    env = os.environ.get(DATA_ROOT_ENV)
    if env:
        return Path(env)
    return data.root


def hashed(prefix: str, index: int) -> str:
    return hashlib.sha256(f"{prefix}:{index}".encode()).hexdigest()
