"""The CS224N multitask data: SST-5 sentiment, Quora paraphrase and STS similarity.

Files of the course's ``data/`` folder (tab-separated, quoted, one header row whose first
column is an unnamed row index), read with ``csv.DictReader`` as the course code does:

| sub-task | train | dev | label |
|---|---|---|---|
| ``sst`` | ids-sst-train.csv | ids-sst-dev.csv | ``sentiment`` 0–4 |
| ``quora`` | quora-train.csv (else quora-train-small.csv) | quora-dev.csv | ``is_duplicate`` 0/1 |
| ``sts`` | sts-train.csv | sts-dev.csv | ``similarity`` 0–5 |

Rows are ``Example``s tagged with their sub-task. Quora rows whose label cell is empty (two
rows of quora-dev.csv, cut by unbalanced quotes) are skipped.

SST's dev rows are carved from ids-sst-train.csv: the shared ids-sst-dev.csv was
decontaminated against the official GLUE SST-2 dev set (kept apart as a final test), which
removed every polarised sentence and left 229 rows that are all label 2 (neutral), useless
for scoring a 5-class head. The carve-out is the k = min(``SST_DEV_ROWS``, n // 8) of the n
training rows with the smallest ``sha256("bomerge-cs224n-split-v1:sst:<row position>")``
(1,000 of 8,544); training uses the rest.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from bomerge.errors import BomergeError
from bomerge.tasks.base import Example

SST_DEV_ROWS = 1000
# The architecture a CS224N model folder's config.json names (the class
# bomerge.tasks.cs224n.model.MultitaskBert): kept here, where registering the task reads it
# without importing the model module and transformers with it.
ARCHITECTURE = "MultitaskBert"


def carved_dev_rows(sub_name: str, n_rows: int, k: int) -> set[int]:
    """Positions of the min(k, n // 8) training rows that form a sub-task's carved-out dev
    set."""
    k = min(k, n_rows // 8)
    def key(i: int) -> str:
        return hashlib.sha256(f"bomerge-cs224n-split-v1:{sub_name}:{i}".encode()).hexdigest()

    return set(sorted(range(n_rows), key=key)[:k])


@dataclass(frozen=True)
class SubTask:
    """One head's task: its files, columns, loss kind and metric."""

    name: str
    files: dict[str, tuple[str, ...]]  # split -> file names, first existing wins
    text_columns: tuple[str, ...]
    label_column: str
    kind: str  # "classification" (num_labels classes), "binary" or "regression"
    metric: str
    num_labels: int
    dev_from_train: int = 0  # > 0: dev = that many hashed training rows, train = the rest

    @property
    def is_pair(self) -> bool:
        return len(self.text_columns) == 2

    @property
    def is_regression(self) -> bool:
        return self.kind == "regression"


SUBTASKS = (
    SubTask("sst", {"train": ("ids-sst-train.csv",), "dev": ("ids-sst-train.csv",)},
            ("sentence",), "sentiment", "classification", "accuracy", 5,
            dev_from_train=SST_DEV_ROWS),
    SubTask("quora", {"train": ("quora-train.csv", "quora-train-small.csv"),
                      "dev": ("quora-dev.csv",)},
            ("sentence1", "sentence2"), "is_duplicate", "binary", "accuracy", 2),
    SubTask("sts", {"train": ("sts-train.csv",), "dev": ("sts-dev.csv",)},
            ("sentence1", "sentence2"), "similarity", "regression", "pearson", 1),
)


def read_subtask_file(path: Path, sub: SubTask) -> list[Example]:
    """Rows of one CS224N file; a missing column or a bad label names the file and line."""
    csv.field_size_limit(10_000_000)
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        header = reader.fieldnames or []
        for column in (*sub.text_columns, sub.label_column):
            if column not in header:
                raise BomergeError(f"{path}: missing column '{column}' "
                                   f"(header has: {', '.join(c for c in header if c)})")
        rows = []
        for row in reader:
            raw = (row.get(sub.label_column) or "").strip()
            if not raw and sub.kind == "binary":
                continue
            where = f"{path}, line {reader.line_num}"
            try:
                label = float(raw)
            except ValueError:
                raise BomergeError(f"{where}: label {raw!r} is not numeric") from None
            if sub.kind != "regression" and (label != int(label)
                                             or not 0 <= label < sub.num_labels):
                raise BomergeError(f"{where}: label {raw!r} is not a class in "
                                   f"0..{sub.num_labels - 1}")
            texts = [(row.get(c) or "").strip() for c in sub.text_columns]
            rows.append(Example(texts[0], texts[1] if sub.is_pair else None, label, sub.name))
    return rows


def subtask_file(root: Path | None, sub: SubTask, split: str) -> Path:
    names = sub.files[split]
    if root is None:
        raise BomergeError(f"task 'cs224n': set task.data.root to the CS224N data folder "
                           f"(holding {names[0]})")
    for name in names:
        if (root / name).is_file():
            return root / name
    raise BomergeError(f"task 'cs224n': data file not found: {root / names[0]}")


def load_subtask_rows(root: Path | None, split: str) -> list[Example]:
    """Every sub-task's rows of ``split`` ('train' or 'dev'), tagged, sub-task by sub-task."""
    rows: list[Example] = []
    for sub in SUBTASKS:
        path = subtask_file(root, sub, split)
        found = read_subtask_file(path, sub)
        if sub.dev_from_train:
            dev = carved_dev_rows(sub.name, len(found), sub.dev_from_train)
            found = [ex for i, ex in enumerate(found) if (i in dev) == (split == "dev")]
        if not found:
            raise BomergeError(f"{path}: the {split} split has no rows")
        rows += found
    return rows


def subtask(name: str) -> SubTask:
    """A sub-task by name; ``BomergeError`` lists the known ones."""
    for sub in SUBTASKS:
        if sub.name == name:
            return sub
    raise BomergeError(f"task 'cs224n' has no sub-task '{name}' "
                       f"(known: {', '.join(s.name for s in SUBTASKS)})")
