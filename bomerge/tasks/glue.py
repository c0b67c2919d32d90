"""The GLUE tasks: where their rows are and how they are scored.

Local files follow the GLUE distribution: ``<root>/<TASK>/train.tsv`` and ``dev.tsv``, raw
tab-separated text with no quoting. The ``dev.tsv`` shipped with bomerge's shared data is a
deterministic slice of the official training set (the official dev set is held out as a final
test set). When the files are absent and the hub is allowed, the official training split is
downloaded and cut with the same rule (``glue_dev_rows``), so a user with a network gets the
same train/dev rows without editing the config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bomerge.config import DataConfig, TaskConfig
from bomerge.errors import BomergeError
from bomerge.tasks.base import DATA_ROOT_ENV, Example, data_root, hashed
from bomerge.tasks.classifier import SequenceClassificationTask
from bomerge.tasks.registry import register


@dataclass(frozen=True, eq=False, kw_only=True)
class GlueTask(SequenceClassificationTask):
    """One GLUE task.

    ``local_*`` describe the raw TSV files of the GLUE distribution (a header row unless
    ``local_header`` is false, in which case columns are addressed by position);
    ``hub_*`` describe the same task in the ``nyu-mll/glue`` dataset of the datasets hub.
    ``num_labels == 1`` means regression (MSE loss, float labels).
    """

    name: str
    folder: str
    num_labels: int
    metric: str
    extra_metrics: tuple[str, ...]
    local_text_columns: tuple[str | int, ...]
    local_label_column: str | int
    hub_config: str
    hub_text_columns: tuple[str, ...]
    local_header: bool = True
    label_names: dict[str, int] = field(default_factory=dict)
    hub_path: str = "nyu-mll/glue"

    @property
    def is_pair(self) -> bool:
        return len(self.local_text_columns) == 2

    def load_split(self, data: DataConfig, split: str) -> list[Example]:
        """Rows of ``split`` ('train' or 'dev') from the local root, else from the hub.

        Raises:
            BomergeError: the split is unknown, the local file is malformed (naming file,
                line, column or value), the split is empty, or no source is available.
        """
        if split not in ("train", "dev"):
            raise BomergeError(f"task '{self.name}': unknown split '{split}' (use train or dev)")
        root = data_root(data)
        path = root / self.folder / f"{split}.tsv" if root is not None else None
        if path is not None and path.is_file():
            examples = self.read_file(path)
            source = str(path)
        elif data.hub:
            examples = self._read_hub(split, path)
            source = f"{self.hub_path}/{self.hub_config} ({split})"
        else:
            raise BomergeError(
                f"task '{self.name}': data file not found: {path} (set task.data.root or "
                f"{DATA_ROOT_ENV}, or allow task.data.hub)"
            )
        if not examples:
            raise BomergeError(f"{source}: the {split} split has no rows")
        return examples

    def read_file(self, path: Path) -> list[Example]:
        """Rows of one GLUE TSV file (split on tabs, never unquoted: SST-2 and RTE hold ``"``)."""
        lines = path.read_text(encoding="utf-8-sig").splitlines()
        if self.local_header:
            if not lines:
                raise BomergeError(f"{path}: empty file, expected a header row")
            header = lines[0].split("\t")
            columns: list[int] = []
            for name in (*self.local_text_columns, self.local_label_column):
                if name not in header:
                    raise BomergeError(
                        f"{path}: missing column '{name}' (header has: {', '.join(header)})"
                    )
                columns.append(header.index(name))
            body = enumerate(lines[1:], start=2)
        else:
            columns = [int(c) for c in (*self.local_text_columns, self.local_label_column)]
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
            label = self._parse_label(cells[columns[-1]], f"{path}, line {line_number}")
            examples.append(Example(texts[0], texts[1] if len(texts) > 1 else None, label))
        return examples

    def _parse_label(self, raw: str, where: str) -> float:
        value = raw.strip()
        if value in self.label_names:
            return float(self.label_names[value])
        try:
            label = float(value)
        except ValueError:
            raise BomergeError(f"{where}: label {value!r} is not numeric") from None
        if not self.is_regression and (label != int(label) or not 0 <= label < self.num_labels):
            raise BomergeError(
                f"{where}: label {value!r} is not a class index in 0..{self.num_labels - 1}"
            )
        return label

    def _read_hub(self, split: str, looked_in: Path | None) -> list[Example]:
        """The official training split from the hub, cut into bomerge's train/dev rows;
        ``looked_in`` is the local file that was not there (named if the hub fails too)."""
        try:
            import datasets

            rows = datasets.load_dataset(self.hub_path, self.hub_config, split="train")
        except Exception as error:  # noqa: BLE001 - any hub failure means "not available"
            where = (f"data file not found: {looked_in}" if looked_in is not None
                     else f"no task.data.root (nor {DATA_ROOT_ENV}) is set")
            raise BomergeError(
                f"task '{self.name}': {where}, and the datasets hub failed "
                f"({self.hub_path}/{self.hub_config}): {type(error).__name__}: {error}"
            ) from None
        dev_rows = glue_dev_rows(self.folder, len(rows))
        keep = (lambda i: i in dev_rows) if split == "dev" else (lambda i: i not in dev_rows)
        examples = []
        for i, row in enumerate(rows):
            if keep(i):
                texts = [row[c] for c in self.hub_text_columns]
                examples.append(
                    Example(texts[0], texts[1] if len(texts) > 1 else None, float(row["label"]))
                )
        return examples


def glue_dev_rows(task_folder: str, n_rows: int) -> set[int]:
    """Indices of the official training rows that form bomerge's dev slice.

    The k = min(2000, round(0.1 n)) rows with the smallest
    sha256("bomerge-glue-split-v1:<TASK>:<i>") hex digests, as documented in the shared
    data's PROVENANCE.md.
    """
    k = min(2000, round(0.10 * n_rows))
    order = sorted(range(n_rows), key=lambda i: hashed(f"bomerge-glue-split-v1:{task_folder}", i))
    return set(order[:k])


GLUE_TASKS: dict[str, GlueTask] = {
    task.name: task
    for task in (
        GlueTask(
            name="sst2", folder="SST-2", num_labels=2, metric="accuracy", extra_metrics=(),
            local_text_columns=("sentence",), local_label_column="label",
            hub_config="sst2", hub_text_columns=("sentence",),
        ),
        GlueTask(
            name="cola", folder="CoLA", num_labels=2, metric="matthews",
            extra_metrics=("accuracy",), local_text_columns=(3,), local_label_column=1,
            local_header=False, hub_config="cola", hub_text_columns=("sentence",),
        ),
        GlueTask(
            name="mrpc", folder="MRPC", num_labels=2, metric="accuracy", extra_metrics=("f1",),
            local_text_columns=("#1 String", "#2 String"), local_label_column="Quality",
            hub_config="mrpc", hub_text_columns=("sentence1", "sentence2"),
        ),
        GlueTask(
            name="rte", folder="RTE", num_labels=2, metric="accuracy", extra_metrics=(),
            local_text_columns=("sentence1", "sentence2"), local_label_column="label",
            label_names={"entailment": 0, "not_entailment": 1},
            hub_config="rte", hub_text_columns=("sentence1", "sentence2"),
        ),
        GlueTask(
            name="stsb", folder="STS-B", num_labels=1, metric="pearson",
            extra_metrics=("spearman",), local_text_columns=("sentence1", "sentence2"),
            local_label_column="score", hub_config="stsb",
            hub_text_columns=("sentence1", "sentence2"),
        ),
    )
}

_ALIASES = {"sst2": ("sst-2", "sst"), "stsb": ("sts-b", "sts")}


def _glue_factory(task: GlueTask):  # noqa: ANN202 - a closure per task
    def build(config: TaskConfig) -> GlueTask:
        return task

    return build


for _task in GLUE_TASKS.values():
    register(_task.name, _glue_factory(_task), aliases=_ALIASES.get(_task.name, ()))
