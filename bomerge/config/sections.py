"""The sections of a study config: typed records that forbid unknown keys.

``StudyConfig`` (in ``bomerge.config``) is made of these; each record's docstring and field
descriptions are the reference for its YAML keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, PositiveInt, field_validator, model_validator

from bomerge.config.merging import MergeConfig, StatisticsConfig  # noqa: F401 (re-exported)
from bomerge.config.record import StrictRecord


class DataConfig(StrictRecord):
    """Where a task's rows come from; each task reads its own keys and refuses the others.

    ``root`` is a folder holding one sub-folder per GLUE task (``SST-2/train.tsv``, ...);
    the environment variable ``BOMERGE_DATA_ROOT`` overrides it. When the task's files are
    not there and ``hub`` is true, the rows come from the Hugging Face ``datasets`` hub
    instead and are split the same way as the local files.

    The ``csv`` task (a user's own files) reads ``train`` and ``dev`` (CSV, or TSV by the
    ``.tsv`` suffix, with a header row), ``text_columns`` (one or two column names),
    ``label_column``, ``labels`` (the class names in head order, or ``regression``) and
    ``metric``.
    """

    root: Path | None = Field(
        None,
        description="file-backed tasks: the folder holding <TASK>/train.tsv and dev.tsv; "
        "$BOMERGE_DATA_ROOT overrides; relative to the config file",
    )
    hub: bool = Field(
        True,
        description="GLUE: without local files, load nyu-mll/glue from the datasets hub",
    )
    train: Path | None = Field(
        None,
        description="csv: the training file (CSV, or TSV by its suffix; a header row)",
    )
    dev: Path | None = Field(
        None,
        description="csv: the dev file, split into selection and report rows",
    )
    text_columns: list[str] | None = Field(
        None, min_length=1, max_length=2,
        description="csv: one text column, or two for sentence pairs",
    )
    label_column: str | None = Field(
        None,
        description="csv: the label column",
    )
    labels: list[str | int] | Literal["regression"] | None = Field(
        None,
        description="csv: class names in head order, or 'regression'",
    )
    metric: str | None = Field(
        None,
        description="csv: accuracy | f1 (two classes) | mcc | pearson | spearman",
    )


class EvalConfig(StrictRecord):
    """Which rows score a trial (``selection``) and which rows report the result."""

    split: str = Field(
        "dev",
        description="the split whose rows are cut into selection and report rows",
    )
    selection_fraction: float = Field(
        0.5, gt=0.0, lt=1.0,
        description="the share of the split's rows trials are scored on; the rest are "
        "report rows, scored once at the end",
    )
    max_selection_examples: int | None = Field(
        None, gt=0,
        description="at most this many selection rows (a seeded, stratified sample); null: "
        "all",
    )
    max_report_examples: int | None = Field(
        None, gt=0,
        description="at most this many report rows; null: all",
    )
    batch_size: int = Field(
        64, gt=0,
        description="evaluation batch size (rows are length-sorted into batches)",
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="auto: bf16 autocast on CUDA, float32 elsewhere"
    )


class TaskConfig(StrictRecord):
    """The task trials are scored on. ``tasks`` makes task ``multi`` (cross-task merging):
    its sub-tasks, each a task name (which takes this section's ``max_length`` and
    ``data``) or a task section of its own (a user's ``csv`` task, another data root)."""

    name: str = Field(
        description="a registered task's name (the GLUE tasks, csv for your own files, "
        "multi for a cross-task merge, …: docs/configs.md)",
    )
    max_length: int = Field(
        128, gt=1, le=4096,
        description="tokens per row (longer rows are truncated)",
    )
    data: DataConfig = Field(
        DataConfig(),
        description="where the task's rows are; each task reads its own keys and refuses "
        "the others",
    )
    eval: EvalConfig = Field(
        EvalConfig(),
        description="which rows trials and the report are scored on",
    )
    tasks: list[str | TaskConfig] | None = Field(
        None, min_length=1, description="task multi: the sub-tasks whose candidates are merged "
        "into one encoder (each keeps its own head)"
    )

    @model_validator(mode="before")
    @classmethod
    def _sub_tasks_inherit(cls, data: Any) -> Any:
        """A sub-task section takes each of ``INHERITED`` it does not set from this section,
        when the config is read: the study's stored config then holds every sub-task's own
        values, and reads back the same."""
        if not isinstance(data, dict) or not isinstance(data.get("tasks"), list):
            return data
        inherited = {key: data[key] for key in INHERITED if key in data}
        members = []
        for member in data["tasks"]:
            if isinstance(member, TaskConfig):
                member = member.model_dump(exclude_unset=True)
            members.append({**inherited, **member} if isinstance(member, dict) else member)
        return {**data, "tasks": members}


#: The keys of a ``task`` section that its sub-task sections inherit (task multi).
INHERITED = ("max_length", "data", "eval")


class CandidatesConfig(StrictRecord):
    """The K checkpoints to merge: explicit model folders and/or glob patterns."""

    paths: list[Path] = Field(
        default_factory=list,
        description="Hugging Face model folders (config.json and model.safetensors or "
        "pytorch_model.bin); relative to the config file",
    )
    glob: list[str] = Field(
        default_factory=list,
        description="glob patterns of model folders, e.g. runs/sst2/step-*",
    )
    base: str | None = Field(
        None,
        description="the pretrained model the candidates were fine-tuned from ('minilm' or a "
        "folder); task-vector methods need it. Default: the start point of the study's "
        "own training run, if it has one",
    )
    tasks: list[str] | None = Field(
        None, description="task multi: the task each candidate was fine-tuned on, parallel "
        "to the candidate list (one candidate per task)"
    )
    train_variants: list[str] = Field(
        default_factory=list, validation_alias=AliasChoices("train_variants", "recipes"),
        description="names of the config's train_variants: (variants of its train: section); "
        "each is trained once into candidates/NAME and its kept snapshots are candidates, in "
        "this order (older configs: recipes)"
    )


class EarlyStoppingConfig(StrictRecord):
    """``search.early_stopping``: score a trial's selection rows in chunks and stop the
    hopeless early (Ax progressions; docs/performance.md, "Cheaper trials")."""

    enabled: bool = Field(False, description="ask Ax after each chunk whether to stop")
    rule: Literal["percentile", "dominance"] = Field(
        "dominance", description="dominance: stop a trial dominated by the finished trials' "
        "front at the same rows beyond one standard error, on every objective; percentile: "
        "Ax's percentile rule on the metric (dominance scored fewer rows in every benchmark "
        "setting: README 'Cheaper trials')"
    )
    chunks: int = Field(
        4, ge=1, description="chunks of the study's fixed, label-stratified selection order "
        "a trial is scored in (fixed when the study is created)"
    )
    min_progression: float = Field(
        0.25, description="fraction of the selection rows a trial is scored on before it "
        "may be stopped, in (0, 1]"
    )
    percentile: float = Field(
        50.0, gt=0, lt=100, description="rule percentile: a trial whose running metric is "
        "below this percentile of the other trials' at the same rows is stopped"
    )

    @field_validator("min_progression")
    @classmethod
    def _min_progression_is_a_fraction(cls, value: float) -> float:
        if not 0.0 < value <= 1.0:
            raise ValueError(f"min_progression {value} is a fraction of the selection rows "
                             "in (0, 1]")
        return value


class SearchConfig(StrictRecord):
    strategy: str = Field(
        "gp", description="registered search strategy: gp (Sobol, then qLogNEHVI / qLogNEI), "
        "saas (the same with a SAAS-prior GP), saas_nuts (fully Bayesian SAAS, needs the "
        "botorch[fully_bayesian] extra)"
    )
    trials: int = Field(20, ge=0, description="search trials after the baseline arms")
    initial_trials: int = Field(4, ge=1, description="quasi-random (Sobol) trials first")
    batch_size: PositiveInt | Literal["auto"] = Field(
        1, description="q: trials per generation call, one GP fit and one sequential greedy "
        "acquisition (an int ≥ 1), or 'auto': ⌈generation seconds / evaluation seconds⌉ as "
        "measured, at most 8 (bomerge.search.batching, bomerge.search.batch_generation)")
    overlap: bool = Field(
        False, description="pipeline: generate the next batch while the current one is "
        "evaluated (a worker thread scores the trials)"
    )
    generation_threads: PositiveInt = Field(
        1, description="torch threads of the GP's fit and acquisition optimisation (the "
        "study process's generation calls; evaluation keeps its own): a study's GP holds a "
        "few hundred points at most, where more threads cost more in synchronisation than "
        "they gain (docs/performance.md: generation 2.6-6.6x faster with 1 than with 2 on "
        "2 cores, at 3 to 24 dimensions)")
    baselines: bool = Field(True, description="attach the method's own fixed points as arms")
    warm_start: bool = Field(
        False,
        description="run the baseline suite first and start the search from every baseline "
        "that is a point of the method's space (greedy soup for 'weights')",
    )
    num_restarts: PositiveInt | Literal["auto"] = Field(
        8, description="acquisition-optimiser restarts, or 'auto': min(d, 8) for d searched "
        "dimensions (bomerge.search.strategies.base.optimiser_budget)")
    raw_samples: PositiveInt | Literal["auto"] = Field(
        256, description="raw samples of the restarts' initialisation, or 'auto': "
        "min(32·d, 256), at least 64")
    loss_threshold: float | None = Field(
        None,
        description="the loss objective's threshold (the hypervolume reference point); "
        "null: Ax infers one",
    )
    metric_threshold: float | None = Field(
        None,
        description="the metric objective's threshold (the hypervolume reference point); "
        "null: Ax infers one",
    )
    objectives: Literal["loss_metric", "per_task", "average"] = Field(
        "loss_metric", description="loss_metric: (loss, metric), for a task with several "
        "heads their loss and average metric; average: the same, named for task multi "
        "(mean loss, mean normalised score); per_task: every head's metric (one objective "
        "per head: qLogNEHVI up to 4, search.strategy parego above)"
    )
    floors: dict[str, float] = Field(
        default_factory=dict, description="task multi: {task: fraction} keeps each task's "
        "normalised score (merged / its individual model) at least the fraction (Ax outcome "
        "constraints)"
    )
    pick: Literal["best_metric", "best_loss", "knee", "loss_bound"] = Field(
        "best_metric",
        description="how the pick is chosen on the Pareto front: best metric (MOBO-SWA's "
        "rule), lowest loss, the knee point, or the best metric within pick_loss_bound",
    )
    pick_by: Literal["observed", "model"] = Field(
        "observed", description="apply the pick rule to the observed selection scores, or to "
        "the surrogate's posterior means at the evaluated points (shrinks lucky points)"
    )
    pick_from: Literal["all", "trials"] = Field(
        "all", description="what the pick is chosen among: all = every merge the study "
        "scored on the selection rows (search trials, warm-start arms and every baseline "
        "`bomerge baseline` recorded); trials = the study's Ax trials only"
    )
    pick_loss_bound: float | None = Field(
        None, description="pick: loss_bound takes the best metric among Pareto points "
        "whose loss is at most this"
    )
    max_consecutive_failures: int = Field(
        5, gt=0, description="stop the study after this many failed trials in a row"
    )
    points: list[dict[str, list[float] | float]] = Field(
        default_factory=list,
        description="recipes of your own, evaluated as arms 'point_1', 'point_2', ... before "
        "the search, e.g. {w: [0.5, 0.5, 0, 0]} (weights are normalised to sum to one)",
    )
    early_stopping: EarlyStoppingConfig = Field(
        default_factory=EarlyStoppingConfig,
        description="score trials chunk by chunk and stop the hopeless ones",
    )


    @field_validator("floors")
    @classmethod
    def _floors_are_fractions(cls, value: dict[str, float]) -> dict[str, float]:
        for task, floor in value.items():
            if not 0.0 < floor <= 1.0:
                raise ValueError(f"the floor of task '{task}' is {floor}; a floor is a fraction "
                                 "of the individual model's score in (0, 1]")
        return value
