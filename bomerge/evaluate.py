"""The evaluator: dev loss and dev metric of any set of parameters, deterministically.

It owns the model skeleton and the tokenized dev rows, both resident on the device for the
life of a study; a trial only hands it a mapping of parameter tensors (views into the merge
buffer), which the task's ``forward`` swaps in for the skeleton's own weights
(``torch.func.functional_call``). Batches are formed once by the task, from rows sorted by
length, and padded only to their own longest row, so the same parameters always meet the
same arithmetic. What a batch's outputs, loss, predictions and scores are is the task's
business; the evaluator only runs the batches and collects. Its result also carries the
per-row predictions it collected (``RowResult.rows``), so report rows can be kept and
compared row by row (paired bootstrap intervals) without evaluating again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from bomerge.errors import BomergeError
from bomerge.tasks.base import Batch, EvalResult, Scored, Task

__all__ = ["Evaluator", "RowResult", "autocast_dtype"]


@dataclass(frozen=True)
class RowResult(EvalResult):
    """An ``EvalResult`` with what it was computed from: every row's prediction, label and
    head (``rows``, in the original row order), which ``task.summarize`` turns into the
    same scores. Not part of equality: two results are equal when their scores are."""

    rows: Scored | None = field(default=None, compare=False, repr=False)


class Evaluator:
    """Scores parameters on a fixed set of batches.

    Args:
        skeleton: the model architecture (its own weights are never used for scoring).
        batches: the task's tokenized rows, already on the skeleton's device.
        task: gives the outputs, loss, predictions and metrics.
        precision: ``auto`` | ``fp32`` | ``bf16`` (see ``autocast_dtype``).
    """

    def __init__(self, skeleton: nn.Module, batches: list[Batch], task: Task,
                 precision: str = "auto") -> None:
        self.model = skeleton.eval()
        self.batches = batches
        self.task = task
        self.autocast = autocast_dtype(precision, batches[0].input_ids.device if batches else None)
        self.n = sum(len(b.labels) for b in batches)
        self.groups = np.empty(self.n, dtype=object)
        for batch in batches:
            self.groups[batch.order.numpy()] = batch.group
        self.batch_order = (np.concatenate([b.order.numpy() for b in batches]) if batches
                            else np.empty(0, dtype=np.int64))
        self._buffers = dict(skeleton.named_buffers())
        self._required = {name for name, _ in skeleton.named_parameters()}

    @torch.inference_mode()
    def evaluate(self, parameters: Mapping[str, torch.Tensor]) -> RowResult:
        """Loss (mean over rows) and metrics of the model with ``parameters`` swapped in,
        with the per-row predictions they were computed from."""
        self._check(parameters)
        tensors = {**self._buffers, **parameters}
        return self._run(lambda group: tensors)

    @torch.inference_mode()
    def evaluate_each(self, parameters: Mapping[str, Mapping[str, torch.Tensor]]) -> RowResult:
        """Like ``evaluate``, but each head's rows are scored with the parameters given for
        that head (``parameters[group]``): a cross-task study's individual models, each on
        its own task's rows, in one result."""
        missing = sorted(set(self.groups.tolist()) - parameters.keys())
        if missing:
            raise BomergeError(f"no parameters for the rows of {missing[0]}")
        for given in parameters.values():
            self._check(given)
        tensors = {group: {**self._buffers, **given} for group, given in parameters.items()}
        return self._run(tensors.__getitem__)

    def _check(self, parameters: Mapping[str, torch.Tensor]) -> None:
        missing = self._required - parameters.keys()
        if missing:
            raise BomergeError(
                f"the candidates lack tensors the model needs: {sorted(missing)[:5]}"
            )

    def _run(self, tensors_of: Callable[[str], Mapping[str, torch.Tensor]]) -> RowResult:
        loss_sums: dict[str, float] = {}
        predictions = np.empty(self.n, dtype=np.float64)
        labels = np.empty(self.n, dtype=np.float64)
        for batch in self.batches:
            with torch.autocast(device_type=batch.input_ids.device.type,
                                dtype=self.autocast or torch.float32,
                                enabled=self.autocast is not None):
                outputs = self.task.forward(self.model, tensors_of(batch.group), batch)
            loss = self.task.loss(batch, outputs, reduction="sum")
            loss_sums[batch.group] = loss_sums.get(batch.group, 0.0) + float(loss)
            order = batch.order.numpy()
            predictions[order] = self.task.predictions(batch, outputs).double().cpu().numpy()
            labels[order] = batch.labels.double().cpu().numpy()
        rows = Scored(predictions, labels, self.groups, self.batch_order, loss_sums)
        summary = self.task.summarize(rows)
        return RowResult(summary.loss, summary.metric, summary.extra, summary.n, rows=rows)


def autocast_dtype(precision: str, device: torch.device | None) -> torch.dtype | None:
    """The autocast dtype of an evaluation: ``auto`` is bf16 on CUDA (tensor cores; losses
    and metrics are accumulated in float32/float64 regardless) and full float32 elsewhere;
    ``fp32`` never autocasts; ``bf16`` always does."""
    if precision == "fp32" or device is None:
        return None
    if precision == "bf16" or device.type == "cuda":
        return torch.bfloat16
    return None
