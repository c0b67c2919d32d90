"""The GLUE tasks bomerge knows: where their columns are and how they are scored."""

from __future__ import annotations

from dataclasses import dataclass, field

from bomerge.errors import BomergeError


@dataclass(frozen=True)
class TaskSpec:
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

    is_multitask = False

    @property
    def is_regression(self) -> bool:
        return self.num_labels == 1

    @property
    def is_pair(self) -> bool:
        return len(self.local_text_columns) == 2


GLUE_TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            name="sst2", folder="SST-2", num_labels=2, metric="accuracy", extra_metrics=(),
            local_text_columns=("sentence",), local_label_column="label",
            hub_config="sst2", hub_text_columns=("sentence",),
        ),
        TaskSpec(
            name="cola", folder="CoLA", num_labels=2, metric="matthews",
            extra_metrics=("accuracy",), local_text_columns=(3,), local_label_column=1,
            local_header=False, hub_config="cola", hub_text_columns=("sentence",),
        ),
        TaskSpec(
            name="mrpc", folder="MRPC", num_labels=2, metric="accuracy", extra_metrics=("f1",),
            local_text_columns=("#1 String", "#2 String"), local_label_column="Quality",
            hub_config="mrpc", hub_text_columns=("sentence1", "sentence2"),
        ),
        TaskSpec(
            name="rte", folder="RTE", num_labels=2, metric="accuracy", extra_metrics=(),
            local_text_columns=("sentence1", "sentence2"), local_label_column="label",
            label_names={"entailment": 0, "not_entailment": 1},
            hub_config="rte", hub_text_columns=("sentence1", "sentence2"),
        ),
        TaskSpec(
            name="stsb", folder="STS-B", num_labels=1, metric="pearson",
            extra_metrics=("spearman",), local_text_columns=("sentence1", "sentence2"),
            local_label_column="score", hub_config="stsb",
            hub_text_columns=("sentence1", "sentence2"),
        ),
    )
}

_ALIASES = {"sst-2": "sst2", "sst": "sst2", "sts-b": "stsb", "sts": "stsb"}


def get_task(name: str) -> TaskSpec:
    """A GLUE task by name, or the CS224N multitask setting ('cs224n')."""
    key = _ALIASES.get(name.lower(), name.lower())
    if key == "cs224n":
        from bomerge.multitask.data import CS224N

        return CS224N  # type: ignore[return-value]
    if key not in GLUE_TASKS:
        known = ", ".join(sorted([*GLUE_TASKS, "cs224n"]))
        raise BomergeError(f"unknown task '{name}' (known tasks: {known})")
    return GLUE_TASKS[key]
