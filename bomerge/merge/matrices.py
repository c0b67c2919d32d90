"""What WUDI merging and TSV-M share: a merged task vector formed matrix by matrix, added
to the base with a scale α.

Both methods merge each weight matrix's task matrices τ_i ∈ R^{out×in} as a whole (their
papers' insight is about the row and column spaces of those matrices) and every other
tensor elementwise (WUDI sums the task vectors there, TSV-M averages them, as their
reference code does). The merged model is θ = θ_0 + α · τ_merged; α is the one number
left to search (one per parameter group at block granularity).

Which tensors are matrices (``matrices``): ``linear`` (default), the weights of the
model's ``nn.Linear`` layers, the layers the papers' analysis is about; ``all``, every
2-D tensor the base supplies, as the papers' code does (for BERT this adds the embedding
tables, whose 30,522-row word matrix makes each solve or SVD cost seconds more).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field

from bomerge.merge.base import MergeMethod, Options, PrepareContext, Scalar, Values, Variable
from bomerge.merge.groups import ParameterGroups
from bomerge.merge.statistics import linear_layers
from bomerge.merge.task_arithmetic import TaskVectorState
from bomerge.pool import Slot


class MatrixOptions(Options):
    scale: float = Field(1.0, ge=0, description="α of the fixed recipe (the papers': 1)")
    max_scale: float = Field(2.0, gt=0, description="upper end of α's search range")
    matrices: Literal["linear", "all"] = Field(
        "linear", description="linear: nn.Linear weights are merged as matrices; all: every "
        "2-D tensor the base supplies")


def matrix_slots(context: PrepareContext, vectors: TaskVectorState, scope: str) -> list[Slot]:
    """The pool's tensors merged as matrices: 2-D, wholly supplied by the base, and (scope
    ``linear``, with a model to read) the weight of an ``nn.Linear`` layer."""
    linear = None
    if scope == "linear" and context.model is not None:
        linear = {f"{name}.weight" for name in linear_layers(context.model)}
    found = []
    for slot in vectors.pool.slots:
        span = slice(slot.offset, slot.offset + slot.numel)
        if len(slot.shape) != 2 or not bool(vectors.known[span].all()):
            continue
        if linear is None or slot.name in linear:
            found.append(slot)
    return found


def task_matrices(vectors: TaskVectorState, slot: Slot) -> torch.Tensor:
    """``(K, out, in)`` task matrices τ_i of one slot in the pool's compute dtype."""
    span = slice(slot.offset, slot.offset + slot.numel)
    tau = vectors.pool.stacked[:, span] - vectors.base[span]
    return tau.view(vectors.pool.k, *slot.shape)


def elementwise_update(vectors: TaskVectorState, matrices: Sequence[Slot],
                       reduce: Literal["sum", "mean"]) -> torch.Tensor:
    """``(P,)`` the sum or mean of the task vectors on the entries the base supplies outside
    ``matrices`` (to be filled in), 0 where the base supplies nothing."""
    pool = vectors.pool
    update = torch.zeros(pool.num_values, dtype=pool.compute_dtype, device=pool.device)
    outside = vectors.known.clone()
    for slot in matrices:
        outside[slot.offset : slot.offset + slot.numel] = False
    tau = pool.stacked[:, outside] - vectors.base[outside]
    update[outside] = tau.sum(0) if reduce == "sum" else tau.mean(0)
    return update


@dataclass
class UpdateState:
    """The task vectors' state and what the method forms its ``(P,)`` update from."""

    vectors: TaskVectorState
    parts: Any


class ScaledUpdate(MergeMethod):
    """θ = θ_0 + α · update(values): the base where it is unknown (a new head's entries,
    which hold the candidates' mean), ``update`` formed by the subclass."""

    needs_base = True
    options: MatrixOptions

    def scale_variable(self) -> list[Variable]:
        return [Scalar("scale", 0.0, self.options.max_scale)]

    def variables(self, k: int) -> list[Variable]:
        return self.scale_variable()

    def defaults(self, k: int) -> dict[str, np.ndarray | float]:
        return {"scale": min(self.options.scale, self.options.max_scale)}

    def grouped_variables(self, k: int) -> frozenset[str]:
        return frozenset({"scale"})

    @abstractmethod
    def update(self, state: UpdateState, values: Values) -> torch.Tensor:
        """The merged task vector ``(P,)`` for ``values`` (0 where the base is unknown)."""

    def combine(self, state: UpdateState, values: Values, out: torch.Tensor) -> torch.Tensor:
        update = self.update(state, values)
        return torch.add(state.vectors.base, update, alpha=float(values["scale"]), out=out)

    def combine_groups(self, state: UpdateState, values: Sequence[Values],
                       groups: ParameterGroups, out: torch.Tensor) -> torch.Tensor:
        """The update formed once (its global variables from the first group), each
        group's slices scaled by that group's α."""
        update = self.update(state, values[0])
        base = state.vectors.base
        for group_values, ranges in zip(values, groups.ranges, strict=True):
            for run in ranges:
                torch.add(base[run], update[run], alpha=float(group_values["scale"]), out=out[run])
        return out
