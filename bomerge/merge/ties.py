"""TIES-merging (Yadav et al., NeurIPS 2023, "TIES-Merging: Resolving Interference When
Merging Models").

With task vectors τ_i = θ_i − θ_0 (``(K, P)``):
1. Trim: keep each τ_i's top-``density`` fraction of entries by magnitude, zero the rest.
2. Elect: per entry, the sign of Σ_i trimmed τ_i (the sign with the larger total mass).
3. Disjoint merge: average only the trimmed entries whose sign agrees with the elected one.
θ = θ_0 + λ · merged. The paper's defaults: density 0.2, λ = 1. BO tunes both.

Entries the base does not supply (a new head) are plainly averaged. The work is done in
chunks of P so temporaries stay at (K, chunk).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from pydantic import Field

from bomerge.errors import BomergeError
from bomerge.merge.base import (
    MergeMethod,
    Options,
    PrepareContext,
    Scalar,
    Values,
    Variable,
    chunks,
    chunks_of,
    register,
)
from bomerge.merge.groups import ParameterGroups
from bomerge.merge.task_arithmetic import TaskVectorState


class TiesOptions(Options):
    density: float = Field(0.2, gt=0, le=1, description="fraction of each τ_i kept")
    scale: float = Field(1.0, gt=0, description="λ")


def top_fraction_thresholds(scores: torch.Tensor, fraction: float) -> torch.Tensor:
    """``(K,)`` thresholds t_i such that ``scores[i] >= t_i`` keeps the largest
    ``ceil(fraction · n)`` entries of row i of the ``(K, n)`` scores."""
    n = scores.shape[1]
    keep = min(n, max(1, math.ceil(fraction * n)))
    return torch.stack([torch.kthvalue(row, n - keep + 1).values for row in scores])


def ties_merge_vectors(task_vectors: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """Trim, elect and disjoint-merge ``(K, n)`` task vectors with per-candidate magnitude
    thresholds ``(K,)``; returns the ``(n,)`` merged task vector (before λ)."""
    trimmed = torch.where(task_vectors.abs() >= thresholds[:, None], task_vectors, 0.0)
    elected = torch.sign(trimmed.sum(dim=0))
    agree = (torch.sign(trimmed) == elected) & (trimmed != 0)
    total = torch.where(agree, trimmed, 0.0).sum(dim=0)
    count = agree.sum(dim=0).clamp_min(1)
    return total / count


@register
class Ties(MergeMethod):
    name = "ties"
    paper = "Yadav et al. 2023, TIES-Merging: Resolving Interference When Merging Models"
    year = 2023
    needs_base = True
    Options = TiesOptions
    options: TiesOptions

    def variables(self, k: int) -> list[Variable]:
        return [Scalar("density", 0.01, 1.0, log=True), Scalar("lambda", 0.1, 2.0)]

    def defaults(self, k: int) -> dict[str, np.ndarray | float]:
        return {"density": self.options.density, "lambda": self.options.scale}

    def prepare(self, context: PrepareContext) -> TaskVectorState:
        return TaskVectorState.from_context(context, self.name)

    def grouped_variables(self, k: int) -> frozenset[str]:
        return frozenset({"lambda"})  # the density stays global: trimming ranks all entries

    def combine(self, state: TaskVectorState, values: Values, out: torch.Tensor) -> torch.Tensor:
        threshold = self._thresholds(state, float(values["density"]))
        for part in chunks(state.pool.num_values):
            self._write(state, threshold, float(values["lambda"]), out, part)
        return out

    def combine_groups(self, state: TaskVectorState, values: Sequence[Values],
                       groups: ParameterGroups, out: torch.Tensor) -> torch.Tensor:
        """One trim over the whole model (the global density), then each group's slices
        scaled by its own λ."""
        threshold = self._thresholds(state, float(values[0]["density"]))
        for group_values, ranges in zip(values, groups.ranges, strict=True):
            for run in ranges:
                for part in chunks_of(run, 1 << 22):
                    self._write(state, threshold, float(group_values["lambda"]), out, part)
        return out

    @staticmethod
    def _thresholds(state: TaskVectorState, density: float) -> torch.Tensor:
        """``(K,)`` per-candidate magnitude thresholds keeping the top ``density`` of |τ_i|."""
        if not 0 < density <= 1:
            raise BomergeError(f"TIES density {density} is not in (0, 1]")
        stacked, base, known = state.pool.stacked, state.base, state.known
        magnitudes = torch.empty_like(base)  # the base's dtype: float32 for a half pool
        thresholds = []
        for i in range(state.pool.k):
            # |τ_i| over the entries the base supplies; the rest never count towards top-k.
            torch.sub(stacked[i], base, out=magnitudes).abs_()
            thresholds.append(top_fraction_thresholds(magnitudes[known][None], density)[0])
        return torch.stack(thresholds)

    @staticmethod
    def _write(state: TaskVectorState, threshold: torch.Tensor, lam: float, out: torch.Tensor,
               part: slice) -> None:
        stacked, base, known = state.pool.stacked, state.base, state.known
        vectors = stacked[:, part] - base[part]  # promotes a half pool's rows to the base's
        merged = ties_merge_vectors(vectors, threshold)
        average = stacked[:, part].mean(0, dtype=out.dtype)
        out[part] = torch.where(known[part], base[part] + lam * merged, average)
