"""DARE, drop and rescale of task vectors (Yu et al., ICML 2024, "Language Models are Super
Mario: Absorbing Abilities from Homologous Models as a Free Lunch"), before task
arithmetic (``dare_task_arithmetic``) or TIES (``dare_ties``).

With task vectors τ_i = θ_i − θ_0 (``(K, P)``), DARE keeps each entry with probability
1 − p and divides the survivors by 1 − p, so E[DARE(τ_i)] = τ_i:

    dare_task_arithmetic:  θ = θ_0 + Σ_i λ_i DARE(τ_i)              (one λ, or one per τ_i)
    dare_ties:             θ = θ_0 + λ · TIES(DARE(τ_1), …, DARE(τ_K))   (trim, elect, merge)

The drops are seeded (``seed``): prepare draws one uniform number u_ij per candidate and
entry (``(K, P)``, float16), and entry j of τ_i survives drop rate p when u_ij ≥ p. A trial
is therefore reproducible, every trial of a study sees the same random field (common random
numbers: the score moves smoothly with p instead of jumping with a fresh draw, which is
what a GP over p needs), and the survivors at rate p include those at any higher rate.
Entries the base does not supply (a new head) are merged as task arithmetic / TIES merge
them, undropped. The paper searches p over 0.1 … 0.9; its midpoint 0.5 is the default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from pydantic import Field

from bomerge.errors import BomergeError
from bomerge.merge.base import (
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
from bomerge.merge.task_arithmetic import TaskArithmetic, TaskArithmeticOptions, TaskVectorState
from bomerge.merge.ties import Ties, TiesOptions, ties_merge_vectors, top_fraction_thresholds
from bomerge.merge.weights import chunk_values

#: The highest searchable drop rate: at p → 1 the survivors are scaled by 1 / (1 − p) → ∞.
MAX_DROP_RATE = 0.95


class Drops(Options):
    drop_rate: float = Field(0.5, ge=0, lt=1, description="p, the fraction of each τ_i dropped")
    seed: int = Field(0, ge=0, description="seed of the drops (one random field per study)")


class DropOptions(TaskArithmeticOptions, Drops):
    """Task arithmetic's options and the drops'."""


class DareTiesOptions(TiesOptions, Drops):
    """TIES's options and the drops'."""


@dataclass
class DropState:
    """Task vectors' state and the drop field ``(K, P)`` float16 in [0, 1)."""

    vectors: TaskVectorState
    field: torch.Tensor


def drop_field(k: int, size: int, seed: int, device: torch.device) -> torch.Tensor:
    """``(k, size)`` uniform numbers in [0, 1), row i from its own generator seeded by
    (``seed``, i): the same on every device and for any chunking of the layout."""
    rows = []
    for i in range(k):
        generator = torch.Generator().manual_seed(
            int(np.random.SeedSequence([seed, i]).generate_state(1)[0]))
        rows.append(torch.rand(size, generator=generator).to(torch.float16))
    return torch.stack(rows).to(device)


def dropped(state: DropState, part: slice, rate: float, rows: slice = slice(None)) -> torch.Tensor:
    """``(K, n)`` DARE task vectors on ``part`` (the candidates ``rows`` only): τ_i where
    u_ij ≥ p, scaled by 1/(1 − p); entries the base does not supply keep their plain
    deviation (no drop)."""
    if not 0.0 <= rate < 1.0:
        raise BomergeError(f"DARE drop rate {rate} is not in [0, 1)")
    vectors = state.vectors
    tau = vectors.pool.stacked[rows, part] - vectors.base[part]  # float32 for a half pool
    keep = (state.field[rows, part] >= rate) | ~vectors.known[part]
    scale = torch.where(vectors.known[part], 1.0 / (1.0 - rate), 1.0).to(tau.dtype)
    return torch.where(keep, tau * scale, 0.0)


def prepare_drops(context: PrepareContext, method: str, seed: int) -> DropState:
    vectors = TaskVectorState.from_context(context, method)
    return DropState(vectors, drop_field(vectors.pool.k, vectors.pool.num_values, seed,
                                         vectors.pool.device))


@register
class DareTaskArithmetic(TaskArithmetic):
    """Task arithmetic's λ (one, or one per candidate) and the drop rate."""

    name = "dare_task_arithmetic"
    paper = "Yu et al. 2024, Language Models are Super Mario (DARE) + task arithmetic"
    year = 2024
    Options = DropOptions
    options: DropOptions

    def variables(self, k: int) -> list[Variable]:
        return [Scalar("drop_rate", 0.0, MAX_DROP_RATE), *super().variables(k)]

    def defaults(self, k: int) -> dict[str, np.ndarray | float]:
        return {"drop_rate": min(self.options.drop_rate, MAX_DROP_RATE), **super().defaults(k)}

    def prepare(self, context: PrepareContext) -> DropState:  # type: ignore[override]
        return prepare_drops(context, self.name, self.options.seed)

    def _write(self, state: DropState, values: Values, rate: float, out: torch.Tensor,
               part: slice) -> None:
        lam = torch.as_tensor(self.scales(values, state.vectors.pool.k)).to(out)
        out[part] = state.vectors.base[part] + lam @ dropped(state, part, rate)

    def combine(self, state: DropState, values: Values,  # type: ignore[override]
                out: torch.Tensor) -> torch.Tensor:
        rate = float(values["drop_rate"])
        for part in chunks(state.vectors.pool.num_values, chunk_values(out.device)):
            self._write(state, values, rate, out, part)
        return out

    def combine_groups(self, state: DropState, values: Sequence[Values],  # type: ignore[override]
                       groups: ParameterGroups, out: torch.Tensor) -> torch.Tensor:
        """Each group's slices with its own λ, the drop rate global, in one streamed pass."""
        rate = float(values[0]["drop_rate"])
        for group_values, ranges in zip(values, groups.ranges, strict=True):
            for run in ranges:
                for part in chunks_of(run, chunk_values(out.device)):
                    self._write(state, group_values, rate, out, part)
        return out


@register
class DareTies(Ties):
    """TIES's density and λ (λ per group; the density global) and the drop rate (global)."""

    name = "dare_ties"
    paper = "Yu et al. 2024, Language Models are Super Mario (DARE) + TIES-Merging"
    year = 2024
    Options = DareTiesOptions
    options: DareTiesOptions

    def variables(self, k: int) -> list[Variable]:
        return [Scalar("drop_rate", 0.0, MAX_DROP_RATE), *super().variables(k)]

    def defaults(self, k: int) -> dict[str, np.ndarray | float]:
        return {"drop_rate": min(self.options.drop_rate, MAX_DROP_RATE), **super().defaults(k)}

    def prepare(self, context: PrepareContext) -> DropState:  # type: ignore[override]
        return prepare_drops(context, self.name, self.options.seed)

    def combine(self, state: DropState, values: Values,  # type: ignore[override]
                out: torch.Tensor) -> torch.Tensor:
        return self.combine_groups(state, [values], _whole(out), out)

    def combine_groups(self, state: DropState, values: Sequence[Values],  # type: ignore[override]
                       groups: ParameterGroups, out: torch.Tensor) -> torch.Tensor:
        """One trim over the whole model (global drop rate and density), then each group's
        slices scaled by its own λ."""
        rate, density = float(values[0]["drop_rate"]), float(values[0]["density"])
        if not 0 < density <= 1:
            raise BomergeError(f"TIES density {density} is not in (0, 1]")
        thresholds = self._drop_thresholds(state, rate, density, out.device)
        vectors = state.vectors
        for group_values, ranges in zip(values, groups.ranges, strict=True):
            lam = float(group_values["lambda"])
            for run in ranges:
                for part in chunks_of(run, chunk_values(out.device)):
                    merged = ties_merge_vectors(dropped(state, part, rate), thresholds)
                    average = vectors.pool.stacked[:, part].mean(0, dtype=out.dtype)
                    out[part] = torch.where(vectors.known[part], vectors.base[part] + lam * merged,
                                            average)
        return out

    @staticmethod
    def _drop_thresholds(state: DropState, rate: float, density: float,
                    device: torch.device) -> torch.Tensor:
        """``(K,)`` magnitude thresholds keeping each DARE vector's top ``density`` of the
        entries the base supplies."""
        vectors = state.vectors
        known = vectors.known
        thresholds = []
        for i in range(vectors.pool.k):
            magnitudes = torch.cat([
                dropped(state, part, rate, slice(i, i + 1))[0].abs()[known[part]]
                for part in chunks(vectors.pool.num_values, chunk_values(device))
            ])
            thresholds.append(top_fraction_thresholds(magnitudes[None], density)[0])
        return torch.stack(thresholds)


def _whole(out: torch.Tensor) -> ParameterGroups:
    """The whole layout as one group (model-level combine through the grouped path)."""
    return ParameterGroups(("model",), ((slice(0, out.shape[0]),),), {})
