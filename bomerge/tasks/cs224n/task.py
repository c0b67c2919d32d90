"""The CS224N task: SST-5, Quora and STS through one encoder with three heads.

The study sees one ``EvalResult``: ``loss`` = the sum of the sub-tasks' mean losses,
``metric`` = the mean of their metrics (SST accuracy, Quora accuracy, STS Pearson), and in
``extra`` each sub-task's metric under its name (``sst``, ``quora``, ``sts``) and its loss
(``sst_loss``, ...); ``search.objectives: per_task`` optimises the three metrics.

Diagonal Fisher: every head on its own sub-task's rows (Matena & Raffel 2021): SST a 5-way
categorical, Quora a Bernoulli on the paraphrase logit (two classes, log σ(−z) and log σ(z)),
STS a Gaussian N(μ(x), σ²) around the predicted similarity, as in the CS224N report; pairs
differentiate both sentences' embedding rows. K-FAC and loss-gradient statistics (RegMean,
MaTS, learned Localize-and-Stitch masks) are defined for one classification head only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from bomerge.config import DataConfig, TaskConfig, TinyModelConfig
from bomerge.errors import BomergeError
from bomerge.models import read_model_config, tiny_bert_config
from bomerge.tasks.base import (
    FISHER,
    Batch,
    EvalResult,
    Example,
    FisherView,
    Scored,
    Task,
    additive_mask,
    data_root,
    run_model,
)
from bomerge.tasks.cs224n.batches import PairBatch, pair_batches
from bomerge.tasks.cs224n.data import (
    ARCHITECTURE,
    SUBTASKS,
    SubTask,
    load_subtask_rows,
    subtask,
)
from bomerge.tasks.metrics import METRICS
from bomerge.tasks.registry import register

# The model module (bomerge.tasks.cs224n.model) imports transformers, so it is imported where
# a model or its outputs are used: importing bomerge.tasks (reading a study) needs no model.
if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

TRAINING_MODES = ("round_robin", "pcgrad", "single")


def _log_outputs(sub: SubTask, out: torch.Tensor) -> torch.Tensor:
    """``(C,)`` head outputs whose gradients the Fisher weights: log-probabilities of the
    classes, or the Gaussian mean μ for a regression head."""
    if sub.kind == "classification":
        return torch.log_softmax(out, dim=-1)
    if sub.kind == "binary":
        return torch.stack([nn.functional.logsigmoid(-out), nn.functional.logsigmoid(out)])
    return out.reshape(1)


class Cs224nTask(Task):
    """The CS224N default final project's three tasks on one ``MultitaskBert``."""

    name = "cs224n"
    metric = "average"
    statistics = frozenset({FISHER})
    training_modes = TRAINING_MODES

    @property
    def heads(self) -> tuple[str, ...]:
        return tuple(sub.name for sub in SUBTASKS)

    def load_split(self, data: DataConfig, split: str) -> list[Example]:
        if split not in ("train", "dev"):
            raise BomergeError(f"task '{self.name}': unknown split '{split}' (use train or dev)")
        return load_subtask_rows(data_root(data), split)

    # ---- batches and outputs --------------------------------------------------------
    def batches(self, rows: list[Example], tokenizer: PreTrainedTokenizerBase, max_length: int,
                batch_size: int, device: torch.device | str) -> list[Batch]:
        return list(pair_batches(rows, tokenizer, max_length, batch_size, device))

    def forward(self, model: nn.Module, tensors: Any, batch: Batch) -> torch.Tensor:
        assert isinstance(batch, PairBatch)
        return run_model(model, tensors, batch.model_inputs()).float()

    def loss(self, batch: Batch, outputs: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        from bomerge.tasks.cs224n.model import task_loss

        return task_loss(batch.head, outputs, batch.labels, reduction=reduction)

    def predictions(self, batch: Batch, outputs: torch.Tensor) -> torch.Tensor:
        from bomerge.tasks.cs224n.model import predictions

        return predictions(batch.head, outputs)

    def summarize(self, scored: Scored) -> EvalResult:
        extra: dict[str, float] = {}
        for sub in SUBTASKS:
            predicted, gold = scored.of_head(sub.name)
            if not len(gold):
                continue
            extra[sub.name] = METRICS[sub.metric](predicted, gold)
            extra[f"{sub.name}_loss"] = scored.loss_sums[sub.name] / len(gold)
        names = [sub.name for sub in SUBTASKS if sub.name in extra]
        return EvalResult(loss=sum(extra[f"{n}_loss"] for n in names),
                          metric=float(np.mean([extra[n] for n in names])), extra=extra,
                          n=len(scored.labels))

    def log_likelihood(self, batch: Batch, outputs: torch.Tensor, sigma: float) -> torch.Tensor:
        raise BomergeError("task 'cs224n' defines no K-FAC statistics (use fisher)")

    def fisher_view(self, batch: Batch) -> FisherView:
        assert isinstance(batch, PairBatch)
        sub = subtask(batch.head)
        pair = batch.input_ids_b is not None
        sequences = [(batch.input_ids, batch.token_type_ids, batch.attention_mask)]
        if pair:
            sequences.append((batch.input_ids_b, batch.token_type_ids_b, batch.attention_mask_b))

        def row_outputs(call: Any, inputs: tuple[tuple[Any, ...], ...]) -> torch.Tensor:
            ids_a, vec_a, types_a, mask_a = inputs[0]
            kwargs = {"task": sub.name, "input_ids": None if vec_a is not None else ids_a[None],
                      "inputs_embeds": None if vec_a is None else vec_a[None],
                      "attention_mask": mask_a[None], "token_type_ids": types_a[None],
                      "encoder_mask": additive_mask(mask_a)}
            if pair:
                ids_b, vec_b, types_b, mask_b = inputs[1]
                kwargs.update(input_ids_b=None if vec_b is not None else ids_b[None],
                              inputs_embeds_b=None if vec_b is None else vec_b[None],
                              attention_mask_b=mask_b[None], token_type_ids_b=types_b[None],
                              encoder_mask_b=additive_mask(mask_b))
            return _log_outputs(sub, call(kwargs)[0])

        classes = 1 if sub.is_regression else (2 if sub.kind == "binary" else sub.num_labels)
        return FisherView(tuple(sequences), classes, sub.is_regression, row_outputs)

    # ---- heads and models -----------------------------------------------------------
    def new_model(self, encoder: Path, dropout: float | None) -> nn.Module:
        from bomerge.tasks.cs224n.model import new_multitask_model

        return new_multitask_model(str(encoder), dropout)

    def new_tiny_model(self, tokenizer: PreTrainedTokenizerBase, settings: TinyModelConfig,
                       seed: int, dropout: float | None) -> nn.Module:
        from bomerge.tasks.cs224n.model import MultitaskBert

        config = tiny_bert_config(tokenizer, settings, dropout, num_labels=0)
        torch.manual_seed(seed)
        config.architectures = [ARCHITECTURE]
        return MultitaskBert(config)

    def skeleton(self, folder: Path, attention: str | None = None) -> nn.Module:
        from transformers import AutoConfig

        from bomerge.tasks.cs224n.model import MultitaskBert

        config = AutoConfig.from_pretrained(str(folder))
        if attention:
            config._attn_implementation = attention
        return MultitaskBert(config).eval()

    def check_head(self, folder: Path) -> None:
        config_file, config = read_model_config(folder)
        heads = config.get("architectures") or []
        if ARCHITECTURE not in heads:
            raise BomergeError(f"{config_file}: head {heads[0] if heads else 'none'} is not the "
                               f"multitask model task '{self.name}' needs ({ARCHITECTURE}; train "
                               "it with a train: section and task cs224n)")


CS224N = Cs224nTask()


def _build(config: TaskConfig) -> Cs224nTask:
    return CS224N


register(CS224N.name, _build, architectures=(ARCHITECTURE,))
