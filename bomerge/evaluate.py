"""The evaluator: dev loss and dev metric of any set of parameters, deterministically.

It owns the model skeleton and the tokenized dev rows, both resident on the device for the
life of a study; a trial only hands it a mapping of parameter tensors (views into the merge
buffer), which ``torch.func.functional_call`` uses in place of the skeleton's own weights.
Batches are formed once, from rows sorted by length, and padded only to their own longest
row, so the same parameters always meet the same arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from transformers import PreTrainedTokenizerBase

from bomerge.errors import BomergeError
from bomerge.tasks.data import Example
from bomerge.tasks.encode import encode_examples, pad_rows
from bomerge.tasks.glue import TaskSpec
from bomerge.tasks.metrics import METRICS


@dataclass(frozen=True)
class Batch:
    """One padded batch on the device: ``input_ids``, ``token_type_ids`` and
    ``attention_mask`` are ``(B, L)`` int64; ``labels`` is ``(B,)``; ``order`` is the
    ``(B,)`` position of each row in the original example list."""

    input_ids: torch.Tensor
    token_type_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    order: torch.Tensor


@dataclass(frozen=True)
class EvalResult:
    loss: float
    metric: float
    extra: dict[str, float]
    n: int


def tokenize_batches(
    examples: list[Example],
    tokenizer: PreTrainedTokenizerBase,
    task: TaskSpec,
    max_length: int,
    batch_size: int,
    device: torch.device | str,
) -> list[Batch]:
    """Tokenize rows once, sort them by length and pad each batch to its own longest row."""
    if not examples:
        raise BomergeError(f"task '{task.name}': no rows to evaluate")
    encoded = encode_examples(examples, tokenizer, task, max_length)
    by_length = sorted(range(len(examples)), key=lambda i: (len(encoded.input_ids[i]), i))
    batches = []
    for start in range(0, len(by_length), batch_size):
        rows = by_length[start : start + batch_size]
        tensors = {k: v.to(device) for k, v in pad_rows(encoded, rows).items()}
        batches.append(Batch(**tensors, order=torch.tensor(rows)))
    return batches


class Evaluator:
    """Scores parameters on a fixed set of batches.

    Args:
        skeleton: the model architecture (its own weights are never used for scoring).
        batches: the tokenized rows, already on the skeleton's device.
        task: gives the loss (cross-entropy or MSE) and the GLUE metrics.
    """

    def __init__(self, skeleton: nn.Module, batches: list[Batch], task: TaskSpec,
                 precision: str = "auto") -> None:
        self.model = skeleton.eval()
        self.batches = batches
        self.task = task
        self.autocast = autocast_dtype(precision, batches[0].input_ids.device if batches else None)
        self.n = sum(len(b.labels) for b in batches)
        self._buffers = dict(skeleton.named_buffers())
        self._required = {name for name, _ in skeleton.named_parameters()}

    @torch.inference_mode()
    def evaluate(self, parameters: Mapping[str, torch.Tensor]) -> EvalResult:
        """Loss (mean over rows) and metrics of the model with ``parameters`` swapped in."""
        missing = self._required - parameters.keys()
        if missing:
            raise BomergeError(
                f"the candidates lack tensors the model needs: {sorted(missing)[:5]}"
            )
        tensors = {**self._buffers, **parameters}
        loss_sum = 0.0
        outputs = np.empty(self.n, dtype=np.float64)
        labels = np.empty(self.n, dtype=np.float64)
        for batch in self.batches:
            with torch.autocast(device_type=batch.input_ids.device.type,
                                dtype=self.autocast or torch.float32,
                                enabled=self.autocast is not None):
                logits = self._logits(tensors, batch)
            if self.task.is_regression:
                scores = logits.squeeze(-1)
                loss = torch.nn.functional.mse_loss(scores, batch.labels, reduction="sum")
                predictions = scores
            else:
                loss = torch.nn.functional.cross_entropy(logits, batch.labels, reduction="sum")
                predictions = logits.argmax(dim=-1)
            loss_sum += float(loss)
            order = batch.order.numpy()
            outputs[order] = predictions.double().cpu().numpy()
            labels[order] = batch.labels.double().cpu().numpy()
        names = (self.task.metric, *self.task.extra_metrics)
        scores_by_name = {name: METRICS[name](outputs, labels) for name in names}
        return EvalResult(
            loss=loss_sum / self.n,
            metric=scores_by_name[self.task.metric],
            extra={k: v for k, v in scores_by_name.items() if k != self.task.metric},
            n=self.n,
        )

    def _logits(self, tensors: Mapping[str, torch.Tensor], batch: Batch) -> torch.Tensor:
        return functional_call(
            self.model,
            tensors,
            args=(),
            kwargs={
                "input_ids": batch.input_ids,
                "token_type_ids": batch.token_type_ids,
                "attention_mask": batch.attention_mask,
            },
            strict=False,
        ).logits.float()


def autocast_dtype(precision: str, device: torch.device | None) -> torch.dtype | None:
    """The autocast dtype of an evaluation: ``auto`` is bf16 on CUDA (tensor cores; losses
    and metrics are accumulated in float32/float64 regardless) and full float32 elsewhere;
    ``fp32`` never autocasts; ``bf16`` always does."""
    if precision == "fp32" or device is None:
        return None
    if precision == "bf16" or device.type == "cuda":
        return torch.bfloat16
    return None


def build_batches(examples: list[Example], tokenizer: PreTrainedTokenizerBase, task: TaskSpec,
                  max_length: int, batch_size: int, device: torch.device | str) -> list[Batch]:
    """The task's batches: GLUE rows as ``tokenize_batches``, multitask rows per sub-task."""
    if task.is_multitask:
        from bomerge.multitask.evaluate import tokenize_multitask

        return tokenize_multitask(examples, tokenizer, task, max_length, batch_size, device)  # type: ignore[arg-type, return-value]
    return tokenize_batches(examples, tokenizer, task, max_length, batch_size, device)


def build_evaluator(skeleton: nn.Module, batches: list[Batch], task: TaskSpec,
                    precision: str = "auto") -> Evaluator:
    """The task's evaluator (the multitask one scores each sub-task with its head)."""
    if task.is_multitask:
        from bomerge.multitask.evaluate import MultitaskEvaluator

        return MultitaskEvaluator(skeleton, batches, task, precision)  # type: ignore[arg-type, return-value]
    return Evaluator(skeleton, batches, task, precision)
