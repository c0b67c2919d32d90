"""The evaluator: loss and metric of any set of parameters on a set of rows (selection or
report), deterministically.

It owns the model skeleton and the tokenized dev rows, both resident on the device for the
life of a study; a trial only hands it a mapping of parameter tensors (views into the merge
buffer), which the task's ``forward`` swaps in for the skeleton's own weights
(``torch.func.functional_call``). Batches are formed once by the task, from rows sorted by
length, and padded only to their own longest row, so the same parameters always meet the
same arithmetic. What a batch's outputs, loss, predictions and scores are is the task's
business; the evaluator only runs the batches and collects. Its result also carries the
per-row predictions it collected (``RowResult.rows``), so report rows can be kept and
compared row by row (paired bootstrap intervals) without evaluating again.

With ``chunk_ends`` (``bomerge.progression``) the batches fall into chunks, and a pass can be
run chunk by chunk (``EvaluationPass``): after each chunk, the running scores over the rows
seen so far; after the last, exactly the result of the whole pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from bomerge.errors import BomergeError
from bomerge.tasks.base import Batch, EvalResult, Scored, Task

__all__ = ["EvaluationPass", "Evaluator", "RowResult", "autocast_dtype"]


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
        chunk_ends: the batch count at the end of each chunk (default: one chunk).
    """

    def __init__(self, skeleton: nn.Module, batches: list[Batch], task: Task,
                 precision: str = "auto", chunk_ends: list[int] | None = None) -> None:
        self.model = skeleton.eval()
        self.batches = batches
        self.task = task
        self.autocast = autocast_dtype(precision, batches[0].input_ids.device if batches else None)
        self.n = sum(len(b.labels) for b in batches)
        self.heads = np.empty(self.n, dtype=object)
        for batch in batches:
            self.heads[batch.order.numpy()] = batch.head
        self.batch_order = (np.concatenate([b.order.numpy() for b in batches]) if batches
                            else np.empty(0, dtype=np.int64))
        self._buffers = dict(skeleton.named_buffers())
        self._required = {name for name, _ in skeleton.named_parameters()}
        self.chunk_ends = list(chunk_ends) if chunk_ends is not None else [len(batches)]
        if self.chunk_ends[-1] != len(batches):
            raise BomergeError(f"chunks end at batch {self.chunk_ends[-1]} of {len(batches)}")

    @property
    def chunks(self) -> int:
        return len(self.chunk_ends)

    def evaluate(self, parameters: Mapping[str, torch.Tensor],
                 on_chunk: Callable[[RowResult], bool] | None = None) -> RowResult:
        """Loss (mean over rows) and metrics of the model with ``parameters`` swapped in,
        with the per-row predictions they were computed from.

        ``on_chunk`` is shown the running result after every chunk but the last; when it
        returns True the pass stops there and that running result (``n`` < all rows) is
        returned."""
        return self.start(parameters).run(on_chunk)

    def start(self, parameters: Mapping[str, torch.Tensor]) -> EvaluationPass:
        """A pass over the batches with ``parameters``, to be run chunk by chunk."""
        self._check(parameters)
        tensors = {**self._buffers, **parameters}
        return EvaluationPass(self, lambda head: tensors)

    @torch.inference_mode()
    def evaluate_each(self, parameters: Mapping[str, Mapping[str, torch.Tensor]]) -> RowResult:
        """Like ``evaluate``, but each head's rows are scored with the parameters given for
        that head (``parameters[head]``): a cross-task study's individual models, each on
        its own task's rows, in one result."""
        missing = sorted(set(self.heads.tolist()) - parameters.keys())
        if missing:
            raise BomergeError(f"no parameters for the rows of {missing[0]}")
        for given in parameters.values():
            self._check(given)
        tensors = {head: {**self._buffers, **given} for head, given in parameters.items()}
        return EvaluationPass(self, tensors.__getitem__).run()

    def _check(self, parameters: Mapping[str, torch.Tensor]) -> None:
        missing = self._required - parameters.keys()
        if missing:
            raise BomergeError(
                f"the candidates lack tensors the model needs: {sorted(missing)[:5]}"
            )


class EvaluationPass:
    """One evaluation of one set of parameters, run chunk by chunk (``next_chunk``): what a
    trial scored progressively holds between chunks. Its arrays fill as batches run; the
    running result of a chunk summarises the rows seen, in the order their batches ran."""

    def __init__(self, evaluator: Evaluator,
                 tensors_of: Callable[[str], Mapping[str, torch.Tensor]]) -> None:
        self.evaluator = evaluator
        self.tensors_of = tensors_of
        self.done = 0  # chunks run
        self.rows_seen = 0
        self.loss_sums: dict[str, float] = {}
        self.predictions = np.empty(evaluator.n, dtype=np.float64)
        self.labels = np.empty(evaluator.n, dtype=np.float64)

    @property
    def finished(self) -> bool:
        return self.done == self.evaluator.chunks

    def run(self, on_chunk: Callable[[RowResult], bool] | None = None) -> RowResult:
        """Run the remaining chunks; ``on_chunk`` (see ``Evaluator.evaluate``) may stop the
        pass after any chunk but the last. Without it no running result is summarised."""
        while not self.finished:
            self.run_chunk()
            if not self.finished and on_chunk is not None:
                running = self.result()
                if on_chunk(running):
                    return running
        return self.result()

    def next_chunk(self) -> RowResult:
        """Run the next chunk's batches; the running result over every row seen so far (the
        whole pass's result after the last chunk)."""
        self.run_chunk()
        return self.result()

    @torch.inference_mode()
    def run_chunk(self) -> None:
        """Run the next chunk's batches, filling the pass's arrays."""
        ev = self.evaluator
        if self.finished:
            raise BomergeError("the evaluation pass has no chunk left")
        first = ev.chunk_ends[self.done - 1] if self.done else 0
        for batch in ev.batches[first:ev.chunk_ends[self.done]]:
            with torch.autocast(device_type=batch.input_ids.device.type,
                                dtype=ev.autocast or torch.float32,
                                enabled=ev.autocast is not None):
                outputs = ev.task.forward(ev.model, self.tensors_of(batch.head), batch)
            loss = ev.task.loss(batch, outputs, reduction="sum")
            self.loss_sums[batch.head] = self.loss_sums.get(batch.head, 0.0) + float(loss)
            order = batch.order.numpy()
            self.predictions[order] = ev.task.predictions(batch, outputs).double().cpu().numpy()
            self.labels[order] = batch.labels.double().cpu().numpy()
            self.rows_seen += len(order)
        self.done += 1

    def result(self) -> RowResult:
        """The running result over the rows seen (the whole pass's once finished)."""
        ev = self.evaluator
        if self.finished:
            rows = Scored(self.predictions, self.labels, ev.heads, ev.batch_order,
                          dict(self.loss_sums))
        else:
            # The rows seen, renumbered 0..m-1 in the order their batches ran.
            seen = ev.batch_order[:self.rows_seen]
            rows = Scored(self.predictions[seen], self.labels[seen], ev.heads[seen],
                          np.arange(len(seen)), dict(self.loss_sums))
        summary = ev.task.summarize(rows)
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
