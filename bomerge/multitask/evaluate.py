"""Scoring a multitask model: every sub-task's rows, its own head, loss and metric.

Rows are tokenized once per sentence (pairs are two sentences, encoded separately for the
bi-encoder heads), sorted by length within their sub-task and batched per sub-task, so
each batch runs one head. The study sees one ``EvalResult``: ``loss`` = the sum of the
sub-tasks' mean losses, ``metric`` = the mean of their metrics (SST accuracy, Quora
accuracy, STS Pearson), and in ``extra`` each sub-task's metric under its name
(``sst``, ``quora``, ``sts``) and its loss (``sst_loss``, ...).
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
from bomerge.evaluate import Batch, EvalResult, Evaluator
from bomerge.multitask.data import MultitaskSpec, by_subtask
from bomerge.multitask.model import predictions, task_loss
from bomerge.tasks.data import Example
from bomerge.tasks.metrics import METRICS


@dataclass(frozen=True)
class PairBatch(Batch):
    """A batch of one sub-task: ``Batch`` fields for the first sentence, ``*_b`` for the
    second (``None`` for single-sentence tasks); ``(B, L)`` int64 each."""

    task: str = ""
    input_ids_b: torch.Tensor | None = None
    token_type_ids_b: torch.Tensor | None = None
    attention_mask_b: torch.Tensor | None = None

    def model_inputs(self) -> dict[str, object]:
        inputs: dict[str, object] = {"task": self.task, "input_ids": self.input_ids,
                                     "attention_mask": self.attention_mask,
                                     "token_type_ids": self.token_type_ids}
        if self.input_ids_b is not None:
            inputs.update(input_ids_b=self.input_ids_b, attention_mask_b=self.attention_mask_b,
                          token_type_ids_b=self.token_type_ids_b)
        return inputs


def _pad(sequences: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for r, seq in enumerate(sequences):
        ids[r, : len(seq)] = torch.tensor(seq)
        mask[r, : len(seq)] = 1
    return ids, mask


def tokenize_multitask(
    examples: list[Example], tokenizer: PreTrainedTokenizerBase, spec: MultitaskSpec,
    max_length: int, batch_size: int, device: torch.device | str,
) -> list[PairBatch]:
    """Per sub-task: tokenize each sentence once, sort rows by length, pad each batch to
    its own longest sentence. ``order`` indexes ``examples``."""
    if not examples:
        raise BomergeError(f"task '{spec.name}': no rows to evaluate")
    position = {id(ex): i for i, ex in enumerate(examples)}
    pad = tokenizer.pad_token_id or 0
    batches: list[PairBatch] = []
    grouped = by_subtask(examples, spec)
    for sub in spec.subtasks:
        rows = grouped[sub.name]
        if not rows:
            continue
        first = tokenizer([ex.text_a for ex in rows], truncation=True, max_length=max_length)["input_ids"]
        second = (tokenizer([ex.text_b or "" for ex in rows], truncation=True,
                            max_length=max_length)["input_ids"] if sub.is_pair else None)
        length = [max(len(first[i]), len(second[i]) if second else 0) for i in range(len(rows))]
        ordered = sorted(range(len(rows)), key=lambda i: (length[i], i))
        label_dtype = torch.float32 if sub.kind != "classification" else torch.long
        for start in range(0, len(ordered), batch_size):
            chunk = ordered[start : start + batch_size]
            ids, mask = _pad([first[i] for i in chunk], pad)
            extra: dict[str, torch.Tensor | None] = {}
            if second is not None:
                ids_b, mask_b = _pad([second[i] for i in chunk], pad)
                extra = {"input_ids_b": ids_b.to(device), "attention_mask_b": mask_b.to(device),
                         "token_type_ids_b": torch.zeros_like(ids_b).to(device)}
            batches.append(PairBatch(
                input_ids=ids.to(device), token_type_ids=torch.zeros_like(ids).to(device),
                attention_mask=mask.to(device),
                labels=torch.tensor([rows[i].label for i in chunk], dtype=label_dtype).to(device),
                order=torch.tensor([position[id(rows[i])] for i in chunk]),
                task=sub.name, **extra,
            ))
    return batches


class MultitaskEvaluator(Evaluator):
    """Scores parameters of a ``MultitaskBert`` on fixed per-sub-task batches; the study's
    ``Evaluator`` with each batch run through its own head."""

    def __init__(self, skeleton: nn.Module, batches: list[PairBatch], spec: MultitaskSpec,
                 precision: str = "auto") -> None:
        super().__init__(skeleton, batches, spec, precision)  # type: ignore[arg-type]
        self.task: MultitaskSpec = spec

    @torch.inference_mode()
    def evaluate(self, parameters: Mapping[str, torch.Tensor]) -> EvalResult:
        missing = self._required - parameters.keys()
        if missing:
            raise BomergeError(f"the candidates lack tensors the model needs: {sorted(missing)[:5]}")
        tensors = {**self._buffers, **parameters}
        losses: dict[str, float] = {}
        outputs: dict[str, list[np.ndarray]] = {}
        labels: dict[str, list[np.ndarray]] = {}
        for batch in self.batches:
            with torch.autocast(device_type=batch.input_ids.device.type,
                                dtype=self.autocast or torch.float32,
                                enabled=self.autocast is not None):
                out = functional_call(self.model, tensors, args=(), kwargs=batch.model_inputs(),
                                      strict=False).float()
            losses[batch.task] = losses.get(batch.task, 0.0) + float(
                task_loss(batch.task, out, batch.labels, reduction="sum"))
            outputs.setdefault(batch.task, []).append(predictions(batch.task, out).double().cpu().numpy())
            labels.setdefault(batch.task, []).append(batch.labels.double().cpu().numpy())
        extra: dict[str, float] = {}
        for sub in self.task.subtasks:
            if sub.name not in outputs:
                continue
            predicted, gold = np.concatenate(outputs[sub.name]), np.concatenate(labels[sub.name])
            extra[sub.name] = METRICS[sub.metric](predicted, gold)
            extra[f"{sub.name}_loss"] = losses[sub.name] / len(gold)
        names = [sub.name for sub in self.task.subtasks if sub.name in outputs]
        return EvalResult(
            loss=sum(extra[f"{n}_loss"] for n in names),
            metric=float(np.mean([extra[n] for n in names])),
            extra=extra,
            n=self.n,
        )
