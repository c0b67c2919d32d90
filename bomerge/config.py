"""Study configuration: a YAML file validated into typed records.

Every record forbids unknown keys, so a typo fails at load time with the key's dotted path
and the file's name instead of being silently ignored. Relative paths in a config are
resolved against the config file's own folder, so a config works from any working directory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bomerge.errors import BomergeError

STUDY_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Strict):
    """Where a task's rows come from.

    ``root`` is a folder holding one sub-folder per GLUE task (``SST-2/train.tsv``, ...);
    the environment variable ``BOMERGE_DATA_ROOT`` overrides it. When the task's files are
    not there and ``hub`` is true, the rows come from the Hugging Face ``datasets`` hub
    instead and are split the same way as the local files.
    """

    root: Path | None = None
    hub: bool = True


class EvalConfig(_Strict):
    """Which rows score a trial (``selection``) and which rows report the result."""

    split: str = "dev"
    selection_fraction: float = Field(0.5, gt=0.0, lt=1.0)
    max_selection_examples: int | None = Field(None, gt=0)
    max_report_examples: int | None = Field(None, gt=0)
    batch_size: int = Field(64, gt=0)
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="auto: bf16 autocast on CUDA, float32 elsewhere"
    )


class TaskConfig(_Strict):
    name: str
    max_length: int = Field(128, gt=1, le=4096)
    data: DataConfig = DataConfig()
    eval: EvalConfig = EvalConfig()


class TinyModelConfig(_Strict):
    """A BertConfig small enough to train in seconds on a CPU; its WordPiece vocabulary is
    trained on the task's training sentences."""

    vocab_size: int = Field(600, ge=50)
    hidden_size: int = Field(32, gt=0)
    num_hidden_layers: int = Field(2, gt=0)
    num_attention_heads: int = Field(2, gt=0)
    intermediate_size: int = Field(64, gt=0)
    max_position_embeddings: int = Field(128, gt=1)


class TrainConfig(_Strict):
    """Fine-tuning that produces candidate checkpoints (the last ``keep_last`` snapshots)."""

    model: str = Field(
        "minilm",
        description="'minilm' (the packaged all-MiniLM-L6-v2), 'tiny', or a model folder",
    )
    tiny: TinyModelConfig = TinyModelConfig()
    max_train_examples: int | None = Field(None, gt=0)
    epochs: int = Field(1, gt=0)
    batch_size: int = Field(32, gt=0)
    learning_rate: float = Field(5e-5, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    schedule: Literal["constant", "linear"] = "constant"
    dropout: float | None = Field(None, ge=0, lt=1)
    save_every: int | Literal["epoch"] = "epoch"
    keep_last: int = Field(4, gt=0)
    seed: int = Field(0, description="seed of the row subset, data order and dropout")
    init_seed: int | None = Field(
        None, description="seed of the fresh head's initialisation (default: seed); give "
        "fine-tunes one init_seed so they share a start point, as model soups require"
    )
    mode: Literal["round_robin", "pcgrad", "single"] | None = Field(
        None, description="multitask tasks only (default round_robin): one task's batch per "
        "step in turn, gradient surgery over one batch of every task, or one task alone"
    )
    tasks: list[str] | None = Field(
        None, description="multitask: the sub-tasks trained (default all; one for 'single')"
    )
    task_weights: list[float] | None = Field(
        None, description="multitask: per-task loss/gradient weights, e.g. [0.5, 1, 1]"
    )


class CandidatesConfig(_Strict):
    """The K checkpoints to merge: explicit model folders and/or glob patterns."""

    paths: list[Path] = Field(default_factory=list)
    glob: list[str] = Field(default_factory=list)
    base: str | None = Field(
        None,
        description="the pretrained model the candidates were fine-tuned from ('minilm' or a "
        "folder); task-vector methods need it. Default: the start point of the study's "
        "own training run, if it has one",
    )


class StatisticsConfig(_Strict):
    """Rows that data-dependent methods (Fisher, RegMean/MaTS, learned masks) compute their
    statistics on: a seeded sample of the task's ``split`` (never the dev rows the search
    scores or the report rows)."""

    split: str = "train"
    examples: int = Field(512, gt=0)
    batch_size: int = Field(16, gt=0)
    seed: int = 0


class MergeConfig(_Strict):
    """The merge method the study searches, its fixed options (checked against the
    method's own option schema) and the simplex encoding of its weights."""

    method: str = "weights"
    options: dict[str, Any] = Field(default_factory=dict)
    encoding: Literal["stick_breaking", "normalized", "constrained"] = "stick_breaking"
    statistics: StatisticsConfig = StatisticsConfig()


class SearchConfig(_Strict):
    trials: int = Field(20, ge=0, description="search trials after the baseline arms")
    initial_trials: int = Field(4, ge=1, description="quasi-random (Sobol) trials first")
    batch_size: int = Field(1, ge=1, description="q: trials generated per GP fit")
    overlap: bool = Field(
        False, description="generate the next trial while the current one is evaluated"
    )
    baselines: bool = Field(True, description="attach the method's own fixed points as arms")
    warm_start: bool = Field(
        False,
        description="run the baseline suite first and start the search from every baseline "
        "that is a point of the method's space (greedy soup for 'weights')",
    )
    num_restarts: int = Field(8, gt=0)
    raw_samples: int = Field(256, gt=0)
    loss_threshold: float | None = None
    metric_threshold: float | None = None
    objectives: Literal["loss_metric", "per_task"] = Field(
        "loss_metric", description="loss_metric: (loss, metric), for a multitask task the "
        "summed loss and the average metric; per_task: every sub-task's metric (qLogNEHVI "
        "over three objectives)"
    )
    pick: Literal["best_metric", "best_loss", "knee", "loss_bound"] = Field(
        "best_metric",
        description="how the pick is chosen on the Pareto front: best metric (MOBO-SWA's "
        "rule), lowest loss, the knee point, or the best metric within pick_loss_bound",
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


class RayConfig(_Strict):
    """Where and how ``executor: ray`` runs trials (see the README's "Parallel trials")."""

    address: str | None = Field(
        None, description="an existing cluster ('auto', 'ray://head:10001'); default: "
        "$RAY_ADDRESS, else a Ray instance started on this machine"
    )
    workers: int | None = Field(
        None, ge=1, description="trial workers (default: one per GPU of the cluster, "
        "else one per CPU)"
    )
    cpus_per_worker: float = Field(1.0, gt=0)
    gpus_per_worker: float | None = Field(
        None, ge=0, description="default: 1 when the cluster has GPUs and device is not cpu"
    )


OUTER_PARAMETERS = {
    "learning_rate": "float", "batch_size": "int", "weight_decay": "float", "epochs": "int",
    "warmup_ratio": "float", "dropout": "float", "seed": "int",
}


class OuterParameter(_Strict):
    """One fine-tuning hyperparameter of the outer search: a range ``[low, high]`` (``log``
    for a log scale, the default for ``learning_rate``) or a list of ``choices``."""

    low: float | None = None
    high: float | None = None
    log: bool | None = None
    choices: list[float] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _range_or_choices(self) -> OuterParameter:
        if self.choices is not None:
            if self.low is not None or self.high is not None:
                raise ValueError("give either low/high or choices, not both")
            return self
        if self.low is None or self.high is None:
            raise ValueError("needs low and high (or choices)")
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("a log scale needs low > 0")
        return self


class OuterConfig(_Strict):
    """Bilevel-BO-SWA (Jang et al. 2024): an outer Ax study over the fine-tuning
    hyperparameters of ``train:``. Each outer trial fine-tunes with its values, keeps the
    last ``train.keep_last`` snapshots, runs a whole inner study (``merge:``/``search:``)
    over them and reports the inner pick's selection scores."""

    trials: int = Field(8, ge=1, description="outer trials (fine-tuning runs)")
    initial_trials: int = Field(4, ge=1, description="Sobol outer trials before BO")
    objective: Literal["metric", "loss_metric"] = Field(
        "metric", description="metric: the inner pick's selection metric (qLogNEI); "
        "loss_metric: its loss and metric (qLogNEHVI)"
    )
    space: dict[str, OuterParameter] = Field(
        ..., min_length=1, description="hyperparameters searched; the others keep train: values"
    )
    num_restarts: int = Field(8, gt=0)
    raw_samples: int = Field(256, gt=0)

    @field_validator("space")
    @classmethod
    def _known_parameters(cls, value: dict[str, OuterParameter]) -> dict[str, OuterParameter]:
        unknown = sorted(set(value) - set(OUTER_PARAMETERS))
        if unknown:
            raise ValueError(f"unknown hyperparameter '{unknown[0]}' (known: "
                             f"{', '.join(OUTER_PARAMETERS)})")
        return value


class StorageConfig(_Strict):
    url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite in the study")


class StudyConfig(_Strict):
    """A whole study; ``baselines`` lists what ``bomerge baseline`` runs (default: all)."""

    name: str
    studies_dir: Path = Path("studies")
    seed: int = 0
    device: str = "auto"
    task: TaskConfig
    train: TrainConfig | None = None
    candidates: CandidatesConfig = CandidatesConfig()
    merge: MergeConfig = MergeConfig()
    search: SearchConfig = SearchConfig()
    storage: StorageConfig = StorageConfig()
    executor: Literal["local", "ray"] = Field(
        "local", description="where search trials run: in this process, or as Ray actors"
    )
    ray: RayConfig = RayConfig()
    outer: OuterConfig | None = None
    baselines: list[str] | None = None

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not STUDY_NAME_PATTERN.match(value):
            raise ValueError(
                "must start with a letter or digit and use only letters, digits, '_', '-', '.'"
            )
        return value

    @field_validator("device")
    @classmethod
    def _valid_device(cls, value: str) -> str:
        if value != "auto" and not re.match(r"^(cpu|cuda(:\d+)?|mps)$", value):
            raise ValueError("must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> StudyConfig:
        multitask = self.task.name.lower() == "cs224n"
        if self.train is not None and not multitask:
            for key in ("mode", "tasks", "task_weights"):
                if getattr(self.train, key) is not None:
                    raise ValueError(f"train.{key} applies to the multitask task cs224n only "
                                     f"(task is '{self.task.name}')")
        if self.search.objectives == "per_task" and not multitask:
            raise ValueError("search.objectives 'per_task' needs a multitask task (cs224n)")
        if self.outer is not None and self.train is None:
            raise ValueError("outer: (bilevel search) needs a train: section to fine-tune with")
        if self.search.pick == "loss_bound" and self.search.pick_loss_bound is None:
            raise ValueError("search.pick 'loss_bound' needs search.pick_loss_bound")
        return self

    @property
    def study_dir(self) -> Path:
        return self.studies_dir / self.name


def _format_validation_error(error: ValidationError, source: str) -> str:
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "<top level>"
        if item["type"] == "extra_forbidden":
            problems.append(f"unknown key '{key}'")
        elif item["type"] == "missing":
            problems.append(f"missing key '{key}'")
        elif not item["loc"]:
            problems.append(item["msg"].removeprefix("Value error, "))
        else:
            problems.append(f"key '{key}': {item['msg']} (got {item.get('input')!r})")
    return f"{source}: " + "; ".join(problems)


def _resolve_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make the config's relative paths relative to the config file's folder."""

    def resolve(value: Any) -> Any:
        if isinstance(value, str) and value and not os.path.isabs(value):
            return str(base / value)
        return value

    task = raw.get("task")
    if isinstance(task, dict) and isinstance(task.get("data"), dict):
        if "root" in task["data"]:
            task["data"]["root"] = resolve(task["data"]["root"])
    cands = raw.get("candidates")
    if isinstance(cands, dict):
        if isinstance(cands.get("paths"), list):
            cands["paths"] = [resolve(p) for p in cands["paths"]]
        if isinstance(cands.get("glob"), list):
            cands["glob"] = [resolve(p) for p in cands["glob"]]
        if isinstance(cands.get("base"), str) and cands["base"] != "minilm":
            cands["base"] = resolve(cands["base"])
    train = raw.get("train")
    if isinstance(train, dict) and isinstance(train.get("model"), str):
        if train["model"] not in ("minilm", "tiny"):
            train["model"] = resolve(train["model"])
    return raw


def parse_config(raw: Any, source: str, base_dir: Path) -> StudyConfig:
    """Validate an already-parsed YAML document; ``source`` names it in errors."""
    if not isinstance(raw, dict):
        raise BomergeError(f"{source}: expected a mapping of keys at the top level")
    try:
        config = StudyConfig.model_validate(_resolve_paths(dict(raw), base_dir))
    except ValidationError as error:
        raise BomergeError(_format_validation_error(error, source)) from None
    from bomerge.merge import build_method, check_baseline_names

    try:
        build_method(config.merge.method, config.merge.options)
        if config.baselines is not None:
            check_baseline_names(config.baselines)
    except BomergeError as error:
        raise BomergeError(f"{source}: {error}") from None
    return config


def load_config(path: str | Path) -> StudyConfig:
    """Read and validate a study config file.

    Raises:
        BomergeError: the file is missing, is not valid YAML (with line and column), or a
            key is unknown, missing or of the wrong type (with its dotted path).
    """
    path = Path(path)
    if not path.is_file():
        raise BomergeError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise BomergeError(f"{path}: invalid YAML{where}: {problem}") from None
    return parse_config(raw, str(path), path.resolve().parent)


def dump_config(config: StudyConfig) -> str:
    """The config as YAML with absolute paths, for the study's snapshot."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
