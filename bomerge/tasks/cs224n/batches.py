"""Batches of the CS224N model: every sub-task's rows batched apart, pairs as two sentences.

Rows are tokenized once per sentence (pairs are two sentences, encoded separately for the
bi-encoder heads), sorted by length within their sub-task and batched per sub-task, so each
batch runs one head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from bomerge.errors import BomergeError
from bomerge.tasks.base import Batch, Example
from bomerge.tasks.cs224n.data import SUBTASKS

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class PairBatch(Batch):
    """A batch of one sub-task (``head``): ``Batch`` fields for the first sentence,
    ``*_b`` for the second (``None`` for single-sentence sub-tasks); ``(B, L)`` int64 each."""

    input_ids_b: torch.Tensor | None = None
    token_type_ids_b: torch.Tensor | None = None
    attention_mask_b: torch.Tensor | None = None

    def model_inputs(self) -> dict[str, object]:
        inputs: dict[str, object] = {"task": self.head, "input_ids": self.input_ids,
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


def pair_batches(examples: list[Example], tokenizer: PreTrainedTokenizerBase, max_length: int,
                 batch_size: int, device: torch.device | str) -> list[PairBatch]:
    """Per sub-task: tokenize each sentence once, sort rows by length, pad each batch to
    its own longest sentence. ``order`` indexes ``examples``."""
    if not examples:
        raise BomergeError("task 'cs224n': no rows to evaluate")
    position = {id(ex): i for i, ex in enumerate(examples)}
    pad = tokenizer.pad_token_id or 0
    batches: list[PairBatch] = []
    for sub in SUBTASKS:
        rows = [ex for ex in examples if ex.head == sub.name]
        if not rows:
            continue
        first = tokenizer([ex.text_a for ex in rows], truncation=True,
                          max_length=max_length)["input_ids"]
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
                extra = {"input_ids_b": ids_b, "attention_mask_b": mask_b,
                         "token_type_ids_b": torch.zeros_like(ids_b)}
            batches.append(PairBatch(
                input_ids=ids, token_type_ids=torch.zeros_like(ids), attention_mask=mask,
                labels=torch.tensor([rows[i].label for i in chunk], dtype=label_dtype),
                order=torch.tensor([position[id(rows[i])] for i in chunk]),
                head=sub.name, **extra,
            ).to(device))
    return batches
