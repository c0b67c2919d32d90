"""Tokenizing rows once and padding a batch of them into tensors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from bomerge.tasks.base import Batch, Example

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class Encoded:
    """Token ids per row (unpadded), their segment ids, and the labels."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    labels: list[float]
    pad_id: int
    regression: bool


def encode_examples(examples: list[Example], tokenizer: PreTrainedTokenizerBase, pair: bool,
                    regression: bool, max_length: int) -> Encoded:
    """Each row as one sequence (``[CLS] a [SEP] b [SEP]`` for pairs), truncated."""
    encoded = tokenizer(
        [ex.text_a for ex in examples],
        [ex.text_b or "" for ex in examples] if pair else None,
        truncation=True,
        max_length=max_length,
    )
    ids = encoded["input_ids"]
    types = encoded.get("token_type_ids") or [[0] * len(row) for row in ids]
    return Encoded(ids, types, [ex.label for ex in examples], tokenizer.pad_token_id or 0,
                   regression)


def pad_rows(encoded: Encoded, rows: list[int], head: str = "") -> Batch:
    """``input_ids``, ``token_type_ids``, ``attention_mask`` as ``(B, L)`` int64 tensors
    padded to the longest of ``rows``, ``labels`` as ``(B,)``, ``order`` = ``rows`` and the
    batch's ``head``."""
    width = max(len(encoded.input_ids[i]) for i in rows)
    input_ids = torch.full((len(rows), width), encoded.pad_id, dtype=torch.long)
    token_types = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, i in enumerate(rows):
        n = len(encoded.input_ids[i])
        input_ids[r, :n] = torch.tensor(encoded.input_ids[i])
        token_types[r, :n] = torch.tensor(encoded.token_type_ids[i])
        mask[r, :n] = 1
    labels = torch.tensor(
        [encoded.labels[i] for i in rows],
        dtype=torch.float32 if encoded.regression else torch.long,
    )
    return Batch(input_ids, token_types, mask, labels, torch.tensor(rows), head)

