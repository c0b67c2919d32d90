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
    register,
)
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

    def combine(self, state: TaskVectorState, values: Values, out: torch.Tensor) -> torch.Tensor:
        density, lam = float(values["density"]), float(values["lambda"])
        if not 0 < density <= 1:
            raise BomergeError(f"TIES density {density} is not in (0, 1]")
        stacked, base, known = state.pool.stacked, state.base, state.known
        magnitudes = torch.empty_like(stacked[0])
        thresholds = []
        for i in range(state.pool.k):
            # |τ_i| over the entries the base supplies; the rest never count towards top-k.
            torch.sub(stacked[i], base, out=magnitudes).abs_()
            thresholds.append(top_fraction_thresholds(magnitudes[known][None], density)[0])
        threshold = torch.stack(thresholds)
        for part in chunks(stacked.shape[1]):
            vectors = stacked[:, part] - base[part]
            merged = ties_merge_vectors(vectors, threshold)
            out[part] = torch.where(known[part], base[part] + lam * merged, stacked[:, part].mean(0))
        return out
