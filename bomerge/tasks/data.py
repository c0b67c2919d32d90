"""Reading a task's rows from local GLUE files or the datasets hub, and splitting them.

Local files follow the GLUE distribution: ``<root>/<TASK>/train.tsv`` and ``dev.tsv``, raw
tab-separated text with no quoting. The ``dev.tsv`` shipped with bomerge's shared data is a
deterministic slice of the official training set (the official dev set is held out as a final
test set). When the files are absent and the hub is allowed, the official training split is
downloaded and cut with the same rule (``glue_dev_rows``), so a user with a network gets the
same train/dev rows without editing the config.

The ``dev`` rows are then split once more, deterministically, into a *selection* part (the
search's objective) and a *report* part that no search or selection ever sees.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from bomerge.config import DataConfig
from bomerge.errors import BomergeError
from bomerge.tasks.glue import TaskSpec

DATA_ROOT_ENV = "BOMERGE_DATA_ROOT"


@dataclass(frozen=True)
class Example:
    """One row: one text (single-sentence tasks) or two (pair tasks) and its label."""

    text_a: str
    text_b: str | None
    label: float
    task: str | None = None  # the sub-task of a multitask row ('sst', 'quora', 'sts')


def _key(prefix: str, index: int) -> str:
    return hashlib.sha256(f"{prefix}:{index}".encode()).hexdigest()


def glue_dev_rows(task_folder: str, n_rows: int) -> set[int]:
    """Indices of the official training rows that form bomerge's dev slice.

    The k = min(2000, round(0.1 n)) rows with the smallest
    sha256("bomerge-glue-split-v1:<TASK>:<i>") hex digests, as documented in the shared
    data's PROVENANCE.md.
    """
    k = min(2000, round(0.10 * n_rows))
    order = sorted(range(n_rows), key=lambda i: _key(f"bomerge-glue-split-v1:{task_folder}", i))
    return set(order[:k])


def split_selection_report(
    examples: list[Example], task: TaskSpec, selection_fraction: float
) -> tuple[list[Example], list[Example]]:
    """Split rows into (selection, report) by a hash of each row's position.

    The same rows and fraction always give the same split; the two parts are disjoint and
    together hold every row.
    """
    if getattr(task, "is_multitask", False):
        parts = [split_selection_report([ex for ex in examples if ex.task == sub.name], sub,
                                        selection_fraction)
                 for sub in task.subtasks]  # type: ignore[attr-defined]
        return [ex for s, _ in parts for ex in s], [ex for _, r in parts for ex in r]
    n_select = round(selection_fraction * len(examples))
    order = sorted(range(len(examples)), key=lambda i: _key(f"bomerge-eval-v1:{task.name}", i))
    chosen = set(order[:n_select])
    selection = [ex for i, ex in enumerate(examples) if i in chosen]
    report = [ex for i, ex in enumerate(examples) if i not in chosen]
    return selection, report


def cap_rows(rows: list[Example], task: TaskSpec, limit: int | None) -> list[Example]:
    """The first ``limit`` rows (all when None); for a multitask task the first ``limit``
    of each sub-task, so a large sub-task cannot crowd out the others."""
    if not limit:
        return rows
    if getattr(task, "is_multitask", False):
        return [ex for sub in task.subtasks  # type: ignore[attr-defined]
                for ex in [r for r in rows if r.task == sub.name][:limit]]
    return rows[:limit]


def _parse_label(task: TaskSpec, raw: str, where: str) -> float:
    value = raw.strip()
    if value in task.label_names:
        return float(task.label_names[value])
    try:
        label = float(value)
    except ValueError:
        raise BomergeError(f"{where}: label {value!r} is not numeric") from None
    if not task.is_regression and (label != int(label) or not 0 <= label < task.num_labels):
        raise BomergeError(
            f"{where}: label {value!r} is not a class index in 0..{task.num_labels - 1}"
        )
    return label


def read_tsv(path: Path, task: TaskSpec) -> list[Example]:
    """Rows of one GLUE TSV file (split on tabs, never unquoted: SST-2 and RTE hold ``"``)."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    if task.local_header:
        if not lines:
            raise BomergeError(f"{path}: empty file, expected a header row")
        header = lines[0].split("\t")
        columns: list[int] = []
        for name in (*task.local_text_columns, task.local_label_column):
            if name not in header:
                raise BomergeError(
                    f"{path}: missing column '{name}' (header has: {', '.join(header)})"
                )
            columns.append(header.index(name))
        body = enumerate(lines[1:], start=2)
    else:
        columns = [int(c) for c in (*task.local_text_columns, task.local_label_column)]
        body = enumerate(lines, start=1)
    examples = []
    for line_number, line in body:
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) <= max(columns):
            raise BomergeError(
                f"{path}, line {line_number}: {len(cells)} columns, expected at least "
                f"{max(columns) + 1}"
            )
        texts = [cells[c] for c in columns[:-1]]
        label = _parse_label(task, cells[columns[-1]], f"{path}, line {line_number}")
        examples.append(Example(texts[0], texts[1] if len(texts) > 1 else None, label))
    return examples


def _data_root(data: DataConfig) -> Path | None:
    env = os.environ.get(DATA_ROOT_ENV)
    if env:
        return Path(env)
    return data.root


def _read_hub(task: TaskSpec, split: str) -> list[Example]:
    """The official training split from the hub, cut into bomerge's train/dev rows."""
    try:
        import datasets

        rows = datasets.load_dataset(task.hub_path, task.hub_config, split="train")
    except Exception as error:  # noqa: BLE001 - any hub failure means "not available"
        raise BomergeError(
            f"task '{task.name}': no local files and the datasets hub failed "
            f"({task.hub_path}/{task.hub_config}): {type(error).__name__}: {error}"
        ) from None
    dev_rows = glue_dev_rows(task.folder, len(rows))
    keep = (lambda i: i in dev_rows) if split == "dev" else (lambda i: i not in dev_rows)
    examples = []
    for i, row in enumerate(rows):
        if keep(i):
            texts = [row[c] for c in task.hub_text_columns]
            examples.append(
                Example(texts[0], texts[1] if len(texts) > 1 else None, float(row["label"]))
            )
    return examples


def load_split(task: TaskSpec, data: DataConfig, split: str) -> list[Example]:
    """Rows of ``split`` ('train' or 'dev') from the local root, else from the hub.

    Raises:
        BomergeError: the split is unknown, the local file is malformed (naming file, line,
            column or value), the split is empty, or no source is available.
    """
    if split not in ("train", "dev"):
        raise BomergeError(f"task '{task.name}': unknown split '{split}' (use train or dev)")
    if task.is_multitask:
        from bomerge.multitask.data import load_multitask_split

        return load_multitask_split(task, _data_root(data), split)  # type: ignore[arg-type]
    root = _data_root(data)
    path = root / task.folder / f"{split}.tsv" if root is not None else None
    if path is not None and path.is_file():
        examples = read_tsv(path, task)
        source = str(path)
    elif data.hub:
        examples = _read_hub(task, split)
        source = f"{task.hub_path}/{task.hub_config} ({split})"
    else:
        raise BomergeError(
            f"task '{task.name}': data file not found: {path} (set task.data.root or "
            f"{DATA_ROOT_ENV}, or allow task.data.hub)"
        )
    if not examples:
        raise BomergeError(f"{source}: the {split} split has no rows")
    return examples
