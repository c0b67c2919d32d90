"""The selection rows in a fixed, label-stratified order, cut into chunks: what progressive
evaluation scores a trial on, chunk after chunk.

A study draws its order once (``RowPlan.stratified``) and records it, so every trial, every
executor and every resume scores the same rows in the same chunks, and a trial's running
scores after ``r`` rows are comparable with any other trial's after ``r`` rows. Each prefix
of the order holds every stratum (head × label, or head × label quintile for a regression
head) in proportion, so the running metric of a chunk is an unbiased look at the full one
rather than, say, the short sentences first. Inside a chunk, rows are batched by length as
everywhere else; the full evaluation of a study is its chunks one after another, so a trial
that is never stopped scores exactly what it would have scored in one pass.

"Cheaper trials" in docs/performance.md; Ax's progressions are rows seen.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from bomerge.errors import BomergeError
from bomerge.fileio import atomic_write
from bomerge.tasks.base import Batch, Example, Task

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["RowPlan", "planned_batches"]

#: a head with more distinct labels than this is a regression head, stratified by quintile
MAX_CLASSES = 10
QUANTILES = 5


@dataclass(frozen=True)
class RowPlan:
    """``order``: a permutation of the ``N`` row positions; ``ends``: the cumulative row
    count at the end of each chunk (the last is ``N``); ``heads``: each row's head (so one
    head's rows can be scored in the study's chunks on their own: ``of_head``). On disk
    (``write``/``read``) the heads are stored under the key ``"groups"``."""

    order: tuple[int, ...]
    ends: tuple[int, ...]
    heads: tuple[str | None, ...] | None = None

    @classmethod
    def stratified(cls, rows: Sequence[Example], chunks: int, seed: int) -> RowPlan:
        """A seeded order of ``rows`` whose every prefix holds each stratum in proportion,
        cut into ``chunks`` chunks of (nearly) equal size."""
        if not 1 <= chunks <= len(rows):
            raise BomergeError(f"search.early_stopping.chunks {chunks}: must be between 1 and "
                               f"the {len(rows)} selection rows")
        rng = np.random.default_rng(seed)
        keys = np.empty(len(rows))
        for members in strata(rows).values():
            # Row j of a stratum of m sits at (j + u) / m: spread evenly over the order.
            shuffled = rng.permutation(members)
            keys[shuffled] = (np.arange(len(members)) + rng.random(len(members))) / len(members)
        order = tuple(int(i) for i in np.argsort(keys, kind="stable"))
        ends = tuple(round(len(rows) * (c + 1) / chunks) for c in range(chunks))
        return cls(order, ends, tuple(row.head for row in rows))

    @property
    def n(self) -> int:
        return len(self.order)

    def chunk(self, c: int) -> list[int]:
        """The row positions of chunk ``c``."""
        start = self.ends[c - 1] if c else 0
        return list(self.order[start:self.ends[c]])

    def of_head(self, head: str) -> RowPlan:
        """The plan of one head's rows alone (numbered in their order among all rows): the
        same chunks, each holding that head's rows of the chunk."""
        if self.heads is None:
            raise BomergeError("the selection order does not record the rows' heads")
        kept = [i for i, h in enumerate(self.heads) if h == head]
        renumber = {i: j for j, i in enumerate(kept)}
        order, ends, start = [], [], 0
        for end in self.ends:
            order += [renumber[i] for i in self.order[start:end] if i in renumber]
            ends.append(len(order))
            start = end
        return RowPlan(tuple(order), tuple(ends), (head,) * len(kept))

    def write(self, path: Path) -> None:
        atomic_write(path, json.dumps({
            "order": list(self.order), "ends": list(self.ends),
            "groups": None if self.heads is None else list(self.heads),  # the on-disk key
        }))

    @classmethod
    def read(cls, path: Path, rows: int | None = None) -> RowPlan:
        """The plan recorded in ``path``, checked against the ``rows`` it orders (any count
        when None)."""
        try:
            data = json.loads(path.read_text())
            heads = data.get("groups")  # the on-disk key of the rows' heads
            plan = cls(tuple(int(i) for i in data["order"]), tuple(int(e) for e in data["ends"]),
                       None if heads is None else tuple(heads))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise BomergeError(f"{path}: not a selection order ({type(error).__name__}: "
                               f"{error})") from None
        rows = plan.n if rows is None else rows
        if sorted(plan.order) != list(range(rows)) or not plan.ends or plan.ends[-1] != rows:
            raise BomergeError(f"{path}: orders {plan.n} rows, but the study has {rows} "
                               "selection rows (its data changed since the order was drawn)")
        return plan


def strata(rows: Sequence[Example]) -> dict[tuple[str | None, float], list[int]]:
    """Row positions by (head, label), a regression head's labels binned into quintiles."""
    by_head: dict[str | None, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        by_head[row.head].append(i)
    out: dict[tuple[str | None, float], list[int]] = defaultdict(list)
    for head, members in by_head.items():
        labels = np.array([rows[i].label for i in members], dtype=np.float64)
        if len(np.unique(labels)) > MAX_CLASSES:
            edges = np.quantile(labels, np.linspace(0, 1, QUANTILES + 1)[1:-1])
            labels = np.searchsorted(edges, labels, side="right").astype(np.float64)
        for i, label in zip(members, labels, strict=True):
            out[(head, float(label))].append(i)
    return out


def planned_batches(task: Task, rows: list[Example], plan: RowPlan | None,
                    tokenizer: PreTrainedTokenizerBase, max_length: int, batch_size: int,
                    device: torch.device | str) -> tuple[list[Batch], list[int]]:
    """The evaluation batches of ``rows`` and the batch count at the end of each chunk:
    each chunk's rows batched by length on their own (``order`` still indexes ``rows``);
    without a plan, the task's one batching of all rows, as one chunk."""
    if plan is None:
        batches = task.batches(rows, tokenizer, max_length, batch_size, device)
        return batches, [len(batches)]
    if plan.n != len(rows):
        raise BomergeError(f"the selection order holds {plan.n} rows, the study {len(rows)}")
    batches: list[Batch] = []
    ends: list[int] = []
    for c in range(len(plan.ends)):
        positions = np.array(plan.chunk(c), dtype=np.int64)
        if not len(positions):  # one head's chunk can be empty
            ends.append(len(batches))
            continue
        for batch in task.batches([rows[i] for i in positions], tokenizer, max_length,
                                  batch_size, device):
            batches.append(replace(batch, order=torch.from_numpy(positions[batch.order.numpy()])))
        ends.append(len(batches))
    return batches, ends
