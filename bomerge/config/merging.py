"""The ``merge:`` section: the method (or methods) a study searches, their options, the
simplex encoding, the granularity and the statistics rows."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from bomerge.config.record import StrictRecord


class StatisticsConfig(StrictRecord):
    """Rows that data-dependent methods (Fisher, RegMean/MaTS, learned masks) compute their
    statistics on: a seeded sample of the task's ``split`` (never the dev rows the search
    scores or the report rows)."""

    split: str = Field(
        "train",
        description="the split statistics rows are drawn from; never the one trials are "
        "scored on",
    )
    examples: int = Field(
        512, gt=0,
        description="statistics rows (per task in a cross-task study)",
    )
    batch_size: int = Field(
        16, gt=0,
        description="batch size of the statistics passes",
    )
    seed: int = Field(
        0,
        description="seed of the statistics rows' sample",
    )


class MergeConfig(StrictRecord):
    """The merge method the study searches, its fixed options (checked against the
    method's own option schema) and the simplex encoding of its weights."""

    method: str | list[str] = Field(
        "weights", description="the merge method, or a list of methods: the search then "
        "chooses the method per trial, with each method's own variables"
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="the method's fixed settings; with a list of "
        "methods, a section per method ({ties: {density: 0.2}})"
    )
    encoding: Literal["stick_breaking", "normalized", "constrained"] = Field(
        "stick_breaking",
        description="how a simplex of weights is searched: stick_breaking (K−1 box "
        "variables, every point valid) | normalized (K variables divided by "
        "their sum) | constrained (K−1 with Σ ≤ 1)",
    )
    granularity: Literal["model", "block", "layer"] = Field(
        "model", description="model: one set of coefficients; block: one per group (the "
        "embeddings, each of merge.blocks contiguous runs of encoder layers, the head); "
        "layer: one group per encoder layer"
    )
    blocks: int | None = Field(
        None, description="granularity block: how many contiguous blocks the encoder layers "
        "are cut into (1 ≤ blocks ≤ layers)"
    )
    pool_dtype: Literal["float32", "bfloat16", "float16"] = Field(
        "float32", description="the type the K candidates are stored in on the device: "
        "bfloat16 or float16 halve the pool's memory (each weight rounded once); every merge "
        "still accumulates and writes the merged model in float32"
    )
    statistics: StatisticsConfig = Field(
        StatisticsConfig(),
        description="the rows Fisher, RegMean, MaTS and learned masks are computed on",
    )

    @property
    def methods(self) -> list[str]:
        """The method names, one or several."""
        return [self.method] if isinstance(self.method, str) else list(self.method)

    def options_for(self, name: str) -> dict[str, Any]:
        """The options of method ``name`` (the section of that name for a list)."""
        if isinstance(self.method, str):
            return self.options
        return dict(self.options.get(name) or {})

    @model_validator(mode="after")
    def _options_per_listed_method(self) -> MergeConfig:
        if isinstance(self.method, str):
            return self
        if not self.method:
            raise ValueError("merge.method: an empty list (name one method or several)")
        if len(self.method) > 1 and self.encoding == "constrained":
            raise ValueError("merge.encoding 'constrained' cannot be used with a list of "
                             "methods (Ax's hierarchical search space takes no parameter "
                             "constraints): use stick_breaking or normalized")
        repeated = sorted({n for n in self.method if self.method.count(n) > 1})
        if repeated:
            raise ValueError(f"merge.method lists '{repeated[0]}' twice")
        for name, section in self.options.items():
            if name not in self.method:
                raise ValueError(f"merge.options.{name}: '{name}' is not in merge.method "
                                 f"(with a list of methods, options are a section per method)")
            if not isinstance(section, dict):
                raise ValueError(f"merge.options.{name}: expected the options of method "
                                 f"'{name}' as a section, got {section!r}")
        return self

    @model_validator(mode="after")
    def _blocks_with_block_granularity(self) -> MergeConfig:
        if self.blocks is not None and self.granularity != "block":
            raise ValueError(f"merge.blocks applies to merge.granularity 'block' (granularity "
                             f"is '{self.granularity}')")
        if self.granularity == "block" and self.blocks is None:
            raise ValueError("merge.granularity 'block' needs merge.blocks (the number of "
                             "contiguous blocks the encoder layers are cut into)")
        if self.blocks is not None and self.blocks < 1:
            raise ValueError(f"merge.blocks must be at least 1 (got {self.blocks})")
        return self
