"""``task.name: csv``: a user's own CSV or TSV files, one classification or regression head.

```yaml
task:
  name: csv
  data:
    train: data/train.csv       # header row; .tsv files are tab-separated, others comma
    dev: data/dev.csv           # split into selection and report rows like any dev set
    text_columns: [question, answer]   # one or two columns (two: a sentence pair)
    label_column: label
    labels: [negative, positive]       # class names in head order, or: regression
    metric: accuracy            # accuracy | f1 (two classes) | mcc | pearson | spearman
                                # (mcc is reported under its GLUE name, matthews)
```

Labels are matched as written in the file (``labels: [0, 1]`` for files holding 0/1). A
missing column, a label that is not one of ``labels`` (with its line number) or an empty split
stops with one line naming the file.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from bomerge.config import DataConfig, TaskConfig
from bomerge.errors import BomergeError
from bomerge.tasks.base import Example
from bomerge.tasks.classifier import SequenceClassificationTask
from bomerge.tasks.registry import register

NAME = "csv"
METRIC_NAMES = {"accuracy": "accuracy", "f1": "f1", "mcc": "matthews", "matthews": "matthews",
                "pearson": "pearson", "spearman": "spearman"}
CLASSIFICATION_METRICS = ("accuracy", "f1", "mcc", "matthews")
REGRESSION = "regression"
DATA_KEYS = ("train", "dev", "text_columns", "label_column", "labels", "metric")


@dataclass(frozen=True, eq=False, kw_only=True)
class CsvTask(SequenceClassificationTask):
    """Rows of the files ``task.data.train`` / ``dev``, texts from ``text_columns``, labels
    from ``label_column``: class names ``classes`` in head order, or floats when ``classes``
    is empty (regression)."""

    text_columns: tuple[str, ...]
    label_column: str
    classes: tuple[str, ...]
    num_labels: int
    metric: str
    extra_metrics: tuple[str, ...] = ()
    name: str = NAME
    data_keys: tuple[str, ...] = DATA_KEYS

    @property
    def is_pair(self) -> bool:
        return len(self.text_columns) == 2

    def load_split(self, data: DataConfig, split: str) -> list[Example]:
        """Rows of the file ``task.data.<split>`` of ``data`` names ('train' or 'dev')."""
        if split not in ("train", "dev"):
            raise BomergeError(f"task '{NAME}': unknown split '{split}' (use train or dev)")
        path = getattr(data, split)
        if path is None:
            raise BomergeError(f"task '{NAME}' reads its {split} rows from task.data.{split}, "
                               "which is not set")
        rows = self.read_file(path)
        if not rows:
            raise BomergeError(f"{path}: the {split} split has no rows")
        return rows

    def read_file(self, path: Path) -> list[Example]:
        """Rows of one file; a missing column or an unknown label names the file and line."""
        if not path.is_file():
            raise BomergeError(f"task '{NAME}': data file not found: {path}")
        index = {name: i for i, name in enumerate(self.classes)}
        csv.field_size_limit(10_000_000)
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t" if path.suffix == ".tsv" else ",")
            header = reader.fieldnames or []
            for column in (*self.text_columns, self.label_column):
                if column not in header:
                    raise BomergeError(f"{path}: missing column '{column}' "
                                       f"(header has: {', '.join(header)})")
            rows = []
            for row in reader:
                where = f"{path}, line {reader.line_num}"
                raw = (row.get(self.label_column) or "").strip()
                if self.classes:
                    if raw not in index:
                        raise BomergeError(f"{where}: label {raw!r} is not one of the labels "
                                           f"{list(self.classes)} (task.data.labels)")
                    label = float(index[raw])
                else:
                    try:
                        label = float(raw)
                    except ValueError:
                        raise BomergeError(f"{where}: label {raw!r} is not a number "
                                           "(task.data.labels: regression)") from None
                texts = [row.get(c) or "" for c in self.text_columns]
                rows.append(Example(texts[0], texts[1] if len(texts) > 1 else None, label))
        return rows


def build_csv_task(config: TaskConfig) -> CsvTask:
    """The task a config's ``task.data`` describes; one-line errors name the missing or
    wrong key."""
    data = config.data
    missing = [key for key in DATA_KEYS if getattr(data, key) is None]
    if missing:
        raise BomergeError(f"task '{NAME}' needs task.data.{missing[0]} (it reads "
                           f"{', '.join(DATA_KEYS)})")
    assert data.text_columns is not None and data.label_column is not None
    assert data.metric is not None and data.train is not None and data.dev is not None
    regression = data.labels == REGRESSION
    classes = () if regression else tuple(str(label) for label in data.labels or ())
    if not regression and len(classes) < 2:
        raise BomergeError(f"task.data.labels: give at least two class names, or 'regression' "
                           f"(got {data.labels!r})")
    if len(set(classes)) != len(classes):
        raise BomergeError(f"task.data.labels: class names repeat ({list(classes)})")
    if data.metric not in METRIC_NAMES:
        raise BomergeError(f"task.data.metric: unknown metric '{data.metric}' (use "
                           f"{', '.join(METRIC_NAMES)})")
    if regression == (data.metric in CLASSIFICATION_METRICS):
        kind = "regression" if regression else "classification"
        raise BomergeError(f"task.data.metric '{data.metric}' does not score {kind} labels")
    if data.metric == "f1" and len(classes) != 2:
        raise BomergeError("task.data.metric 'f1' needs two classes (the second is positive)")
    return CsvTask(text_columns=tuple(data.text_columns), label_column=data.label_column,
                   classes=classes, num_labels=1 if regression else len(classes),
                   metric=METRIC_NAMES[data.metric])


register(NAME, build_csv_task)
