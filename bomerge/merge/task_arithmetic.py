"""Task arithmetic (Ilharco et al., ICLR 2023, "Editing Models with Task Arithmetic").

θ = θ_0 + λ Σ_i τ_i with task vectors τ_i = θ_i − θ_0; λ = 0.3 is the usual default. With
``per_candidate``, θ = θ_0 + Σ_i λ_i τ_i and BO tunes every λ_i. Since
θ_0 + Σ λ_i (θ_i − θ_0) = Σ λ_i θ_i + (1 − Σ λ_i) θ_0, a trial is one weighted sum over the
stacked candidates plus one scaled add of the base: no task vectors are stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from pydantic import Field

from bomerge.merge.base import (
    MergeMethod,
    Options,
    PrepareContext,
    Scalar,
    Values,
    Variable,
    register,
)
from bomerge.merge.groups import ParameterGroups
from bomerge.merge.weights import weighted_sum
from bomerge.pool import CandidatePool


class TaskArithmeticOptions(Options):
    scale: float = Field(0.3, ge=0, description="λ of the fixed recipe")
    max_scale: float = Field(1.0, gt=0, description="upper end of λ's search range")
    per_candidate: bool = Field(False, description="one λ_i per candidate instead of one λ")


@dataclass
class TaskVectorState:
    """The candidates, the base θ_0 ``(P,)`` and where the base is known ``(P,)`` bool."""

    pool: CandidatePool
    base: torch.Tensor
    known: torch.Tensor

    @classmethod
    def from_context(cls, context: PrepareContext, method: str) -> TaskVectorState:
        base = context.require_base(method)
        known = context.base_known
        if known is None:
            known = torch.ones_like(base, dtype=torch.bool)
        return cls(context.pool, base, known)


@register
class TaskArithmetic(MergeMethod):
    name = "task_arithmetic"
    paper = "Ilharco et al. 2023, Editing Models with Task Arithmetic"
    year = 2023
    needs_base = True
    Options = TaskArithmeticOptions
    options: TaskArithmeticOptions

    def variables(self, k: int) -> list[Variable]:
        top = self.options.max_scale
        if self.options.per_candidate:
            return [Scalar(f"lambda_{i}", 0.0, top) for i in range(k)]
        return [Scalar("lambda", 0.0, top)]

    def defaults(self, k: int) -> dict[str, np.ndarray | float]:
        scale = min(self.options.scale, self.options.max_scale)
        if self.options.per_candidate:
            return {f"lambda_{i}": scale for i in range(k)}
        return {"lambda": scale}

    def prepare(self, context: PrepareContext) -> TaskVectorState:
        return TaskVectorState.from_context(context, self.name)

    def scales(self, values: Values, k: int) -> np.ndarray:
        if self.options.per_candidate:
            return np.array([float(values[f"lambda_{i}"]) for i in range(k)])
        return np.full(k, float(values["lambda"]))

    def grouped_variables(self, k: int) -> frozenset[str]:
        if self.options.per_candidate:
            return frozenset(f"lambda_{i}" for i in range(k))
        return frozenset({"lambda"})

    def combine(self, state: TaskVectorState, values: Values, out: torch.Tensor) -> torch.Tensor:
        lam = self.scales(values, state.pool.k)
        weighted_sum(state.pool.stacked, lam, out)
        return out.add_(state.base, alpha=1.0 - float(lam.sum()))

    def combine_groups(self, state: TaskVectorState, values: Sequence[Values],
                       groups: ParameterGroups, out: torch.Tensor) -> torch.Tensor:
        """Each group's slices with its own scale(s), in one streamed pass."""
        for group_values, ranges in zip(values, groups.ranges, strict=True):
            lam = self.scales(group_values, state.pool.k)
            for run in ranges:
                weighted_sum(state.pool.stacked[:, run], lam, out[run])
                out[run].add_(state.base[run], alpha=1.0 - float(lam.sum()))
        return out
