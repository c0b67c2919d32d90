"""One-head tasks: a ``*ForSequenceClassification`` model scored by GLUE metrics.

The shared implementation of every task whose model is one encoder with one classification
(or, with one output, regression) head over ``[CLS] a [SEP] b [SEP]``: GLUE's tasks and a
user's own CSV files. Subclasses say where the rows come from (``load_split``) and set the
head's label count and metrics.
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from bomerge.config import TinyModelConfig
from bomerge.errors import BomergeError
from bomerge.models import (
    classifier_skeleton,
    load_classifier,
    quiet_transformers,
    read_model_config,
    tiny_bert_config,
)
from bomerge.tasks.base import (
    Batch,
    EvalResult,
    Example,
    FisherView,
    Scored,
    Task,
    additive_mask,
    run_model,
)
from bomerge.tasks.encode import Encoded, encode_examples, pad_rows
from bomerge.tasks.metrics import METRICS
from bomerge.tasks.registry import task_for_architecture

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


class SequenceClassificationTask(Task):
    """A one-head task. ``num_labels == 1`` means regression (MSE loss, float labels,
    Gaussian log-likelihood); otherwise cross-entropy over ``num_labels`` classes."""

    num_labels: int

    @property
    @abstractmethod
    def is_pair(self) -> bool:
        """Whether a row is a sentence pair (encoded as ``[CLS] a [SEP] b [SEP]``)."""

    @property
    def is_regression(self) -> bool:
        return self.num_labels == 1

    # ---- batches and outputs --------------------------------------------------------
    def encode(self, rows: list[Example], tokenizer: PreTrainedTokenizerBase,
               max_length: int) -> Encoded:
        return encode_examples(rows, tokenizer, self.is_pair, self.is_regression, max_length)

    def collate(self, encoded: Encoded, rows: list[int]) -> Batch:
        return pad_rows(encoded, rows, self.name)

    def batches(self, rows: list[Example], tokenizer: PreTrainedTokenizerBase, max_length: int,
                batch_size: int, device: torch.device | str) -> list[Batch]:
        if not rows:
            raise BomergeError(f"task '{self.name}': no rows to evaluate")
        encoded = self.encode(rows, tokenizer, max_length)
        by_length = sorted(range(len(rows)), key=lambda i: (len(encoded.input_ids[i]), i))
        return [self.collate(encoded, by_length[start : start + batch_size]).to(device)
                for start in range(0, len(by_length), batch_size)]

    def model_inputs(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The keyword arguments a ``*ForSequenceClassification`` model takes for ``batch``."""
        return {"input_ids": batch.input_ids, "token_type_ids": batch.token_type_ids,
                "attention_mask": batch.attention_mask}

    def forward(self, model: nn.Module, tensors: Any, batch: Batch) -> torch.Tensor:
        return run_model(model, tensors, self.model_inputs(batch)).logits.float()

    def loss(self, batch: Batch, outputs: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        if self.is_regression:
            return nn.functional.mse_loss(outputs.squeeze(-1), batch.labels, reduction=reduction)
        return nn.functional.cross_entropy(outputs, batch.labels, reduction=reduction)

    def predictions(self, batch: Batch, outputs: torch.Tensor) -> torch.Tensor:
        return outputs.squeeze(-1) if self.is_regression else outputs.argmax(dim=-1)

    def summarize(self, scored: Scored) -> EvalResult:
        names = (self.metric, *self.extra_metrics)
        values = {name: METRICS[name](scored.predictions, scored.labels) for name in names}
        n = len(scored.labels)
        return EvalResult(loss=sum(scored.loss_sums.values()) / n, metric=values[self.metric],
                          extra={k: v for k, v in values.items() if k != self.metric}, n=n)

    def log_likelihood(self, batch: Batch, outputs: torch.Tensor, sigma: float) -> torch.Tensor:
        if self.is_regression:
            return -((batch.labels - outputs.squeeze(-1)) ** 2).sum() / (2 * sigma**2)
        return -nn.functional.cross_entropy(outputs, batch.labels, reduction="sum")

    def fisher_view(self, batch: Batch) -> FisherView:
        regression = self.is_regression

        def row_outputs(call: Any, inputs: tuple[tuple[Any, ...], ...]) -> torch.Tensor:
            ids, vectors, types, mask = inputs[0]
            tokens = ({"input_ids": ids[None]} if vectors is None
                      else {"inputs_embeds": vectors[None]})
            logits = call({**tokens, "token_type_ids": types[None],
                           "attention_mask": additive_mask(mask)}).logits[0]
            return logits if regression else torch.log_softmax(logits, dim=-1)

        return FisherView(((batch.input_ids, batch.token_type_ids, batch.attention_mask),),
                          1 if regression else self.num_labels, regression, row_outputs)

    # ---- heads and models -----------------------------------------------------------
    def new_model(self, encoder: Path, dropout: float | None) -> PreTrainedModel:
        return load_classifier(encoder, self.num_labels, dropout)

    def new_tiny_model(self, tokenizer: PreTrainedTokenizerBase, settings: TinyModelConfig,
                       seed: int, dropout: float | None) -> PreTrainedModel:
        quiet_transformers()
        from transformers import BertForSequenceClassification

        config = tiny_bert_config(tokenizer, settings, dropout, num_labels=self.num_labels)
        torch.manual_seed(seed)
        return BertForSequenceClassification(config)

    def skeleton(self, folder: Path, attention: str | None = None) -> nn.Module:
        return classifier_skeleton(folder, attention)

    def check_head(self, folder: Path) -> None:
        config_file, config = read_model_config(folder)
        heads = config.get("architectures") or []
        if heads and not any(str(h).endswith("ForSequenceClassification") for h in heads):
            owner = task_for_architecture(str(heads[0]))
            hint = f"; {heads[0]} models are merged with task {owner}" if owner else ""
            raise BomergeError(f"{config_file}: head {heads[0]} is not supported by task "
                               f"'{self.name}' (it merges *ForSequenceClassification models{hint})")
        labels = len(config["id2label"]) if "id2label" in config else config.get("num_labels", 2)
        if labels != self.num_labels:
            raise BomergeError(f"{config_file}: the head has {labels} outputs, task "
                               f"'{self.name}' needs {self.num_labels}")

