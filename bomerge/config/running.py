"""Where a study runs and is stored: Ray, the bilevel outer study, the database."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from bomerge.config.record import StrictRecord


class RayConfig(StrictRecord):
    """Where and how ``executor: ray`` runs trials (docs/performance.md, "Parallel trials")."""

    address: str | None = Field(
        None, description="an existing cluster ('auto', 'ray://head:10001'); default: "
        "$RAY_ADDRESS, else a Ray instance started on this machine"
    )
    workers: int | None = Field(
        None, ge=1, description="trial workers (default: one per GPU of the cluster, "
        "else one per CPU)"
    )
    cpus_per_worker: float = Field(
        1.0, gt=0,
        description="CPUs each trial worker reserves",
    )
    gpus_per_worker: float | None = Field(
        None, ge=0, description="default: 1 when the cluster has GPUs and device is not cpu"
    )


OUTER_PARAMETERS = {
    "learning_rate": "float", "batch_size": "int", "weight_decay": "float", "epochs": "int",
    "warmup_ratio": "float", "dropout": "float", "seed": "int",
}


class OuterParameter(StrictRecord):
    """One fine-tuning hyperparameter of the outer search: a range ``[low, high]`` (``log``
    for a log scale, the default for ``learning_rate``) or a list of ``choices``."""

    low: float | None = Field(
        None,
        description="the range's lower end",
    )
    high: float | None = Field(
        None,
        description="the range's upper end",
    )
    log: bool | None = Field(
        None,
        description="search the range on a log scale (learning_rate: true by default)",
    )
    choices: list[float] | None = Field(
        None, min_length=1,
        description="a fixed set of values instead of a range",
    )

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


class OuterConfig(StrictRecord):
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
    strategy: str = Field("gp", description="registered search strategy of the outer study")
    num_restarts: int = Field(
        8, gt=0,
        description="the outer acquisition optimiser's restarts",
    )
    raw_samples: int = Field(
        256, gt=0,
        description="raw samples seeding those restarts",
    )

    @field_validator("space")
    @classmethod
    def _known_parameters(cls, value: dict[str, OuterParameter]) -> dict[str, OuterParameter]:
        unknown = sorted(set(value) - set(OUTER_PARAMETERS))
        if unknown:
            raise ValueError(f"unknown hyperparameter '{unknown[0]}' (known: "
                             f"{', '.join(OUTER_PARAMETERS)})")
        return value


class StorageConfig(StrictRecord):
    url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite in the study")
