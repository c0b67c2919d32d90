"""Fisher-weighted averaging (Matena & Raffel, NeurIPS 2022, "Merging Models with
Fisher-Weighted Averaging").

Per parameter entry: θ* = Σ_i λ_i F_i θ_i / Σ_i λ_i F_i, with F_i the diagonal Fisher of
candidate i (``statistics.fisher_diagonal``) and λ on the simplex (the BO variables; uniform
λ is the paper's recipe). A floor ε is added to every F_i, so entries where all F_i vanish
fall back to the λ-weighted average instead of 0/0, and λ = e_i gives candidate i exactly.

Prepare stores F' = F + ε and F' ⊙ θ as ``(K, P)`` tensors; a trial is then two weighted
sums over them and one division, streamed chunk by chunk: memory-bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from bomerge.merge.base import (
    MergeMethod,
    Options,
    PrepareContext,
    Scalar,
    Simplex,
    Values,
    Variable,
    chunks,
    chunks_of,
    register,
    simplex_weights,
    uniform,
)
from bomerge.merge.cache import cached, row_signature
from bomerge.merge.groups import ParameterGroups
from bomerge.merge.statistics import StatisticsSource, fisher_diagonal
from bomerge.merge.weights import accumulate, chunk_values
from bomerge.pool import CandidatePool
from bomerge.tasks.base import FISHER


class FisherOptions(Options):
    estimator: Literal["exact", "sampled", "empirical"] = Field(
        "exact", description="expectation over classes: exact, sampled labels, or true labels"
    )
    samples: int = Field(4, gt=0, description="label draws per row for 'sampled'")
    sigma: float = Field(1.0, gt=0, description="std of the Gaussian of a regression head")
    floor: float = Field(1e-8, gt=0, description="ε added to every F_i")
    search_floor: bool = Field(False, description="let BO tune ε on [1e-10, 1e-4] (log)")


@dataclass
class FisherState:
    """``fisher``: F + ε, ``(K, P)``; ``weighted``: (F + ε) ⊙ θ, ``(K, P)``; ``scratch``:
    ``(min(chunk_values(device), P),)`` storage for one chunk's denominator."""

    pool: CandidatePool
    fisher: torch.Tensor
    weighted: torch.Tensor
    floor: float
    scratch: torch.Tensor


def fisher_merge(
    stacked: torch.Tensor, fisher: torch.Tensor, weights: np.ndarray, floor: float = 0.0
) -> torch.Tensor:
    """Reference formula on small tensors: Σ λ_i (F_i+ε) θ_i / Σ λ_i (F_i+ε)."""
    lam = torch.as_tensor(weights, dtype=stacked.dtype).reshape(-1, *([1] * (stacked.dim() - 1)))
    f = fisher + floor
    return (lam * f * stacked).sum(0) / (lam * f).sum(0)


@register
class FisherMerge(MergeMethod):
    name = "fisher"
    paper = "Matena & Raffel 2022, Merging Models with Fisher-Weighted Averaging"
    year = 2022
    statistics = frozenset({FISHER})
    Options = FisherOptions
    options: FisherOptions

    def variables(self, k: int) -> list[Variable]:
        variables: list[Variable] = [Simplex("lambda", k)]
        if self.options.search_floor:
            variables.append(Scalar("floor", 1e-10, 1e-4, log=True))
        return variables

    def defaults(self, k: int) -> dict[str, np.ndarray | float]:
        values: dict[str, np.ndarray | float] = {"lambda": uniform(k)}
        if self.options.search_floor:
            values["floor"] = min(max(self.options.floor, 1e-10), 1e-4)
        return values

    def prepare(self, context: PrepareContext) -> FisherState:
        pool, source, opts = context.pool, context.require_statistics(self.name), self.options
        rows = []
        for i in range(pool.k):
            own = source.for_candidate(i)  # a cross-task candidate: its own task's rows
            key = {
                "candidate": row_signature(pool, i), "rows": own.fingerprint,
                "estimator": opts.estimator, "samples": opts.samples, "sigma": opts.sigma,
            }

            def compute(i: int = i, own: StatisticsSource = own) -> dict[str, torch.Tensor]:
                params = pool.unflatten(pool.row(i))
                diagonal = fisher_diagonal(own, params, opts.estimator, opts.samples, opts.sigma)
                return {"fisher": pool.flatten(diagonal)}

            rows.append(cached(context.cache, "fisher", key, compute)["fisher"].to(pool.device))
        return self.state_from_fisher(pool, torch.stack(rows))

    def state_from_fisher(self, pool: CandidatePool, fisher: torch.Tensor) -> FisherState:
        """The combine state from ``(K, P)`` diagonal Fishers in the pool's layout, kept in
        the pool's ``compute_dtype`` (a Fisher can be far below float16's range, and the
        ratio of two half-precision sums would lose what the float32 pool keeps)."""
        # With a searched ε the floor is applied per trial instead.
        floor = 0.0 if self.options.search_floor else self.options.floor
        fisher = fisher.to(pool.compute_dtype) + floor
        weighted = fisher * pool.stacked  # promotes a half pool's rows to float32
        scratch = torch.empty(min(chunk_values(pool.device), pool.num_values), dtype=fisher.dtype,
                              device=fisher.device)
        return FisherState(pool, fisher, weighted, floor, scratch)

    def grouped_variables(self, k: int) -> frozenset[str]:
        return frozenset({"lambda"})

    def combine(self, state: FisherState, values: Values, out: torch.Tensor) -> torch.Tensor:
        lam, floor = self._coefficients(state, values)
        for part in chunks(state.pool.num_values, chunk_values(state.pool.device)):
            self._combine_chunk(state, lam, floor, out, part)
        return out

    def combine_groups(self, state: FisherState, values: Sequence[Values],
                       groups: ParameterGroups, out: torch.Tensor) -> torch.Tensor:
        """Each group's slices with its own λ, in one streamed pass."""
        for group_values, ranges in zip(values, groups.ranges, strict=True):
            lam, floor = self._coefficients(state, group_values)
            for run in ranges:
                for part in chunks_of(run, chunk_values(state.pool.device)):
                    self._combine_chunk(state, lam, floor, out, part)
        return out

    def _coefficients(self, state: FisherState, values: Values) -> tuple[list[float], float]:
        lam = simplex_weights(values["lambda"], state.pool.k, "Fisher λ").tolist()
        return lam, float(values["floor"]) if self.options.search_floor else 0.0

    @staticmethod
    def _combine_chunk(state: FisherState, lam: list[float], floor: float, out: torch.Tensor,
                       part: slice) -> None:
        # Numerator and denominator of one chunk are built in cache and divided there, so a
        # trial reads 2·K·P values and writes P once.
        numerator = accumulate(state.weighted[:, part], lam, out[part])
        denominator = accumulate(state.fisher[:, part], lam, state.scratch[: len(numerator)])
        if floor:
            # (Σ λ F θ + ε Σ λ θ) / (Σ λ F + ε), with Σ λ_i = 1.
            for row, weight in zip(state.pool.stacked[:, part], lam, strict=True):
                numerator.add_(row, alpha=floor * weight)
            denominator.add_(floor)
        numerator.div_(denominator)
